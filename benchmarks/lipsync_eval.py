# SPDX-License-Identifier: GPL-3.0-or-later
"""Lip-sync evaluation: the text+audio aligner on voices and texts it was not tuned on.

Five voices speak every text of ``lipsync_corpus.txt`` (``_lipsync_voices.py``): Piper's joe,
espeak-ng in two voices, accents and rates, and CMU Flite in two voices with its own lexicon
and durations. Each voice's own account of its phonemes is the truth (``_lipsync_truth.py``,
a phoneme → mouth-class table of its own). Each method gets the prepared text and the audio
only. Scores at 10 ms (``_lipsync_score.py``): open/closed over all frames, vowel class
(open a, wide e/i, round o/u/w) over the truth's vowel frames.

The texts are split by a hash of each line (see the corpus header): ``--split dev`` is the
half tuning may read, ``--split held-out`` (the default) the half it never reads. Methods,
all in the same run: the aligner (``align_text_to_audio``), PocketSphinx alone (its phones
read the plain ARPAbet way), today's aligner as it was before this one (espeak-ng + DTW,
``align/reference.py``, with the map and closures it had), a loudness threshold and a
peak-sigmoid mouth. On Piper, also the embedded Piper path (Piper's own alignments → the
mouth), before and after the map's fixes.

Run: ``.venv/bin/python benchmarks/lipsync_eval.py [--split held-out|dev|all]
[--voices piper-joe,flite-slt,...]`` (about four minutes on two cores; needs ``flite``).
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from _figure import figure
from _lipsync_score import (
    Score,
    loudness_threshold,
    old_r,
    peak_sigmoid,
    piper_path_before,
    piper_path_now,
)
from _lipsync_truth import HOP_MS
from _lipsync_voices import VOICES, Spoken

from companion.speech import align
from companion.speech.align.acoustic import sphinx_only_events
from companion.speech.align.features import at_16k, features
from companion.speech.align.finish import finish_cues
from companion.speech.align.reference import reference_events
from companion.speech.align.sphinx import AlignmentFailed
from companion.speech.coarticulation import visible_closures
from companion.speech.espeak_engine import EspeakEngine
from companion.speech.text import prepare_for_speech
from companion.speech.types import PhonemeEvent, VisemeCue
from companion.speech.visemes import cues_from_phonemes

CORPUS = Path(__file__).with_name("lipsync_corpus.txt")
Method = Callable[[Spoken], list[VisemeCue]]


def split_of(line: str) -> str:
    """``dev`` or ``held-out``, from the SHA-256 of the line (the corpus header says how)."""
    value = int(hashlib.sha256(line.encode("utf-8")).hexdigest()[:8], 16)
    return "dev" if value % 5 < 2 else "held-out"


def load_corpus(path: Path, split: str) -> list[str]:
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    dev = [ln for ln in lines if split_of(ln) == "dev"]
    held = [ln for ln in lines if split_of(ln) == "held-out"]
    print(f"Corpus: {len(lines)} texts, {len(dev)} development, {len(held)} held out.")
    if len(held) < len(dev):
        raise SystemExit("the held-out half must be at least as large as the development half")
    return {"dev": dev, "held-out": held, "all": lines}[split]


failures = {"sphinx": 0}


def methods(engine: EspeakEngine) -> list[tuple[str, Method]]:
    def aligner(s: Spoken) -> list[VisemeCue]:
        return align.align_text_to_audio(s.text, s.samples, s.rate, engine=engine)

    def sphinx_alone(s: Spoken) -> list[VisemeCue]:
        x16 = at_16k(s.samples, s.rate)
        try:
            events = sphinx_only_events(s.text, x16, align.sphinx_aligner(), engine.phonemize)
        except AlignmentFailed:
            failures["sphinx"] += 1
            return []  # no alignment: the mouth stays shut
        return [c for c in cues_from_phonemes(events) if c.viseme != "sil"]

    def today(s: Spoken) -> list[VisemeCue]:
        # The aligner as it was: espeak-ng + DTW + refinement, the map before its fixes
        # (ɚ ɝ the r consonant), closures stretched, no animator's pass.
        feats = features(s.samples, s.rate)
        reference = reference_events(s.text, feats, engine)
        events = [PhonemeEvent(e.start_ms, e.end_ms, old_r(e.phoneme))
                  for e in (reference.events if reference else [])]  # fmt: skip
        duration_ms = 1000.0 * len(s.samples) / s.rate
        return visible_closures(finish_cues(events, feats, duration_ms, animated=False),
                                duration_ms)  # fmt: skip

    return [
        ("**aligner** (`align_text_to_audio`)", aligner),
        ("baseline: PocketSphinx alone", sphinx_alone),
        ("baseline: today's aligner (espeak-ng + DTW)", today),
        ("baseline: RMS threshold", lambda s: loudness_threshold(s.samples, s.rate)),
        ("baseline: peak-sigmoid", lambda s: peak_sigmoid(s.samples, s.rate)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--split", choices=("held-out", "dev", "all"), default="held-out")
    parser.add_argument("--voices", default=",".join(VOICES))
    args = parser.parse_args()
    texts = [prepare_for_speech(t) for t in load_corpus(args.corpus, args.split)]
    engine = EspeakEngine(sample_rate=22050)
    table = methods(engine)
    align.align_text_to_audio("Warm up.", *_silence_and_tone(), engine=engine)
    print(f"Split: {args.split}. Scores at 10 ms: open/closed accuracy / vowel-class accuracy.\n")
    rows: dict[str, dict[str, Score]] = {name: {} for name, _ in table}
    extra: dict[str, Score] = {}
    cpu: dict[str, list[float]] = {}  # voice → [aligner CPU s, audio s]
    voices = [v.strip() for v in args.voices.split(",") if v.strip()]
    for voice in voices:
        spoken = list(VOICES[voice](texts))
        for name, fn in table:
            score = Score()
            for s in spoken:
                n = int(1000.0 * len(s.samples) / s.rate // HOP_MS)
                started = time.process_time()
                cues = fn(s)
                if fn is table[0][1]:
                    spent = cpu.setdefault(voice, [0.0, 0.0])
                    spent[0] += time.process_time() - started
                    spent[1] += len(s.samples) / s.rate
                score.add(s.truth, cues, n)
            rows[name][voice] = score
        if voice == "piper-joe":
            for label, path in (("before", piper_path_before), ("now", piper_path_now)):
                score = Score()
                for s in spoken:
                    n = int(1000.0 * len(s.samples) / s.rate // HOP_MS)
                    score.add(s.truth, path(s.piper_alignments or [], s.rate), n)
                extra[label] = score
        seconds = sum(len(s.samples) / s.rate for s in spoken)
        print(f"  {voice}: {len(spoken)} texts, {seconds:.0f} s of audio", flush=True)
    print("\n| method | " + " | ".join(voices) + " |")
    print("|---|" + "---|" * len(voices))
    for name, per_voice in rows.items():
        cells = [f"{per_voice[v].open_closed:.4f} / {per_voice[v].vowel_class:.4f}" for v in voices]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if extra:
        print("\nThe embedded Piper path (Piper's own alignments → the mouth), piper-joe truth:\n")
        print("| Piper path | open/closed | vowel class |\n|---|---|---|")
        for label, score in extra.items():
            print(f"| {label} | {score.open_closed:.3f} | {score.vowel_class:.3f} |")
    used, heard = sum(c for c, _ in cpu.values()), sum(a for _, a in cpu.values())
    rtf = used / max(1e-9, heard)
    each = ", ".join(f"{v} {c / max(1e-9, a):.4f}" for v, (c, a) in cpu.items())
    print(f"\nAligner CPU: {used:.1f} s for {heard:.0f} s of audio (real-time factor {rtf:.4f},"
          f" one core; per voice: {each}).")  # fmt: skip
    _figures(rows, voices, rtf, extra, args.split)


def _figures(rows: dict[str, dict[str, Score]], voices: list[str], rtf: float,
             extra: dict[str, Score], split: str) -> None:  # fmt: skip
    names = list(rows)
    ours = rows[names[0]]
    tag = "" if split == "held-out" else f" ({split})"
    for metric, attr, goal in (("open_closed", "open_closed", ">= 0.93"),
                               ("vowel_class", "vowel_class", ">= 0.70")):  # fmt: skip
        worst = min(voices, key=lambda v: getattr(ours[v], attr))
        best_baseline = max(getattr(rows[n][worst], attr) for n in names[1:])
        figure(f"lipsync_{metric}", getattr(ours[worst], attr), "",
               what=f"aligner {metric.replace('_', '/')}, held-out, worst voice ({worst}){tag}",
               baseline=best_baseline, baseline_what="best baseline on that voice",
               goal=goal)  # fmt: skip
    if extra:
        figure("lipsync_piper_path_vowel", extra["now"].vowel_class, "",
               what="embedded Piper path vowel class", baseline=extra["before"].vowel_class,
               baseline_what="before the map's fixes")  # fmt: skip
    figure("align_rtf", rtf, "x real time", what="aligner CPU per second of audio", goal="< 0.05")


def _silence_and_tone() -> tuple:  # type: ignore[type-arg]
    import numpy as np

    t = np.arange(8000) / 16000.0
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000


if __name__ == "__main__":
    main()
