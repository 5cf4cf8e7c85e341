# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: RUF001 - IPA letters are test data here
"""The IPA → viseme map and cues from phoneme timings (the ``h`` rule)."""

from __future__ import annotations

from companion.speech.types import PhonemeEvent
from companion.speech.visemes import cues_from_phonemes, ipa_to_viseme


def test_h_takes_the_shape_of_the_vowel_after_it() -> None:
    cues = cues_from_phonemes(
        [
            PhonemeEvent(0, 50, "h"),
            PhonemeEvent(50, 150, "ˈuː"),  # "who"
            PhonemeEvent(150, 200, "h"),
            PhonemeEvent(200, 260, "ˈaɪ"),  # "high": the first shape of the diphthong
        ]
    )
    assert [(c.start_ms, c.end_ms, c.viseme) for c in cues] == [
        (0, 150, "U"),
        (150, 230, "aa"),
        (230, 260, "I"),
    ]


def test_h_without_a_vowel_after_it_stays_kk() -> None:
    cues = cues_from_phonemes([PhonemeEvent(0, 50, "h"), PhonemeEvent(50, 100, "t")])
    assert [c.viseme for c in cues] == ["kk", "DD"]
    # Not touching the vowel (a gap): no borrowing either.
    cues = cues_from_phonemes([PhonemeEvent(0, 50, "h"), PhonemeEvent(80, 150, "a")])
    assert [c.viseme for c in cues] == ["kk", "aa"]
    assert ipa_to_viseme("h") == ipa_to_viseme("ɦ") == "kk"
