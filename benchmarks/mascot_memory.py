# SPDX-License-Identifier: GPL-3.0-or-later
"""Resident memory of the running mascot after it has spoken, before and after each change.

Run: ``.venv/bin/python benchmarks/mascot_memory.py [--runs 3] [--base REV] [--platform xcb]
[--frozen dist/companion/companion] [--no-variants]``

The mascot runs as a process (``python -m companion``, on a private Xvfb and a private
PulseAudio null sink, the embedded Piper voice), is started once to prepare its voice cache
(not counted), then ``--runs`` times: window shown, voice loaded, then ``companion say`` a short
and a long reply, each waited out at the sink; VmRSS is read one second after the last sound.

Rows, all in the same run (medians):

- ``before``: the tree at ``--base`` (default: where this branch left ``main``), unpacked with
  ``git archive`` and run the same way;
- ``now``: this tree, default settings (int8 voice);
- ``now, fp32 voice``: Settings → Built-in voice model: Original (fp32);
- ``now, without <change>``: this tree with one change undone (``benchmarks/_variant.py``):
  the memory arena back on, no heap trimming, sentry-sdk/keyring/requests imported at start;
- ``frozen`` (with ``--frozen``): the built bundle's executable, its own ``say`` included.

``--no-variants`` leaves out the fp32 and ``without`` rows.

The difference between ``now`` and each ``without`` row is what that change saves.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figure import figure
from _mascot_proc import REPO, base_tree, default_base, rss_mb, stop, wait_for_line

from tests.support.private_pulse import MonitorRecorder, PrivatePulse
from tests.support.xvfb import Xvfb

SHORT = "Hello there, your build has finished and every test passed."
LONG = (
    "Let me know whenever you would like me to read something else aloud, because I am always "
    "here for you, whether it is the morning news, a recipe for dinner, or a long article you "
    "saved for later in the week."
)
GOAL = "<= 200 MB (must <= 230)"


@dataclass
class Row:
    label: str
    tree: Path
    settings: dict[str, object] = field(default_factory=dict)
    undo: str = ""
    program: list[str] = field(default_factory=list)  # an executable instead of the tree
    shown_s: list[float] = field(default_factory=list)
    rss_ready: list[float] = field(default_factory=list)
    rss_spoken: list[float] = field(default_factory=list)


def command(row: Row, *args: str) -> list[str]:
    if row.program:
        return [*row.program, *args]
    if row.undo:
        return [sys.executable, str(REPO / "benchmarks" / "_variant.py"), *args]
    return [sys.executable, "-m", "companion", *args]


def one_run(row: Row, env: dict[str, str], recorder: MonitorRecorder, *, counted: bool) -> None:
    env = dict(env, COMPANION_UNDO=row.undo)
    config = Path(env["COMPANION_CONFIG_DIR"])
    (config / "settings.json").write_text(json.dumps({"greeted": True, **row.settings}))
    log = config / "mascot.log"
    started = time.monotonic()
    with log.open("wb") as err:
        proc = subprocess.Popen(
            command(row), env=env, cwd=row.tree, stdout=subprocess.DEVNULL, stderr=err
        )
    try:
        shown = wait_for_line(log, "[app] mascot shown", timeout=120) - started
        wait_for_line(log, "[app] speech engine:", timeout=300)
        time.sleep(2.0)  # the voice warms up after it is loaded
        ready = rss_mb(proc.pid)
        for text in (SHORT, LONG):
            recorder.wait_silence(0.3)
            asked = time.monotonic()
            subprocess.run(command(row, "say", text), env=env, cwd=row.tree, check=True)
            recorder.wait_for_sound(asked, timeout=60, quiet_s=1.0)
        time.sleep(1.0)
        spoken = rss_mb(proc.pid)
    finally:
        stop(proc)
    if counted:
        row.shown_s.append(shown)
        row.rss_ready.append(ready)
        row.rss_spoken.append(spoken)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--base", default=None, help="revision for the 'before' row")
    parser.add_argument("--platform", default="xcb", choices=("xcb", "offscreen"))
    parser.add_argument("--frozen", type=Path, help="also the bundle's executable")
    parser.add_argument("--no-variants", action="store_true", help="no fp32/without rows")
    args = parser.parse_args()
    med = statistics.median
    with ExitStack() as stack:
        pulse = stack.enter_context(PrivatePulse())
        recorder = MonitorRecorder(pulse).start()
        stack.callback(recorder.stop)
        env = {k: v for k, v in pulse.env.items() if not k.startswith(("COMPANION_", "QT_"))}
        env["QT_QPA_PLATFORM"] = args.platform
        env["COMPANION_LOG_LEVEL"] = "info"  # the lines it waits for
        if args.platform == "xcb":
            env["DISPLAY"] = stack.enter_context(Xvfb())
        rows = [
            Row("now", REPO, {"engine": "piper"}),
            Row("now, fp32 voice", REPO, {"engine": "piper", "voice_precision": "fp32"}),
            Row("now, without: no memory arena", REPO, {"engine": "piper"}, "arena"),
            Row("now, without: heap trimmed after each piece", REPO, {"engine": "piper"}, "trim"),
            Row("now, without: lazy imports", REPO, {"engine": "piper"}, "imports"),
        ]
        if args.no_variants:
            rows = rows[:1]
        if args.frozen is not None:
            exe = args.frozen.resolve()
            rows.append(Row("now, frozen", exe.parent, {"engine": "piper"}, program=[str(exe)]))
        base = args.base if args.base is not None else default_base()
        tree = base_tree(base, stack) if base else None
        if tree is not None:
            rows.insert(0, Row(f"before ({base[:10]})", tree, {"engine": "piper"}))
        for row in rows:
            config = Path(tempfile.mkdtemp(prefix="companion-mem-"))
            stack.callback(shutil.rmtree, config, True)
            row_env = dict(env, COMPANION_CONFIG_DIR=str(config))
            one_run(row, row_env, recorder, counted=False)  # prepares the voice cache
            for _ in range(args.runs):
                one_run(row, row_env, recorder, counted=True)
            print(
                f"{row.label:46s} shown {med(row.shown_s):5.2f} s  RSS ready "
                f"{med(row.rss_ready):5.0f} MB  after speaking {med(row.rss_spoken):5.0f} MB "
                f"(runs: {', '.join(f'{v:.0f}' for v in row.rss_spoken)})",
                flush=True,
            )
    now = next(r for r in rows if r.label == "now")
    before = rows[0] if rows[0].label.startswith("before") else None
    figure(
        "mascot_rss_spoken",
        med(now.rss_spoken),
        "MB",
        what="mascot RSS after speaking (Piper loaded)",
        baseline=med(before.rss_spoken) if before else None,
        baseline_what="before this issue's changes" if before else "",
        goal=GOAL,
    )
    for row in rows:
        if row.program:
            figure(
                "mascot_rss_spoken_frozen",
                med(row.rss_spoken),
                "MB",
                what="mascot RSS after speaking (Piper loaded), frozen bundle",
                baseline=med(now.rss_spoken),
                baseline_what="from source",
                goal=GOAL,
            )
        if row.undo or row.settings.get("voice_precision"):
            name = "mascot_rss_" + (row.undo or "fp32")
            figure(name, med(row.rss_spoken), "MB", what=f"mascot RSS after speaking, {row.label}",
                   baseline=med(now.rss_spoken), baseline_what="now")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
