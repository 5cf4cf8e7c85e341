# SPDX-License-Identifier: GPL-3.0-or-later
"""CPU of the idle mascot over 30 s, as a child process. Goal: under 0.5 % of one core.

Run: ``.venv/bin/python benchmarks/idle_cpu.py [--seconds 30] [--platform offscreen|xcb]
[--character examples/characters/miso [--rounds 3]]``

The mascot starts with its defaults (the embedded voice warmed up in the speech thread, the
player idle, blinking on), settles for a few seconds, then its CPU time (all threads, from
/proc) is read over the window. Baseline, in the same run: a bare QApplication showing an empty
frameless window (Qt's own floor on this platform).

With ``--character`` a third-party pack (dropped in the user folder of a fresh config) is
measured too, alternating with the built-in character for ``--rounds`` rounds; the second
figure is the pack's median, its baseline the built-in's median of the same rounds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


def pack_id(pack: Path) -> str:
    """The id in the pack's manifest (its name made an id when it gives none)."""
    from companion.characters.manifest import parse_manifest

    return parse_manifest((pack / "character.toml").read_bytes()).id


def idle_mascot(args: argparse.Namespace, character: Path | None = None) -> float:
    """% of a core of one idle mascot (with ``character`` dropped in its user folder)."""
    settings = {"character": pack_id(character)} if character is not None else {}
    env, cfg = mascot_env(args.platform, **settings)
    if character is not None:
        shutil.copytree(character, cfg / "data" / "characters" / character.name)
    log = cfg / "mascot.log"
    proc, _ = start_mascot(env, log)
    try:
        wait_for_line(log, "[app] speech engine:")
        if character is not None and "Your character could not be shown" in log.read_text():
            raise SystemExit(f"{character} could not be shown (see {log})")
        time.sleep(args.settle)
        return measure(proc.pid, args.seconds)
    finally:
        stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--platform", default="offscreen")
    parser.add_argument("--character", type=Path, help="a character pack folder to measure too")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    builtin_runs: list[float] = []
    pack_runs: list[float] = []
    for _ in range(max(1, args.rounds) if args.character else 1):
        builtin_runs.append(idle_mascot(args))
        if args.character:
            pack_runs.append(idle_mascot(args, args.character.resolve()))
    mascot = statistics.median(builtin_runs)
    env, _cfg = mascot_env(args.platform)
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
    if args.character:
        pack = statistics.median(pack_runs)
        print(
            f"idle CPU with the pack {args.character.name} ({len(pack_runs)} rounds, medians): "
            f"{pack:.3f} % of a core; the built-in character {mascot:.3f} % "
            f"(runs: pack {', '.join(f'{x:.3f}' for x in pack_runs)}; "
            f"built-in {', '.join(f'{x:.3f}' for x in builtin_runs)})"
        )
        figure(
            "idle_cpu_character",
            pack,
            "% of a core",
            what=f"idle mascot drawing {args.character.name} over {args.seconds:.0f} s",
            baseline=mascot,
            baseline_what="the built-in character, same rounds",
            goal="< 0.5 %",
        )
        return 0 if mascot < 0.5 and pack < 0.5 else 1
    return 0 if mascot < 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
