# SPDX-License-Identifier: GPL-3.0-or-later
"""Time to first sound for a three-sentence reply on the embedded voice.

Run: ``. scripts/pulse.sh && .venv/bin/python benchmarks/speak_latency.py [--runs 7]``

Measured in one run, on a loaded (warm) Piper voice and a real output stream (the
PulseAudio null sink of scripts/pulse.sh; without one, the silent clock):

- figure: ``speak`` → the first sample handed to the device, the way ``companion speak``
  does it (pieces synthesised in a thread, the first cut at its first comma, each handed to
  the player as soon as it is ready);
- baseline: synthesise the whole reply first, then hand it to the player.

Prints the medians and their ratio (lower is better).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figure import figure

from companion.audio.player import Player
from companion.commands.speak import SAMPLE_RATE, speak
from companion.speech.pipeline import SpeechPipeline
from companion.speech.piper_engine import PiperEngine
from companion.speech.types import CancelToken

REPLY = (
    "Good morning, it is lovely to see you again today. "
    "The forecast says sunshine until the evening, with a light breeze from the west. "
    "Let me know whenever you would like me to read something else aloud."
)


class FirstSample:
    """Polls the player (every 0.2 ms) for the first frame the device took."""

    def __init__(self, player: Player) -> None:
        self._player = player
        self._stop = threading.Event()
        self.at: float | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._player.frames_played > 0 and self._player.playing:
                self.at = time.monotonic()
                return
            time.sleep(0.0002)

    def __enter__(self) -> FirstSample:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def streamed(engine: PiperEngine, player: Player) -> float:
    started = time.monotonic()
    handed: list[float] = []
    with FirstSample(player) as probe:
        reply = speak(
            engine=engine,
            text=REPLY,
            voice=None,
            speed=1.0,
            cancel=CancelToken(),
            player=player,
            on_first_piece=lambda: handed.append(time.monotonic()),
        )
    assert reply.pieces >= 3
    return ((probe.at or handed[0]) - started) * 1000.0


def whole_first(engine: PiperEngine, player: Player) -> float:
    started = time.monotonic()
    pipeline = SpeechPipeline(engine=engine, sample_rate=SAMPLE_RATE)
    pieces = list(pipeline.utterances(1, REPLY, voice=None, speed=1.0, cancel=CancelToken()))
    audio = np.concatenate([u.samples for u in pieces])
    with FirstSample(player) as probe:
        handed = time.monotonic()
        player.begin()
        player.enqueue(audio)
        player.end()
        player.wait_finished(60.0)
    return ((probe.at or handed) - started) * 1000.0


def median_of(fn: Callable[[], float], runs: int) -> tuple[float, list[float]]:
    values = [fn() for _ in range(runs)]
    return statistics.median(values), values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as cache:
        engine = PiperEngine(sample_rate=SAMPLE_RATE, cache_dir=Path(cache))
        engine.load()
        player = Player(sample_rate=SAMPLE_RATE, latency="low")
        try:
            if player.silent:
                print(f"note: {player.notice} (times are to the silent clock's first frame)")
            # Warm-up: first onnxruntime runs and the first stream open are slower.
            streamed(engine, player)
            whole_first(engine, player)
            stream_ms, stream_all = median_of(lambda: streamed(engine, player), args.runs)
            whole_ms, whole_all = median_of(lambda: whole_first(engine, player), args.runs)
        finally:
            player.close()

    print(f"reply: 3 sentences, {len(REPLY)} characters; {args.runs} runs each (medians)")
    print(
        f"speak -> first sample at the device: {stream_ms:7.1f} ms  "
        f"(runs: {', '.join(f'{v:.0f}' for v in stream_all)})"
    )
    print(
        f"baseline, whole reply synthesised first: {whole_ms:7.1f} ms  "
        f"(runs: {', '.join(f'{v:.0f}' for v in whole_all)})"
    )
    print(f"ratio streamed / whole-first: {stream_ms / whole_ms:.2f}")
    figure(
        "speak_first_sample",
        stream_ms,
        "ms",
        what="speak: 3 sentences to first sample",
        baseline=whole_ms,
        baseline_what="whole reply synthesised first",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
