# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: RUF001, RUF002, RUF003 - IPA letters and typographic signs are this file's data
"""Oculus-15 visemes, the IPA → viseme map, and the viseme timeline.

How a phoneme becomes a mouth shape (:func:`cues_from_phonemes`):

- each IPA letter has one viseme (:data:`_IPA`); a phoneme written with several letters
  (``aɪ``, ``tʃ``, ``ɔːɹ``) takes one shape per letter, its time split evenly;
- a **stress mark** (``ˈ`` ``ˌ``) stands before the stressed vowel, and where it carries time
  of its own (Piper's alignments) that time belongs to the vowel that follows it, not to the
  consonant before; a **length mark** (``ː``) and other diacritics belong to the letter before;
- **r-coloured vowels** (``ɚ`` ``ɝ``) are vowels with rounded lips (``U``), not the ``r``
  consonant;
- a **word space** with time of its own (Piper's) is no pause unless it lasts
  :data:`WORD_PAUSE_MS`: the words on either side share it;
- ``h`` already has the lips of the vowel after it.

The cues then go through the animator's pass of :mod:`companion.speech.coarticulation`
(:func:`timeline_from_phonemes`): no shape shorter than a frame, closures always seen,
rounding anticipated. The timeline answers "which viseme, how open, at t ms" in O(log n)
(a bisect over cue starts), so the mascot can ask it every frame.
"""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from companion.speech.coarticulation import animate
from companion.speech.coarticulation import merge_runs as merge_runs
from companion.speech.types import FloatArray, PhonemeEvent, VisemeCue

VISEMES: tuple[str, ...] = (
    "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U",
)  # fmt: skip

#: How far the jaw opens for each viseme at full weight (0 closed .. 1 wide open).
OPENNESS: dict[str, float] = {
    "sil": 0.0, "PP": 0.0, "FF": 0.15, "TH": 0.25, "DD": 0.3, "kk": 0.35, "CH": 0.3,
    "SS": 0.2, "nn": 0.25, "RR": 0.35, "aa": 1.0, "E": 0.7, "I": 0.5, "O": 0.8, "U": 0.45,
}  # fmt: skip

#: Vowel classes used by the evaluation and the art: open, wide, round.
VOWEL_CLASS: dict[str, str] = {"aa": "open", "E": "wide", "I": "wide", "O": "round", "U": "round"}

# One IPA code point → one viseme. Multi-code-point phonemes (tʃ, aɪ, oʊ) are
# handled by taking each code point in turn; modifiers extend the one before.
_IPA: dict[str, str] = {}
for _chars, _vis in (
    ("pbmɱ", "PP"),
    ("fvʋ", "FF"),
    ("θð", "TH"),
    ("tdɾʈɖ", "DD"),
    ("kgɡŋxɣqɢχʁħʕʔhɦ", "kk"),
    ("ʃʒʧʤɕʑçʝ", "CH"),
    ("szʂʐ", "SS"),
    ("nlɫɲɳɴʎʟɬɮ", "nn"),
    ("ɹrɻʀ", "RR"),
    ("aɑæɐʌɶ", "aa"),
    ("eɛəɜɘɞ", "E"),
    ("iɪjyʏᵻɨ", "I"),
    ("oɔɒøœɤ", "O"),
    ("uʊwɯʉɰɚɝ", "U"),  # r-coloured vowels: rounded lips
):
    for _c in _chars:
        _IPA[_c] = _vis
# Pauses and sentence punctuation close the mouth.
for _c in " ^$_.,!?;:—–-…\n":
    _IPA[_c] = "sil"

#: Code points that carry no mouth shape of their own (stress, length, tie bars, diacritics).
_MODIFIERS = set("ˈˌːˑ‿̩̯̃͡ʲʰʷˠˤ")
#: A word space (Piper gives it time) shorter than this is no pause: its neighbours share it.
WORD_PAUSE_MS = 150.0
#: Stress marks: written before the stressed vowel; their time belongs to what follows.
STRESS_MARKS = frozenset("ˈˌ")


def ipa_to_viseme(phoneme: str) -> str | None:
    """The viseme of an IPA phoneme, ``None`` for a pure modifier (stress, length)."""
    decomposed = unicodedata.normalize("NFD", phoneme)
    for ch in decomposed:
        if ch in _MODIFIERS or unicodedata.combining(ch):
            continue
        vis = _IPA.get(ch)
        if vis is not None:
            return vis
        # Unknown letters: treat as a neutral half-open vowel rather than dropping them.
        if ch.isalpha():
            return "E"
    return None


@dataclass(frozen=True, slots=True)
class VisemeFrame:
    """The mouth at one instant."""

    viseme: str
    openness: float


REST = VisemeFrame("sil", 0.0)


class VisemeTimeline:
    """Sorted, non-overlapping viseme cues with O(log n) lookup.

    Gaps between cues are silence (mouth at rest).
    """

    __slots__ = ("_cues", "_ends", "_starts")

    def __init__(self, cues: Iterable[VisemeCue]) -> None:
        ordered = sorted((c for c in cues if c.end_ms > c.start_ms), key=lambda c: c.start_ms)
        cleaned: list[VisemeCue] = []
        for cue in ordered:
            if cleaned and cue.start_ms < cleaned[-1].end_ms:
                prev = cleaned[-1]
                # Overlap: the later cue wins from its start on.
                if cue.start_ms <= prev.start_ms:
                    cleaned.pop()
                else:
                    cleaned[-1] = VisemeCue(prev.start_ms, cue.start_ms, prev.viseme, prev.weight)
            cleaned.append(cue)
        self._cues: tuple[VisemeCue, ...] = tuple(cleaned)
        self._starts: list[float] = [c.start_ms for c in cleaned]
        self._ends: list[float] = [c.end_ms for c in cleaned]

    @property
    def cues(self) -> tuple[VisemeCue, ...]:
        return self._cues

    @property
    def duration_ms(self) -> float:
        return self._ends[-1] if self._ends else 0.0

    def __len__(self) -> int:
        return len(self._cues)

    def cue_at(self, t_ms: float) -> VisemeCue | None:
        i = bisect.bisect_right(self._starts, t_ms) - 1
        if i < 0 or t_ms >= self._ends[i]:
            return None
        return self._cues[i]

    def at(self, t_ms: float) -> VisemeFrame:
        cue = self.cue_at(t_ms)
        if cue is None:
            return REST
        return VisemeFrame(cue.viseme, OPENNESS.get(cue.viseme, 0.5) * cue.weight)

    def shifted(self, offset_ms: float) -> VisemeTimeline:
        return VisemeTimeline(
            VisemeCue(c.start_ms + offset_ms, c.end_ms + offset_ms, c.viseme, c.weight)
            for c in self._cues
        )

    def extended(self, other: VisemeTimeline, offset_ms: float) -> VisemeTimeline:
        """This timeline followed by ``other`` shifted by ``offset_ms``. When ``other`` starts
        after this one ends (a streamed reply's next piece) its cues are only appended: the
        cost is what is added, not the whole reply sorted again for every piece."""
        added = other.shifted(offset_ms)
        if not added._cues or not self._cues or added._starts[0] >= self._ends[-1]:
            joined = VisemeTimeline(())
            joined._cues = self._cues + added._cues
            joined._starts = self._starts + added._starts
            joined._ends = self._ends + added._ends
            return joined
        return VisemeTimeline(self._cues + added.cues)

    def to_json(self) -> list[dict[str, float | str]]:
        return [
            {"start_ms": round(c.start_ms, 1), "end_ms": round(c.end_ms, 1), "viseme": c.viseme}
            for c in self._cues
        ]


#: Glottal fricatives: the mouth already takes the shape of the vowel that follows.
_ASPIRATES = set("hɦ")
_VOWEL_VISEMES = frozenset(VOWEL_CLASS)


def _shapes(phoneme: str) -> list[tuple[str, str]]:
    """(letter, viseme) per shape of ``phoneme``, repeats inside it dropped (``aa``)."""
    chars = [
        (ch, v)
        for ch, v in ((ch, ipa_to_viseme(ch)) for ch in unicodedata.normalize("NFD", phoneme))
        if v is not None
    ]
    return [c for i, c in enumerate(chars) if i == 0 or c[1] != chars[i - 1][1]]


def cues_from_phonemes(events: Iterable[PhonemeEvent]) -> list[VisemeCue]:
    """Phoneme timings → viseme cues (see the module docstring for the rules).

    An event with no shape of its own gives its time to a neighbour it touches: a stress
    mark to the phoneme after it, anything else (a length mark) to the phoneme before.
    """
    out: list[VisemeCue] = []
    aspirated: list[bool] = []
    carry: float | None = None  # start of time not yet given away (stress, word space)
    for ev in events:
        if ev.end_ms <= ev.start_ms:
            continue
        if ev.phoneme == " " and ev.end_ms - ev.start_ms < WORD_PAUSE_MS:
            # The space between two words (Piper times it) is no pause: half to each side.
            mid = 0.5 * (ev.start_ms + ev.end_ms)
            if out and abs(out[-1].end_ms - ev.start_ms) < 1e-6 and out[-1].viseme != "sil":
                last = out[-1]
                out[-1] = VisemeCue(last.start_ms, mid, last.viseme, last.weight)
                carry = mid if carry is None else carry
            else:
                carry = ev.start_ms if carry is None else carry
            continue
        shapes = _shapes(ev.phoneme)
        if not shapes:
            if any(ch in STRESS_MARKS for ch in ev.phoneme):
                carry = ev.start_ms if carry is None else carry
            elif out and abs(out[-1].end_ms - ev.start_ms) < 1e-6:
                last = out[-1]
                out[-1] = VisemeCue(last.start_ms, ev.end_ms, last.viseme, last.weight)
            continue
        start = ev.start_ms
        if carry is not None:
            start, carry = carry, None
            if shapes[0][1] == "sil" and out:  # a pause after the space: it starts there
                last = out[-1]
                out[-1] = VisemeCue(last.start_ms, max(last.end_ms, start), last.viseme,
                                    last.weight)  # fmt: skip
        step = (ev.end_ms - start) / len(shapes)
        for i, (ch, vis) in enumerate(shapes):
            out.append(VisemeCue(start + i * step, start + (i + 1) * step, vis))
            aspirated.append(ch in _ASPIRATES)
    if carry is not None and out:  # a stress mark at the very end: the phoneme before
        last = out[-1]
        out[-1] = VisemeCue(last.start_ms, max(last.end_ms, carry), last.viseme, last.weight)
    for i in range(len(out) - 2, -1, -1):
        nxt = out[i + 1]
        if (
            aspirated[i]
            and nxt.viseme in _VOWEL_VISEMES
            and abs(out[i].end_ms - nxt.start_ms) < 1e-6
        ):
            out[i] = VisemeCue(out[i].start_ms, out[i].end_ms, nxt.viseme, out[i].weight)
    return merge_runs(out)


def timeline_from_phonemes(events: Iterable[PhonemeEvent]) -> VisemeTimeline:
    """The timeline of phoneme timings: the map, then the animator's pass."""
    cues = [c for c in cues_from_phonemes(events) if c.viseme != "sil"]
    return VisemeTimeline(animate(cues, end_ms=max((c.end_ms for c in cues), default=0.0)))


def cues_from_envelope(
    samples: FloatArray, sample_rate: int, *, hop_ms: float = 10.0
) -> list[VisemeCue]:
    """Audio-only fallback: loudness per 10 ms → open vowel cues; quiet → closed.

    Used only when neither the backend nor the engine gives timings.
    """
    hop = max(1, int(sample_rate * hop_ms / 1000.0))
    n = len(samples) // hop
    if n == 0:
        return []
    frames = np.asarray(samples[: n * hop], dtype=np.float32).reshape(n, hop)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    peak = float(np.percentile(rms, 95)) if n > 0 else 0.0
    if peak <= 1e-6:
        return []
    level = np.clip(rms / peak, 0.0, 1.0)
    out: list[VisemeCue] = []
    for i, lv in enumerate(level):
        if lv < 0.12:
            continue
        weight = round(float(min(1.0, 0.3 + 0.7 * lv)), 2)
        vis = "aa" if lv > 0.6 else "E"
        out.append(VisemeCue(i * hop_ms, (i + 1) * hop_ms, vis, weight))
    return merge_runs(out)
