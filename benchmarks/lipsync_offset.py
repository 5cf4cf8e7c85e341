# SPDX-License-Identifier: GPL-3.0-or-later
"""Mouth versus clock: how late the drawn mouth takes each shape. Goal: under one frame.

Run: ``.venv/bin/python benchmarks/lipsync_offset.py [--engine espeak|piper]``

The real app speaks a reply (offscreen; the default output or the silent clock). For every cue
of the reply's timeline that starts a new mouth shape, the offset is the player's clock (plus
the view's lead) when the mouth first showed that shape, minus the cue's start: 0 means the
mouth changed exactly when the timeline says (lips lead the sound by LEAD_MS by design).
Baseline, in the same run: the same moments judged by a wall-clock timer started at the
moment the first piece is handed to the player (a mouth driven by its own timer, not by the
sound card: it runs ahead by the output latency and drifts with every underrun or pause).
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["COMPANION_CONFIG_DIR"] = tempfile.mkdtemp(prefix="companion-bench-")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figure import figure

from companion.app import AppOptions, Companion, ensure_qapp

TEXT = (
    "Hello! I am your companion. Every word you hear moves my mouth, open vowels wide, "
    "round ones round, and my lips close for every p, b and m. Shall we begin?"
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="espeak", choices=["piper", "espeak"])
    args = parser.parse_args()
    cfg = Path(os.environ["COMPANION_CONFIG_DIR"])
    (cfg / "settings.json").write_text(json.dumps({"greeted": True, "engine": args.engine}))
    qapp = ensure_qapp()
    app = Companion(
        qapp=qapp,
        options=AppOptions(
            ipc=False, greet=False, save=False, signals=False, telemetry=False, embedded_voice=True
        ),
    )
    app.start()
    view, player = app.window.view, app.player
    changes: list[tuple[float, float, str]] = []  # (clock ms, wall ms since first sample, shape)
    first_wall: list[float] = []
    last_shape = ["sil"]

    def on_mouth(shape: str, openness: float) -> None:
        pos = player.position_ms()
        now = time.monotonic() * 1000
        if shape != last_shape[0] and shape != "sil" and first_wall:
            changes.append((pos, now - first_wall[0], shape))
        last_shape[0] = shape

    view.mouth_changed.connect(on_mouth)
    # The naive timer starts when the first piece is handed to the player.
    app.router.reply_started.connect(lambda _i: first_wall.append(time.monotonic() * 1000))
    app.router.reply_finished.connect(lambda _i: qapp.exit(0))
    app.router.say(TEXT, force=True)
    qapp.exec()
    reply = app.router.last_reply
    app.shutdown()
    assert reply is not None and reply.timeline is not None
    cues = [c for c in reply.timeline.cues if c.viseme != "sil"]
    starts = [c.start_ms for c in cues]
    lead = view.LEAD_MS
    clock_off, wall_off = [], []
    for pos, wall, shape in changes:
        i = bisect.bisect_right(starts, pos + lead + 1.0) - 1
        if i < 0 or cues[i].viseme != shape:
            continue
        clock_off.append(pos + lead - cues[i].start_ms)
        wall_off.append(wall + lead - cues[i].start_ms)
    frame = 1000 / 60

    def stats(xs: list[float]) -> str:
        a = sorted(abs(x) for x in xs)
        return (
            f"median {statistics.median(a):.1f} ms, p95 {a[int(0.95 * (len(a) - 1))]:.1f} ms, "
            f"max {a[-1]:.1f} ms"
        )

    output = "silent clock" if player.silent else "default output"
    print(
        f"lip-sync offset ({args.engine}, {output}, {len(clock_off)} shape changes): mouth vs "
        f"player clock {stats(clock_off)} (goal < one frame, {frame:.1f} ms); baseline mouth vs "
        f"wall-clock timer {stats(wall_off)}"
    )
    figure(
        "lipsync_offset",
        statistics.median(abs(x) for x in clock_off),
        "ms",
        what=f"mouth vs player clock, median ({args.engine})",
        baseline=statistics.median(abs(x) for x in wall_off),
        baseline_what="mouth vs wall-clock timer",
        goal="< 16.7 ms",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
