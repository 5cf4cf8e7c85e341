# SPDX-License-Identifier: GPL-3.0-or-later

"""The acoustic aligner: PocketSphinx places the phones, espeak-ng names the vowels.

1. **Words → pronunciations** (:mod:`.lexicon`): CMU dictionary, else espeak-ng's reading.
2. **Forced alignment** (:mod:`.sphinx`): PocketSphinx's en-us acoustic model finds each
   phone and each pause in the audio (10 ms frames).
3. **Identity from espeak-ng.** The CMU dictionary has no stress, so its ``AH`` is both
   the open ``ʌ`` of "cup" and the neutral ``ə`` of "a", its ``ER`` both ``ɚ`` and ``ɜː``.
   espeak-ng reads the whole text in context; its phonemes, mapped to ARPAbet, are matched
   to the aligned phones (:class:`difflib.SequenceMatcher` over the phone strings, then
   element-wise inside equal-length differences), and a matched phone takes espeak-ng's
   IPA. An unmatched ``AH`` is read ``ə`` (unstressed schwa is the common case).
4. **The audio checks the silences, the boundaries settle.** A silence PocketSphinx put
   between words stays only where the audio is mostly quiet (:func:`.fusion.confirm_pauses`);
   then the reference aligner's segmental refinement re-places each boundary on the
   target's own frames (:func:`.reference.refine_on_target`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from companion.speech.align.arpabet import ARPABET_IPA, VOWELS, arpabet_units
from companion.speech.align.features import F64, RATE, Features, speech_region
from companion.speech.align.fusion import confirm_pauses
from companion.speech.align.lexicon import Token, tokens
from companion.speech.align.reference import refine_on_target
from companion.speech.align.sphinx import SILENCE, Phone, SphinxAligner
from companion.speech.espeak_engine import PAUSE
from companion.speech.types import PhonemeEvent

#: Shift applied to PocketSphinx's phone boundaries: its frame ``t`` is a 25.6 ms window
#: starting at ``t`` · 10 ms, centred 12.8 ms later (10 ms measured best on the dev texts).
SPHINX_SHIFT_MS = 10.0
#: Frames of silence kept around the speech for PocketSphinx (it wants some on each side).
_MARGIN = 30
#: A share of alphabetic words at least this large must be in the CMU dictionary for the
#: text to count as English (names and brands are the rest).
ENGLISH_SHARE = 0.6


def looks_english(words: Sequence[Token], text: str) -> bool:
    """True when most written words are English dictionary words (see ENGLISH_SHARE)."""
    written = [w for w in text.split() if any(ch.isalpha() for ch in w)]
    if not written:
        return True  # digits and symbols only: espeak-ng's English reading is all there is
    if any(not ch.isascii() for w in written for ch in w if ch.isalpha()):
        non_ascii = sum(1 for w in written if any(c.isalpha() and not c.isascii() for c in w))
        if non_ascii / len(written) > 1.0 - ENGLISH_SHARE:
            return False
    alphabetic = [w for w in words if w.text.replace("'", "").isalpha()]
    if not alphabetic:
        return True
    known = sum(1 for w in alphabetic if w.in_dictionary)
    return known / len(alphabetic) >= ENGLISH_SHARE


def identities(phones: Sequence[Phone], context: Sequence[str]) -> list[str]:
    """The IPA each aligned phone is read as (module docstring, step 3)."""
    spoken = [k for k, p in enumerate(phones) if p.phone != SILENCE]
    units = arpabet_units(list(context))
    out = [ARPABET_IPA.get(p.phone, "") if p.phone != SILENCE else PAUSE for p in phones]
    for k in spoken:
        if phones[k].phone == "AH":
            out[k] = "ə"
    a = [phones[k].phone for k in spoken]
    b = [u[0] for u in units]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                mine, theirs = a[i], b[j]
                if mine == theirs or (mine in VOWELS and theirs in VOWELS):
                    out[spoken[i]] = units[j][1]
    return out


def acoustic_events(
    text: str,
    samples: F64,
    feats: Features,
    aligner: SphinxAligner,
    phonemize: Callable[[str], list[str]],
    *,
    words: Sequence[Token] | None = None,
) -> list[PhonemeEvent]:
    """Timed phonemes of ``text`` in ``samples`` (16 kHz): steps 1-4 of the docstring.

    Raises :class:`~companion.speech.align.sphinx.AlignmentFailed` (and whatever
    ``phonemize`` raises).
    """
    if words is None:
        words = tokens(text, aligner.lexicon, phonemize)
    # Only the speech and a margin around it are decoded (leading and trailing silence
    # would cost as much as speech).
    t0, t1 = speech_region(feats.quiet)
    lo, hi = max(0, t0 - _MARGIN), min(len(feats), t1 + _MARGIN)
    hop = len(samples) / max(1, len(feats))
    phones = aligner.align(words, samples[int(lo * hop) : int(hi * hop)])
    names = identities(phones, phonemize(text))
    shift = SPHINX_SHIFT_MS + int(lo * hop) * 1000.0 / RATE
    events = [
        PhonemeEvent(max(0.0, p.start_ms + shift), p.end_ms + shift, name)
        for p, name in zip(phones, names, strict=True)
        if name
    ]
    return refine_on_target(confirm_pauses(events, feats), feats)


def sphinx_only_events(
    text: str, samples: F64, aligner: SphinxAligner, phonemize: Callable[[str], list[str]]
) -> list[PhonemeEvent]:
    """PocketSphinx alone: its phones read the plain ARPAbet way (a baseline to beat)."""
    words = tokens(text, aligner.lexicon, phonemize)
    return [
        PhonemeEvent(p.start_ms, p.end_ms, PAUSE if p.phone == SILENCE else ARPABET_IPA[p.phone])
        for p in aligner.align(words, samples)
    ]
