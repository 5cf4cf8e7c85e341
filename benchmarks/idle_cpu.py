# SPDX-License-Identifier: GPL-3.0-or-later
"""CPU of the idle mascot over 30 s, as a child process. Goal: under 0.5 % of one core.

Run: ``.venv/bin/python benchmarks/idle_cpu.py [--seconds 30] [--platform offscreen|xcb]``

The mascot starts with its defaults (the embedded voice warmed up in the speech thread, the
player idle, blinking on), settles for a few seconds, then its CPU time (all threads, from
/proc) is read over the window. Baseline, in the same run: a bare QApplication showing an empty
frameless window (Qt's own floor on this platform).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _figure import figure
from _mascot_proc import cpu_seconds, mascot_env, start_mascot, stop, wait_for_line

BARE = (
    "from PySide6.QtWidgets import QApplication, QWidget;"
    "from PySide6.QtCore import Qt;"
    "a=QApplication([]); w=QWidget(); w.setWindowFlags(Qt.WindowType.FramelessWindowHint);"
    "w.resize(200,200); w.show(); a.exec()"
)


def measure(pid: int, seconds: float) -> float:
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--platform", default="offscreen")
    args = parser.parse_args()

    env, cfg = mascot_env(args.platform)
    log = cfg / "mascot.log"
    proc, _ = start_mascot(env, log)
    try:
        wait_for_line(log, "[app] speech engine:")
        time.sleep(args.settle)
        mascot = measure(proc.pid, args.seconds)
    finally:
        stop(proc)
    bare_proc = subprocess.Popen([sys.executable, "-c", BARE], env=env)
    try:
        time.sleep(args.settle)
        bare = measure(bare_proc.pid, args.seconds)
    finally:
        stop(bare_proc)  # type: ignore[arg-type]
    print(
        f"idle CPU over {args.seconds:.0f} s ({args.platform}): mascot {mascot:.3f} % of a core "
        f"(goal < 0.5 %); baseline bare Qt window {bare:.3f} %"
    )
    figure(
        "idle_cpu",
        mascot,
        "% of a core",
        what=f"idle mascot over {args.seconds:.0f} s",
        baseline=bare,
        baseline_what="bare Qt window",
        goal="< 0.5 %",
    )
    return 0 if mascot < 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
