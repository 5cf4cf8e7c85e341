# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: RUF001, RUF002 - IPA letters are this file's data
"""Ground truth for the lip-sync evaluation: what each voice says it spoke, and when.

Every voice reports its own phonemes with their times; that report, not any aligner, is the
truth. The phoneme → mouth class table here is the evaluation's own, written from phonetics
and kept apart from the method's map (``companion/speech/visemes.py``), so changing the
method cannot change the truth:

* ``closed``: silence, and the bilabials p b m;
* ``open`` (a): a ɑ æ ɐ ʌ ɶ, ARPAbet aa ae ah;
* ``wide`` (e/i): e ɛ ə ɜ ɘ ɞ i ɪ y ʏ ᵻ ɨ and the glide j, ARPAbet eh ey ih iy ax y;
* ``round`` (o/u/w): o ɔ ɒ ø œ ɤ u ʊ ɯ ʉ, the glide w and the r-coloured vowels ɚ ɝ,
  ARPAbet ao ow uh uw w er axr;
* ``cons``: every other consonant (open, no vowel class).

A phoneme written with several letters (``aɪ``, ``ɔːɹ``) is split among its letters evenly,
a letter with a length mark counting double. A stress mark's time (Piper gives it some)
goes to the letter after it, any other modifier's to the letter before.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

HOP_MS = 10.0
CLOSED, CONS = "closed", "cons"
VOWEL_CLASSES = ("open", "wide", "round")

_IPA: dict[str, str] = {}
for _chars, _cls in (
    ("pbmɱ", CLOSED),
    ("aɑæɐʌɶ", "open"),
    ("eɛəɜɘɞiɪyʏᵻɨj", "wide"),
    ("oɔɒøœɤuʊɯʉwɚɝ", "round"),
):
    for _c in _chars:
        _IPA[_c] = _cls
_ARPABET: dict[str, tuple[str, ...]] = {
    "pau": (CLOSED,), "sil": (CLOSED,), "p": (CLOSED,), "b": (CLOSED,), "m": (CLOSED,),
    "aa": ("open",), "ae": ("open",), "ah": ("open",),
    "eh": ("wide",), "ey": ("wide",), "ih": ("wide",), "iy": ("wide",), "ax": ("wide",),
    "y": ("wide",),
    "ao": ("round",), "ow": ("round",), "uh": ("round",), "uw": ("round",), "w": ("round",),
    "er": ("round",), "axr": ("round",),
    "ay": ("open", "wide"), "aw": ("open", "round"), "oy": ("round", "wide"),
}  # fmt: skip
STRESS = frozenset("ˈˌ")
LENGTH = frozenset("ːˑ")
SILENCE = "_"


@dataclass(frozen=True)
class Segment:
    """A stretch of one mouth class, in ms of the voice's audio."""

    start_ms: float
    end_ms: float
    cls: str


def _letter_class(ch: str) -> str | None:
    if ch in STRESS or ch in LENGTH or unicodedata.combining(ch) or not ch.isalpha():
        return None
    return _IPA.get(ch, CONS)


def ipa_segments(events: Sequence[tuple[float, float, str]]) -> list[Segment]:
    """(start, end, IPA phoneme) events → class segments (module docstring rules).

    A phoneme ``"_"`` (or one of punctuation only) is silence.
    """
    out: list[Segment] = []
    carry: float | None = None
    for start, end, phoneme in events:
        if end <= start:
            continue
        letters = unicodedata.normalize("NFD", phoneme)
        if phoneme == SILENCE or not any(ch.isalpha() or ch in STRESS or ch in LENGTH
                                         for ch in letters):  # fmt: skip
            out.append(Segment(start, end, CLOSED))
            continue
        parts: list[tuple[str, float]] = []  # class, weight
        for ch in letters:
            cls = _letter_class(ch)
            if cls is not None:
                parts.append((cls, 1.0))
            elif ch in LENGTH and parts:
                parts[-1] = (parts[-1][0], parts[-1][1] + 1.0)
        if not parts:
            if any(ch in STRESS for ch in letters):
                carry = start if carry is None else carry
            elif out and abs(out[-1].end_ms - start) < 1e-6:
                out[-1] = Segment(out[-1].start_ms, end, out[-1].cls)
            continue
        if carry is not None:
            start, carry = carry, None
        total = sum(w for _c, w in parts)
        t = start
        for cls, w in parts:
            d = (end - start) * w / total
            out.append(Segment(t, t + d, cls))
            t += d
    return out


def arpabet_segments(segments: Sequence[tuple[float, float, str]]) -> list[Segment]:
    """(start, end, ARPAbet phone) → class segments; diphthongs split evenly."""
    out: list[Segment] = []
    for start, end, phone in segments:
        classes = _ARPABET.get(phone.lower().rstrip("012"), (CONS,))
        step = (end - start) / len(classes)
        out.extend(Segment(start + k * step, start + (k + 1) * step, c)
                   for k, c in enumerate(classes))  # fmt: skip
    return out


def frames(segments: Sequence[Segment], n: int) -> list[str]:
    """The class at the centre of each of ``n`` 10 ms frames (uncovered time is closed)."""
    out = [CLOSED] * n
    for seg in segments:
        lo = max(0, int(seg.start_ms / HOP_MS - 0.5 + 1.0 - 1e-9))
        hi = min(n, int(seg.end_ms / HOP_MS - 0.5 + 1.0 - 1e-9))
        for i in range(lo, hi):
            out[i] = seg.cls
    return out
