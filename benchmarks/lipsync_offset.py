# SPDX-License-Identifier: GPL-3.0-or-later
"""Mouth versus clock: how late the drawn mouth takes each shape. Goal: under one frame.

Run: ``.venv/bin/python benchmarks/lipsync_offset.py [--engine espeak|piper]
[--character examples/characters/miso]``

The real app speaks a reply (offscreen; the default output or the silent clock). For every cue
of the reply's timeline that starts a new mouth shape, the offset is the player's clock (plus
the view's lead) when the mouth first showed that shape, minus the cue's start: 0 means the
mouth changed exactly when the timeline says (lips lead the sound by LEAD_MS by design).
Baseline, in the same run: the same moments judged by a wall-clock timer started at the
moment the first piece is handed to the player (a mouth driven by its own timer, not by the
sound card: it runs ahead by the output latency and drifts with every underrun or pause).
With ``--character`` the same reply is spoken again by a mascot drawing that pack (dropped in
a fresh user folder), and its median is reported against the built-in character's.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import shutil
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
from companion.characters.manifest import parse_manifest

TEXT = (
    "Hello! I am your companion. Every word you hear moves my mouth, open vowels wide, "
    "round ones round, and my lips close for every p, b and m. Shall we begin?"
)


def speak_once(engine: str, character: Path | None) -> tuple[list[float], list[float], str]:
    """(mouth vs clock offsets, mouth vs wall-clock offsets, output) of one spoken reply."""
    cfg = Path(tempfile.mkdtemp(prefix="companion-bench-"))
    os.environ["COMPANION_CONFIG_DIR"] = str(cfg)
    settings: dict[str, object] = {"greeted": True, "engine": engine}
    if character is not None:
        shutil.copytree(character, cfg / "data" / "characters" / character.name)
        settings["character"] = parse_manifest((character / "character.toml").read_bytes()).id
    (cfg / "settings.json").write_text(json.dumps(settings))
    qapp = ensure_qapp()
    app = Companion(
        qapp=qapp,
        options=AppOptions(
            ipc=False, greet=False, save=False, signals=False, telemetry=False, embedded_voice=True
        ),
    )
    if character is not None and app.window.view.art.character.id != settings["character"]:
        raise SystemExit(f"{character} could not be shown: {' '.join(app.notices)}")
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
    output = "silent clock" if player.silent else "default output"
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
    return clock_off, wall_off, output


def stats(xs: list[float]) -> str:
    a = sorted(abs(x) for x in xs)
    return (
        f"median {statistics.median(a):.1f} ms, p95 {a[int(0.95 * (len(a) - 1))]:.1f} ms, "
        f"max {a[-1]:.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="espeak", choices=["piper", "espeak"])
    parser.add_argument("--character", type=Path, help="a character pack folder to measure too")
    args = parser.parse_args()
    clock_off, wall_off, output = speak_once(args.engine, None)
    frame = 1000 / 60
    print(
        f"lip-sync offset ({args.engine}, {output}, {len(clock_off)} shape changes): mouth vs "
        f"player clock {stats(clock_off)} (goal < one frame, {frame:.1f} ms); baseline mouth vs "
        f"wall-clock timer {stats(wall_off)}"
    )
    builtin = statistics.median(abs(x) for x in clock_off)
    figure(
        "lipsync_offset",
        builtin,
        "ms",
        what=f"mouth vs player clock, median ({args.engine})",
        baseline=statistics.median(abs(x) for x in wall_off),
        baseline_what="mouth vs wall-clock timer",
        goal="< 16.7 ms",
    )
    if args.character is None:
        return 0
    pack_off, _wall, output = speak_once(args.engine, args.character.resolve())
    print(
        f"lip-sync offset with the pack {args.character.name} ({args.engine}, {output}, "
        f"{len(pack_off)} shape changes): mouth vs player clock {stats(pack_off)}; "
        f"the built-in character in the same run: {stats(clock_off)}"
    )
    figure(
        "lipsync_offset_character",
        statistics.median(abs(x) for x in pack_off),
        "ms",
        what=f"mouth vs player clock, median, {args.character.name} ({args.engine})",
        baseline=builtin,
        baseline_what="the built-in character, same run",
        goal="< 16.7 ms",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
