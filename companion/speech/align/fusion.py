# SPDX-License-Identifier: GPL-3.0-or-later
"""Two timings of the same phonemes made one: PocketSphinx's and the espeak-ng reference's.

PocketSphinx's acoustic model knows what English sounds like in general; the reference
(espeak-ng speaking the text, warped onto the audio) knows exactly what *this* text sounds
like in espeak-ng's voice. How much the reference is trusted follows from how alike the two
renderings sound (:func:`reference_trust`, from the warp's mean frame distance): fully when
the audio is espeak-ng-like (then PocketSphinx is not run at all), hardly for a voice
unlike it. Matched phones (:class:`difflib.SequenceMatcher` over their ARPAbet spellings,
element-wise inside equal-length differences) move their start toward the other timing by
that weight; the phoneme sequence is the trusted side's.

:func:`confirm_pauses` keeps a silence PocketSphinx put between words only where the audio
is mostly quiet; elsewhere (a pronunciation the dictionary did not expect, an accent) its
time goes back to the phones on either side.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np

from companion.speech.align.arpabet import arpabet_units
from companion.speech.align.features import HOP_MS, Features, speech_region
from companion.speech.espeak_engine import PAUSE
from companion.speech.types import PhonemeEvent

#: Warp distances at or below this: the reference is trusted fully.
TRUST_FULL = 2.0
#: … at or above this: not at all.
TRUST_NONE = 4.0
#: Trust at or above which PocketSphinx is not worth its cost (the reference decides).
TRUST_ALONE = 0.9
#: Trust below which the reference's own refinement is not worth its cost.
TRUST_REFINE = 0.1
#: Matched starts further apart than this are not moved (one of the two is lost there).
MAX_SHIFT_MS = 150.0
#: A silence inside speech stays a pause when at least this share of its frames is quiet.
QUIET_SHARE = 0.7


def reference_trust(distance: float) -> float:
    """0..1: how far the reference's timing is trusted over PocketSphinx's."""
    return float(np.clip((TRUST_NONE - distance) / (TRUST_NONE - TRUST_FULL), 0.0, 1.0))


def distance_for(trust: float) -> float:
    """The warp distance at which :func:`reference_trust` gives ``trust``."""
    return TRUST_NONE - trust * (TRUST_NONE - TRUST_FULL)


def _key(phoneme: str) -> str:
    units = arpabet_units([phoneme])
    return units[0][0] if units else "?"


def pull_starts(
    events: Sequence[PhonemeEvent], other: Sequence[PhonemeEvent], weight: float
) -> list[PhonemeEvent]:
    """``events`` with each matched start moved ``weight`` of the way to ``other``'s."""
    mine = [e for e in events if e.phoneme != PAUSE]
    theirs = [e for e in other if e.phoneme != PAUSE]
    matcher = difflib.SequenceMatcher(
        None, [_key(e.phoneme) for e in mine], [_key(e.phoneme) for e in theirs], autojunk=False
    )
    moved: dict[int, float] = {}
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                a, b = mine[i].start_ms, theirs[j].start_ms
                if abs(a - b) < MAX_SHIFT_MS:
                    moved[id(mine[i])] = (1.0 - weight) * a + weight * b
    out: list[PhonemeEvent] = []
    for ev in events:
        start = moved.get(id(ev), ev.start_ms)
        if out:
            start = max(start, out[-1].start_ms + 1.0)
            last = out[-1]
            out[-1] = PhonemeEvent(last.start_ms, start, last.phoneme)
        out.append(PhonemeEvent(start, max(ev.end_ms, start + 1.0), ev.phoneme))
    return out


def fuse(
    sphinx: Sequence[PhonemeEvent], reference: Sequence[PhonemeEvent], trust: float
) -> list[PhonemeEvent]:
    """One timing from both (module docstring); ``trust`` from :func:`reference_trust`."""
    if trust >= 0.5:
        return pull_starts(reference, sphinx, 1.0 - trust)
    return pull_starts(sphinx, reference, trust)


def confirm_pauses(events: Sequence[PhonemeEvent], feats: Features) -> list[PhonemeEvent]:
    """Silences between phones that the audio does not confirm are split between them.

    The silence before the first phone ends, and the one after the last starts, no further
    into the audio than its speech region (the loud frames decide where speech is).
    """
    out = list(events)
    t0, t1 = speech_region(feats.quiet)
    first, last = t0 * HOP_MS - 0.5 * HOP_MS, t1 * HOP_MS - 0.5 * HOP_MS
    if len(out) >= 2 and out[0].phoneme == PAUSE and out[0].end_ms > first:
        nxt = out[1]
        edge = max(out[0].start_ms, min(first, nxt.end_ms - 1.0))
        out[0:2] = [PhonemeEvent(out[0].start_ms, edge, PAUSE),
                    PhonemeEvent(edge, nxt.end_ms, nxt.phoneme)]  # fmt: skip
    if len(out) >= 2 and out[-1].phoneme == PAUSE and out[-1].start_ms < last:
        prev = out[-2]
        edge = min(out[-1].end_ms, max(last, prev.start_ms + 1.0))
        out[-2:] = [PhonemeEvent(prev.start_ms, edge, prev.phoneme),
                    PhonemeEvent(edge, out[-1].end_ms, PAUSE)]  # fmt: skip
    k = 1
    while k < len(out) - 1:
        ev = out[k]
        if ev.phoneme == PAUSE:
            lo = int(ev.start_ms / HOP_MS + 0.5)
            hi = max(lo + 1, int(ev.end_ms / HOP_MS + 0.5))
            quiet = float(np.mean(feats.quiet[lo:hi])) if hi <= len(feats) else 1.0
            if quiet < QUIET_SHARE:
                mid = 0.5 * (ev.start_ms + ev.end_ms)
                prev, nxt = out[k - 1], out[k + 1]
                out[k - 1 : k + 2] = [
                    PhonemeEvent(prev.start_ms, mid, prev.phoneme),
                    PhonemeEvent(mid, nxt.end_ms, nxt.phoneme),
                ]
                continue
        k += 1
    return out
