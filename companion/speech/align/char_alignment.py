# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: RUF002 - typographic signs in the docs
"""Cues from a backend's character alignment: each word's phonemes over its characters."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence

from companion.speech.align.espeak import default_engine
from companion.speech.coarticulation import animate
from companion.speech.espeak_engine import EspeakEngine, EspeakUnavailable
from companion.speech.types import CharAlignment, PhonemeEvent, VisemeCue
from companion.speech.visemes import cues_from_phonemes, merge_runs

log = logging.getLogger("companion.speech")

_BRIDGE_MS = 80.0

def cues_from_char_alignment(
    text: str,
    alignment: Sequence[CharAlignment],
    *,
    engine: EspeakEngine | None = None,
) -> list[VisemeCue]:
    """Viseme cues from a backend's character alignment of ``text``.

    espeak-ng reads ``text`` (so each word is pronounced in context); each word's
    phonemes are spread over the time its characters take, in proportion to espeak-ng's
    own phoneme durations. Time between words is rest; the alignment's characters may
    differ a little from ``text`` (they are matched with difflib).
    """
    timed = [a for a in alignment if a.end_ms >= a.start_ms]
    if not timed or not text.strip():
        return []
    try:
        words = (engine or default_engine()).spoken_words(text)
    except EspeakUnavailable as exc:
        log.info("[align] espeak-ng unavailable (%s): no cues from alignment", type(exc).__name__)
        return []
    aligned_text = "".join(a.char for a in timed)
    index = _char_map(text, aligned_text)
    per_word: list[list[PhonemeEvent]] = []
    for word in words:
        if not word.phonemes:
            continue
        hits = [index[i] for i in range(word.char_start, word.char_end) if index[i] >= 0]
        spoken = [timed[i] for i in hits if not timed[i].char.isspace()]
        if not spoken:
            continue
        start = min(a.start_ms for a in spoken)
        end = max(a.end_ms for a in spoken)
        if per_word and start < per_word[-1][-1].end_ms:
            start = per_word[-1][-1].end_ms  # words sharing characters ("42" → forty two)
        if end <= start:
            continue
        total = sum(p.end_ms - p.start_ms for p in word.phonemes) or 1.0
        t = start
        events: list[PhonemeEvent] = []
        for p in word.phonemes:
            d = (end - start) * (p.end_ms - p.start_ms) / total
            events.append(PhonemeEvent(t, t + d, p.phoneme))
            t += d
        per_word.append(events)
    timed_events: list[PhonemeEvent] = []
    for k, events in enumerate(per_word):
        if k + 1 < len(per_word):
            gap_end = per_word[k + 1][0].start_ms
            last = events[-1]
            if 0.0 < gap_end - last.end_ms < _BRIDGE_MS:
                # The space between two words is no pause: hold the mouth till the next.
                events[-1] = PhonemeEvent(last.start_ms, gap_end, last.phoneme)
        timed_events.extend(events)
    cues = [c for c in cues_from_phonemes(timed_events) if c.viseme != "sil"]
    return animate(merge_runs(cues), end_ms=max(a.end_ms for a in timed))


def _char_map(text: str, aligned: str) -> list[int]:
    """For each character of ``text``, its index in ``aligned`` (−1 when unmatched)."""
    out = [-1] * len(text)
    if text == aligned:
        return list(range(len(text)))
    matcher = difflib.SequenceMatcher(None, text, aligned, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            out[block.a + k] = block.b + k
    return out
