# SPDX-License-Identifier: GPL-3.0-or-later
"""Launch to mascot shown, and resident memory, as a child process: from source and frozen.

Run: ``.venv/bin/python benchmarks/startup.py [--runs 5] [--platform offscreen|xcb]
[--frozen dist/companion/companion] [--base REV]``
(``xcb``: on a private Xvfb, as on a desktop)

Time from ``Popen`` to the "[app] mascot shown" log line (the window is shown; the voice then
loads in the speech thread), and resident memory once the voice is loaded. Rows, asked in turn
within each round so that every row meets the same load:

- ``source``: ``python -m companion`` from this tree (the figure ``startup_shown``);
- ``frozen`` (with ``--frozen``): the built bundle's executable, started the same way
  (``startup_shown_frozen``);
- ``before`` (with ``--base``): ``python -m companion`` from the tree at ``REV``
  (``git archive``), e.g. the program before an issue's changes.

Baseline, in the same run: a bare QApplication showing an empty window (launch to its first
line after show()).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figure import figure
from _mascot_proc import REPO, base_tree, mascot_env, rss_mb, start_mascot, stop, wait_for_line

from tests.support.xvfb import Xvfb

BARE = (
    "import sys; from PySide6.QtWidgets import QApplication, QWidget;"
    "a=QApplication([]); w=QWidget(); w.show(); print('shown', flush=True); a.exec()"
)


@dataclass
class Row:
    """One program started: its command, the folder it starts in, and what it gave."""

    label: str
    command: list[str]
    cwd: Path
    shown: list[float] = field(default_factory=list)
    rss_shown: list[float] = field(default_factory=list)
    rss_voice: list[float] = field(default_factory=list)
    config: Path | None = None  # its settings folder, kept from start to start (voice cache)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--platform", default="offscreen")
    parser.add_argument("--frozen", type=Path, help="the bundle's executable, timed the same way")
    parser.add_argument("--base", default="", help="also time the tree at this revision")
    args = parser.parse_args()
    rows = [Row("source", [sys.executable, "-m", "companion"], REPO)]
    if args.frozen is not None:
        if not args.frozen.is_file():
            print(f"no executable at {args.frozen} (build it: packaging/build.py)", file=sys.stderr)
            return 1
        rows.append(Row("frozen", [str(args.frozen.resolve())], args.frozen.resolve().parent))
    with ExitStack() as stack:
        if args.base:
            tree = base_tree(args.base, stack)
            if tree is not None:
                rows.append(Row(f"before ({args.base[:10]})", rows[0].command, tree))
        display = stack.enter_context(Xvfb()) if args.platform == "xcb" else ""
        return measure(rows, args.runs, args.platform, display)


def one_start(row: Row, platform: str, display: str, *, counted: bool = True) -> dict[str, str]:
    env, cfg = mascot_env(platform)
    if row.config is None:
        row.config = cfg
    else:  # the same folder as the first start: the voice prepared there is reused
        env["COMPANION_CONFIG_DIR"] = str(row.config)
        cfg = row.config
    if display:
        env["DISPLAY"] = display
    log = cfg / "mascot.log"
    proc, t0 = start_mascot(env, log, command=row.command, cwd=row.cwd)
    try:
        shown = wait_for_line(log, "[app] mascot shown", timeout=120) - t0
        rss_shown = rss_mb(proc.pid)
        wait_for_line(log, "[app] speech engine:", timeout=300)
        time.sleep(0.5)
        rss_voice = rss_mb(proc.pid)
    finally:
        stop(proc)
    if counted:
        row.shown.append(shown)
        row.rss_shown.append(rss_shown)
        row.rss_voice.append(rss_voice)
    return env


def measure(rows: list[Row], runs: int, platform: str, display: str) -> int:
    bare_shown, bare_rss = [], []
    for row in rows:  # a first start of each, not counted: prepares the voice in its cache
        one_start(row, platform, display, counted=False)
    for _ in range(runs):
        for row in rows:
            env = one_start(row, platform, display)
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
    print(f"startup ({platform}, median of {runs}; the runs in ms):")
    for row in rows:
        print(
            f"  {row.label:22s} launch to mascot shown {1000 * med(row.shown):5.0f} ms "
            f"({', '.join(f'{1000 * v:.0f}' for v in row.shown)}); RSS {med(row.rss_shown):.0f} "
            f"MB shown, {med(row.rss_voice):.0f} MB with the voice loaded"
        )
    print(
        f"  {'bare Qt window':22s} shown {1000 * med(bare_shown):5.0f} ms "
        f"({', '.join(f'{1000 * v:.0f}' for v in bare_shown)}); RSS {med(bare_rss):.0f} MB"
    )
    for row in rows:
        if row.label.startswith("before"):
            continue
        suffix = "" if row.label == "source" else "_frozen"
        figure(
            f"startup_shown{suffix}",
            1000 * med(row.shown),
            "ms",
            what=f"launch to mascot shown ({row.label})",
            baseline=1000 * med(bare_shown),
            baseline_what="bare Qt window shown",
            goal="< 500 ms (must < 1 s)",
        )
        figure(
            f"startup_rss_voice{suffix}",
            med(row.rss_voice),
            "MB",
            what=f"resident memory, voice loaded ({row.label})",
            baseline=med(bare_rss),
            baseline_what="bare Qt window",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
