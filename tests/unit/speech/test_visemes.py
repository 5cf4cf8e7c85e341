# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: RUF001, RUF003 - IPA letters are test data here
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


def test_a_stress_mark_with_time_gives_it_to_the_vowel_after_it() -> None:
    # Piper: "p", "ˈ", "a" each timed; the stress's 40 ms are the vowel's, not the p's.
    cues = cues_from_phonemes(
        [PhonemeEvent(0, 50, "p"), PhonemeEvent(50, 90, "ˈ"), PhonemeEvent(90, 200, "a")]
    )
    assert [(c.start_ms, c.end_ms, c.viseme) for c in cues] == [(0, 50, "PP"), (50, 200, "aa")]


def test_a_length_mark_belongs_to_the_vowel_before_it() -> None:
    cues = cues_from_phonemes(
        [PhonemeEvent(0, 80, "i"), PhonemeEvent(80, 140, "ː"), PhonemeEvent(140, 200, "t")]
    )
    assert [(c.start_ms, c.end_ms, c.viseme) for c in cues] == [(0, 140, "I"), (140, 200, "DD")]


def test_r_coloured_vowels_are_round_vowels() -> None:
    assert ipa_to_viseme("ɚ") == ipa_to_viseme("ɝ") == "U"
    assert ipa_to_viseme("ɹ") == "RR"


def test_a_short_word_space_is_shared_and_a_long_one_is_a_pause() -> None:
    events = [PhonemeEvent(0, 100, "a"), PhonemeEvent(100, 140, " "), PhonemeEvent(140, 200, "t")]
    cues = cues_from_phonemes(events)
    assert [(c.start_ms, c.end_ms, c.viseme) for c in cues] == [(0, 120, "aa"), (120, 200, "DD")]
    events[1:3] = [PhonemeEvent(100, 400, " "), PhonemeEvent(400, 460, "t")]
    assert [c.viseme for c in cues_from_phonemes(events)] == ["aa", "sil", "DD"]
