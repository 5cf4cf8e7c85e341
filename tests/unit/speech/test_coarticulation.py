# SPDX-License-Identifier: GPL-3.0-or-later
"""The animator's pass: no flicker, closures always seen, rounding anticipated."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from companion.speech.coarticulation import (
    ANTICIPATION_MS,
    FRAME_MS,
    MIN_CLOSURE_MS,
    animate,
    anticipate_rounding,
    drop_flicker,
)
from companion.speech.types import VisemeCue


def _shapes(cues: list[VisemeCue]) -> list[tuple[float, float, str]]:
    return [(round(c.start_ms, 1), round(c.end_ms, 1), c.viseme) for c in cues]


def test_a_shape_shorter_than_a_frame_joins_its_own_kind() -> None:
    cues = [VisemeCue(0, 80, "aa"), VisemeCue(80, 88, "E"), VisemeCue(88, 120, "DD")]
    out = drop_flicker(cues, end_ms=120)
    assert _shapes(out) == [(0, 88, "aa"), (88, 120, "DD")]


def test_a_rest_shorter_than_a_frame_is_bridged_and_a_long_one_kept() -> None:
    cues = [VisemeCue(0, 60, "aa"), VisemeCue(70, 130, "E"), VisemeCue(300, 360, "O")]
    out = drop_flicker(cues, end_ms=360)
    assert _shapes(out) == [(0, 70, "aa"), (70, 130, "E"), (300, 360, "O")]


def test_a_short_closure_is_never_dropped_and_is_held() -> None:
    cues = [VisemeCue(0, 100, "aa"), VisemeCue(100, 105, "PP"), VisemeCue(105, 200, "E")]
    out = animate(cues, end_ms=200)
    closure = [c for c in out if c.viseme == "PP"]
    assert len(closure) == 1
    assert closure[0].end_ms - closure[0].start_ms >= MIN_CLOSURE_MS - 1e-6


def test_consonants_before_a_rounded_vowel_take_its_shape() -> None:
    # "stew": s t u — the lips round from the s; a closure keeps its own shape.
    cues = [VisemeCue(0, 60, "SS"), VisemeCue(60, 100, "DD"), VisemeCue(100, 200, "U")]
    assert [c.viseme for c in anticipate_rounding(cues)] == ["U", "U", "U"]
    cues = [VisemeCue(0, 60, "PP"), VisemeCue(60, 100, "DD"), VisemeCue(100, 200, "O")]
    assert [c.viseme for c in anticipate_rounding(cues)] == ["PP", "O", "O"]
    # Only ANTICIPATION_MS ahead: a long consonant rounds its last part only.
    cues = [VisemeCue(0, 300, "SS"), VisemeCue(300, 400, "U")]
    out = anticipate_rounding(cues)
    assert _shapes(out) == [(0, 300 - ANTICIPATION_MS, "SS"), (300 - ANTICIPATION_MS, 300, "U"),
                            (300, 400, "U")]  # fmt: skip
    # Wide vowels are not anticipated.
    cues = [VisemeCue(0, 60, "SS"), VisemeCue(60, 160, "I")]
    assert [c.viseme for c in anticipate_rounding(cues)] == ["SS", "I"]


_VISEMES = st.sampled_from(["PP", "FF", "DD", "SS", "aa", "E", "I", "O", "U", "RR"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(1.0, 90.0), st.floats(0.0, 60.0), _VISEMES), max_size=25))
def test_animated_cues_are_ordered_unflickering_and_inside_the_audio(
    pieces: list[tuple[float, float, str]],
) -> None:
    cues: list[VisemeCue] = []
    t = 0.0
    for length, gap, viseme in pieces:
        cues.append(VisemeCue(t, t + length, viseme))
        t += length + gap
    end = t
    out = animate(cues, end_ms=end)
    for a, b in itertools.pairwise(out):
        assert a.end_ms <= b.start_ms + 1e-6
    for c in out:
        assert 0.0 <= c.start_ms < c.end_ms <= end + 1e-6
        if c.viseme != "PP":
            assert c.end_ms - c.start_ms >= FRAME_MS - 1e-6 or c.end_ms >= end - 1e-6
    closures_in = sum(1 for c in cues if c.viseme == "PP")
    assert (closures_in > 0) == any(c.viseme == "PP" for c in out)
