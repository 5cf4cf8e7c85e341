# SPDX-License-Identifier: GPL-3.0-or-later
"""Timed phonemes on the target audio → the cues the mouth plays.

The map (:func:`~companion.speech.visemes.cues_from_phonemes`) names the shapes; then the
target's own loudness has the last word: a quiet stretch of at least
:data:`~companion.speech.align.features.PAUSE_MS` closes the mouth whatever the text said
(silence closure), and louder vowels open wider (the cue weight). Last comes the animator's
pass (:func:`~companion.speech.coarticulation.animate`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from companion.speech.align.features import HOP_MS, PAUSE_MS, Features, runs
from companion.speech.coarticulation import animate
from companion.speech.types import PhonemeEvent, VisemeCue
from companion.speech.visemes import VOWEL_CLASS, cues_from_phonemes, merge_runs


def _outside(
    interval: tuple[float, float], holes: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """The parts of ``interval`` outside every hole."""
    pieces = [interval]
    for s_ms, e_ms in holes:
        nxt: list[tuple[float, float]] = []
        for a, b in pieces:
            if e_ms <= a or s_ms >= b:
                nxt.append((a, b))
                continue
            if a < s_ms:
                nxt.append((a, s_ms))
            if e_ms < b:
                nxt.append((e_ms, b))
        pieces = nxt
    return pieces


def pauses_ms(feats: Features) -> list[tuple[float, float]]:
    """The quiet stretches of at least PAUSE_MS, in ms (frame edges at ±5 ms)."""
    return [
        ((s - 0.5) * HOP_MS, (e - 0.5) * HOP_MS)
        for s, e in runs(feats.quiet, min_len=int(PAUSE_MS / HOP_MS))
    ]


def finish_cues(
    events: Sequence[PhonemeEvent], feats: Features, duration_ms: float, *, animated: bool = True
) -> list[VisemeCue]:
    """Phoneme events on the target → viseme cues (module docstring)."""
    cues = [c for c in cues_from_phonemes(events) if c.viseme != "sil"]
    holes = pauses_ms(feats)
    out: list[VisemeCue] = []
    for cue in cues:
        for a, b in _outside((max(0.0, cue.start_ms), min(cue.end_ms, duration_ms)), holes):
            if b - a < 1.0:
                continue
            weight = 1.0
            if cue.viseme in VOWEL_CLASS:
                lo, hi = int(a / HOP_MS), max(int(a / HOP_MS) + 1, int(b / HOP_MS))
                level = float(np.mean(feats.energy[lo:hi])) if hi <= len(feats) else 0.0
                weight = round(float(np.clip(1.0 + level / 30.0, 0.55, 1.0)), 2)
            out.append(VisemeCue(a, b, cue.viseme, weight))
    out = merge_runs(out)
    return animate(out, end_ms=duration_ms) if animated else out
