# SPDX-License-Identifier: GPL-3.0-or-later
"""Launch to mascot shown, and resident memory, as a child process.

Run: ``.venv/bin/python benchmarks/startup.py [--runs 5] [--platform offscreen|xcb]``
(``xcb``: on a private Xvfb, as on a desktop)

Time from ``Popen`` to the "[app] mascot shown" log line (the window is shown; the voice then
loads in the speech thread), and resident memory once the voice is loaded. Baseline, in the same
run: a bare QApplication showing an empty window (launch to its first line after show()).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contextlib import ExitStack

from _figure import figure
from _mascot_proc import mascot_env, rss_mb, start_mascot, stop, wait_for_line

from tests.support.xvfb import Xvfb

BARE = (
    "import sys; from PySide6.QtWidgets import QApplication, QWidget;"
    "a=QApplication([]); w=QWidget(); w.show(); print('shown', flush=True); a.exec()"
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--platform", default="offscreen")
    args = parser.parse_args()
    with ExitStack() as stack:
        display = stack.enter_context(Xvfb()) if args.platform == "xcb" else ""
        return measure(args.runs, args.platform, display)


def measure(runs: int, platform: str, display: str) -> int:
    shown, rss_shown, rss_voice, bare_shown, bare_rss = [], [], [], [], []
    for _ in range(runs):
        env, cfg = mascot_env(platform)
        if display:
            env["DISPLAY"] = display
        log = cfg / "mascot.log"
        proc, t0 = start_mascot(env, log)
        try:
            shown.append(wait_for_line(log, "[app] mascot shown") - t0)
            rss_shown.append(rss_mb(proc.pid))
            wait_for_line(log, "[app] speech engine:")
            time.sleep(0.5)
            rss_voice.append(rss_mb(proc.pid))
        finally:
            stop(proc)
        t0 = time.monotonic()
        bare = subprocess.Popen([sys.executable, "-c", BARE], env=env, stdout=subprocess.PIPE)
        try:
            assert bare.stdout is not None
            bare.stdout.readline()
            bare_shown.append(time.monotonic() - t0)
            bare_rss.append(rss_mb(bare.pid))
        finally:
            stop(bare)  # type: ignore[arg-type]
    med = statistics.median
    print(
        f"startup ({platform}, median of {runs}): launch to mascot shown "
        f"{1000 * med(shown):.0f} ms (RSS {med(rss_shown):.0f} MB; {med(rss_voice):.0f} MB with "
        f"the voice loaded); baseline bare Qt window {1000 * med(bare_shown):.0f} ms, "
        f"RSS {med(bare_rss):.0f} MB"
    )
    figure(
        "startup_shown",
        1000 * med(shown),
        "ms",
        what="launch to mascot shown",
        baseline=1000 * med(bare_shown),
        baseline_what="bare Qt window shown",
    )
    figure(
        "startup_rss_voice",
        med(rss_voice),
        "MB",
        what="resident memory, voice loaded",
        baseline=med(bare_rss),
        baseline_what="bare Qt window",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
