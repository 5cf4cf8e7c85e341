# SPDX-License-Identifier: GPL-3.0-or-later
"""Real-time factor of each embedded engine (synthesis time / audio duration; < 1 is faster).

Run: ``.venv/bin/python benchmarks/engine_rtf.py [--runs 5]``

Engines, each warmed up once, then timed on the same paragraph in interleaved rounds
(median of ``--runs``):

- Piper with the alignment-patched model (what Companion uses), and, as the baseline for the
  cost of the alignment output, Piper on the plain model;
- espeak-ng.

The baseline every figure is judged against is real time (1.0): at RTF r, a piece of d
seconds is ready after r·d seconds, so below 1 the next piece is ready before the current
one has been heard.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figure import figure

from companion.speech.espeak_engine import EspeakEngine
from companion.speech.piper_engine import PiperEngine, source_model
from companion.speech.types import CancelToken, SpeechEngine

RATE = 22050
PARAGRAPH = (
    "Good morning, it is lovely to see you again today. "
    "The forecast says sunshine until the evening, with a light breeze from the west. "
    "Doctor Smith called at nine thirty about the appointment on Friday. "
    "Let me know whenever you would like me to read something else aloud."
)


def once(engine: SpeechEngine) -> tuple[float, float]:
    """(seconds to synthesise the paragraph, seconds of audio)."""
    started = time.perf_counter()
    chunks = list(engine.synthesize(PARAGRAPH, voice=None, speed=1.0, cancel=CancelToken()))
    elapsed = time.perf_counter() - started
    return elapsed, sum(len(c.samples) for c in chunks) / RATE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as cache:
        model, config = source_model()
        engines: list[tuple[str, SpeechEngine]] = [
            ("piper (aligned model)", PiperEngine(sample_rate=RATE, cache_dir=Path(cache))),
            (
                "piper (plain model, baseline)",
                PiperEngine(sample_rate=RATE, model_path=model, config_path=config),
            ),
            ("espeak-ng", EspeakEngine(sample_rate=RATE)),
        ]
        for _label, engine in engines:
            once(engine)  # warm-up: load, first runs
        # Rounds interleave the engines, so a busy moment on the machine hits them alike.
        factors: dict[str, list[float]] = {label: [] for label, _engine in engines}
        audio: dict[str, float] = {}
        for _round in range(args.runs):
            for label, engine in engines:
                elapsed, audio[label] = once(engine)
                factors[label].append(elapsed / audio[label])
        results = [
            (label, statistics.median(factors[label]), audio[label]) for label, _e in engines
        ]

    print(
        f"paragraph: {len(PARAGRAPH)} characters; median of {args.runs} runs; "
        "baseline 1.0 = real time"
    )
    for label, value, audio_s in results:
        print(
            f"{label:32s} RTF {value:6.3f}  ({audio_s:.1f} s of audio, {1 / value:5.1f}x real time)"
        )
    aligned, plain = results[0][1], results[1][1]
    print(f"alignment output cost: {aligned / plain:.2f}x the plain model's time")
    figure(
        "rtf_piper",
        aligned,
        "x real time",
        what="Piper (aligned model) synthesis",
        baseline=plain,
        baseline_what="Piper, plain model",
        goal="< 1",
    )
    figure(
        "rtf_espeak",
        results[2][1],
        "x real time",
        what="espeak-ng synthesis",
        baseline=1.0,
        baseline_what="real time",
        goal="< 1",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
