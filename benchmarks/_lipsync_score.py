# SPDX-License-Identifier: GPL-3.0-or-later

"""Scoring at 10 ms, the baselines, and the embedded Piper path as it was before.

A prediction is a list of viseme cues; at the centre of every 10 ms frame its viseme is
read (a gap is rest) and classed: ``sil``/``PP`` closed, ``aa`` open, ``E``/``I`` wide,
``O``/``U`` round, anything else a consonant.

* **open/closed**: over all frames, the prediction is closed exactly where the truth is;
* **vowel class**: over the frames where the truth is a vowel (open, wide, round), the
  prediction has the same class (a consonant or a closed mouth there is wrong).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from _lipsync_truth import CLOSED, CONS, HOP_MS, VOWEL_CLASSES, Segment, frames

from companion.speech.types import FloatArray, PhonemeEvent, VisemeCue
from companion.speech.visemes import VisemeTimeline, cues_from_envelope, cues_from_phonemes

_PRED_CLASS = {"sil": CLOSED, "PP": CLOSED, "aa": "open", "E": "wide", "I": "wide",
               "O": "round", "U": "round"}  # fmt: skip


def predicted_frames(cues: Sequence[VisemeCue], n: int) -> list[str]:
    timeline = VisemeTimeline(cues)
    return [_PRED_CLASS.get(timeline.at((i + 0.5) * HOP_MS).viseme, CONS) for i in range(n)]


@dataclass
class Score:
    frames: int = 0
    open_ok: int = 0
    vowel_frames: int = 0
    vowel_ok: int = 0

    def add(self, truth: Sequence[Segment], cues: Sequence[VisemeCue], n: int) -> None:
        t = frames(truth, n)
        p = predicted_frames(cues, n)
        self.frames += n
        self.open_ok += sum((a == CLOSED) == (b == CLOSED) for a, b in zip(t, p, strict=True))
        for a, b in zip(t, p, strict=True):
            if a in VOWEL_CLASSES:
                self.vowel_frames += 1
                self.vowel_ok += a == b

    @property
    def open_closed(self) -> float:
        return self.open_ok / max(1, self.frames)

    @property
    def vowel_class(self) -> float:
        return self.vowel_ok / max(1, self.vowel_frames)


# --- baselines ---------------------------------------------------------------------------


def loudness_threshold(samples: FloatArray, rate: int) -> list[VisemeCue]:
    """The envelope fallback in visemes.py: loud → open (aa/E), quiet → closed."""
    return cues_from_envelope(samples, rate)


def peak_sigmoid(samples: FloatArray, rate: int) -> list[VisemeCue]:
    """The common mascot mouth: a smoothed envelope over a decaying peak, through a sigmoid."""
    hop = int(rate * HOP_MS / 1000.0)
    n = len(samples) // hop
    rms = np.sqrt(np.mean(samples[: n * hop].reshape(n, hop) ** 2, axis=1))
    peak, level = 1e-4, 0.0
    cues: list[VisemeCue] = []
    for i in range(n):
        level += (0.5 if rms[i] > level else 0.15) * (rms[i] - level)  # fast attack, slow release
        peak = max(level, peak * 0.995)
        openness = 1.0 / (1.0 + np.exp(-12.0 * (level / peak - 0.3)))
        if openness > 0.5:
            cues.append(VisemeCue(i * HOP_MS, (i + 1) * HOP_MS, "aa", float(openness)))
    return cues


# --- the embedded Piper path -------------------------------------------------------------

_STRESS_AND_LENGTH = set("ˈˌːˑ")


def piper_path_before(chunks: Sequence[tuple[float, list[Any], int]], rate: int) -> list[VisemeCue]:
    """Piper's alignments as the app used them before this evaluation's fixes.

    Stress *and length* marks gave their time to the next phoneme, every word space closed
    the mouth, ``ɚ ɝ`` were the ``r`` consonant, and no animator's pass ran.
    """
    events: list[PhonemeEvent] = []
    for offset, alignments, total in chunks:
        position, carry = 0, None
        chunk_events: list[PhonemeEvent] = []
        for al in alignments:
            n, phoneme = int(al.num_samples), str(al.phoneme)
            start, position = position, position + n
            if n <= 0:
                continue
            phoneme = "_" if phoneme in ("^", "$", " ") else phoneme  # a space was a pause
            if phoneme in _STRESS_AND_LENGTH:
                carry = start if carry is None else carry
                continue
            if carry is not None:
                start, carry = carry, None
            chunk_events.append(PhonemeEvent(start, position, phoneme))
        if chunk_events and total > position:
            last = chunk_events[-1]
            chunk_events[-1] = PhonemeEvent(last.start_ms, total, last.phoneme)
        events.extend(PhonemeEvent(offset + 1000.0 * e.start_ms / rate,
                                   offset + 1000.0 * e.end_ms / rate,
                                   old_r(e.phoneme)) for e in chunk_events)  # fmt: skip
    return [c for c in cues_from_phonemes(events) if c.viseme != "sil"]


def old_r(phoneme: str) -> str:
    return "".join("ɹ" if ch in "ɚɝ" else ch for ch in unicodedata.normalize("NFD", phoneme))


def piper_path_now(chunks: Sequence[tuple[float, list[Any], int]], rate: int) -> list[VisemeCue]:
    """Piper's alignments as the app uses them now (piper_engine → timeline_from_phonemes)."""
    from companion.speech.piper_engine import events_from_alignments
    from companion.speech.visemes import timeline_from_phonemes

    events: list[PhonemeEvent] = []
    for offset, alignments, total in chunks:
        timed = events_from_alignments(alignments, rate, total_samples=total)
        events.extend(PhonemeEvent(e.start_ms + offset, e.end_ms + offset, e.phoneme)
                      for e in timed)  # fmt: skip
    return list(timeline_from_phonemes(events).cues)
