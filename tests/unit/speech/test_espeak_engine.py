# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: RUF001 - IPA letters are test data here
"""The espeak-ng engine, with the real library and its data."""

from __future__ import annotations

import itertools
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from companion.speech import espeak_engine
from companion.speech.espeak_engine import (
    MAX_DATA_PATH,
    PAUSE,
    EspeakEngine,
    EspeakUnavailable,
    default_data_path,
    short_data_path,
)
from companion.speech.types import Cancelled, CancelToken, PhonemeEvent


def _check_events(events: list[PhonemeEvent], duration_ms: float) -> None:
    assert events
    assert events[0].start_ms == pytest.approx(0.0)
    assert events[-1].end_ms == pytest.approx(duration_ms, abs=1.0)
    for prev, cur in itertools.pairwise(events):
        assert prev.end_ms == pytest.approx(cur.start_ms)
    for ev in events:
        assert 0.0 <= ev.start_ms < ev.end_ms <= duration_ms + 1e-6
        assert ev.phoneme


def test_synthesize_gives_audible_audio_and_ordered_ipa_events() -> None:
    engine = EspeakEngine(sample_rate=22050)
    chunks = list(
        engine.synthesize(
            "Hello world, my name is Bob.", voice=None, speed=1.0, cancel=CancelToken()
        )
    )
    assert len(chunks) == 1
    chunk = chunks[0]
    assert chunk.sample_rate == 22050
    assert chunk.samples.dtype == np.float32
    assert chunk.duration_ms > 1000
    rms = float(np.sqrt(np.mean(chunk.samples**2)))
    assert rms > 0.01
    assert float(np.max(np.abs(chunk.samples))) <= 1.0
    _check_events(chunk.phonemes, chunk.duration_ms)
    spoken = [ev.phoneme for ev in chunk.phonemes if ev.phoneme != PAUSE]
    # IPA, not espeak's ASCII mnemonics: "hello" has a schwa and an /oʊ/ diphthong.
    assert "ə" in "".join(spoken)
    assert any("oʊ" in p for p in spoken)
    assert spoken.count("b") == 2  # "Bob"
    # The comma is heard as a pause between "world" and "my".
    inner = chunk.phonemes[1:-1]
    assert any(ev.phoneme == PAUSE for ev in inner)


def test_resampled_output_keeps_the_timings() -> None:
    native = EspeakEngine(sample_rate=22050)
    resampled = EspeakEngine(sample_rate=48000)
    text = "Testing one two three."
    a = next(native.synthesize(text, voice=None, speed=1.0, cancel=CancelToken()))
    b = next(resampled.synthesize(text, voice=None, speed=1.0, cancel=CancelToken()))
    assert b.sample_rate == 48000
    # (espeak-ng's waveform differs by a few samples between runs.)
    assert b.duration_ms == pytest.approx(a.duration_ms, abs=20.0)
    assert [e.phoneme for e in a.phonemes] == [e.phoneme for e in b.phonemes]
    assert b.phonemes[-1].end_ms == pytest.approx(b.duration_ms, abs=1.0)


def test_speed_changes_the_rate() -> None:
    engine = EspeakEngine(sample_rate=22050)
    text = "This sentence is spoken at two different speeds."
    slow, rate, _ = engine.phonemes_with_times(text, speed=1.0)
    fast, _, _ = engine.phonemes_with_times(text, speed=2.0)
    assert rate == 22050
    assert len(fast) < 0.7 * len(slow)


def test_unknown_voice_falls_back_to_the_default() -> None:
    engine = EspeakEngine(sample_rate=22050)
    chunk = next(engine.synthesize("Hi.", voice="alloy", speed=1.0, cancel=CancelToken()))
    assert len(chunk.samples) > 0


def test_phonemes_with_times_are_inside_the_audio() -> None:
    engine = EspeakEngine(sample_rate=16000)
    samples, rate, events = engine.phonemes_with_times("Open the window, please.")
    assert rate == engine.native_rate == 22050
    _check_events(events, 1000.0 * len(samples) / rate)


def test_cancelled_token_stops_before_synthesis() -> None:
    engine = EspeakEngine(sample_rate=22050)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        list(engine.synthesize("Never spoken.", voice=None, speed=1.0, cancel=token))


class _CancelAfter(CancelToken):
    """Cancels itself after being asked a few times (from inside the synth callback)."""

    def __init__(self, asks: int) -> None:
        super().__init__()
        self.asks = asks

    @property
    def cancelled(self) -> bool:
        self.asks -= 1
        if self.asks < 0:
            self.cancel()
        return super().cancelled


def test_cancel_during_synthesis_stops_it_and_the_library_stays_usable() -> None:
    engine = EspeakEngine(sample_rate=22050)
    text = "This sentence goes on and on for quite a while, and then some more. " * 3
    token = _CancelAfter(3)
    with pytest.raises(Cancelled):
        list(engine.synthesize(text, voice=None, speed=1.0, cancel=token))
    samples, _, events = engine.phonemes_with_times("Still working.")
    assert float(np.sqrt(np.mean(samples**2))) > 0.01
    assert any(ev.phoneme != PAUSE for ev in events)


def test_empty_text_yields_nothing() -> None:
    engine = EspeakEngine(sample_rate=22050)
    assert list(engine.synthesize("   ", voice=None, speed=1.0, cancel=CancelToken())) == []


def test_long_data_path_is_aliased_to_a_short_one(tmp_path: Path) -> None:
    deep = tmp_path
    while len(str(deep)) < 200:
        deep = deep / "a-rather-long-folder-name"
    data = deep / "espeak-ng-data"
    shutil.copytree(default_data_path(), data)
    assert len(str(data)) > 160  # espeak-ng itself fails past ~150 bytes

    engine = EspeakEngine(sample_rate=22050, data_dir=data)
    try:
        samples, _, events = engine.phonemes_with_times("Hello from a deep folder.")
    finally:
        # Back to the default data for the other tests (the library is process-wide).
        EspeakEngine(sample_rate=22050).phonemes_with_times("Reset.")
    assert float(np.sqrt(np.mean(samples**2))) > 0.01
    assert any(ev.phoneme != PAUSE for ev in events)

    alias = short_data_path(data)
    assert len(str(alias)) <= MAX_DATA_PATH
    assert alias.resolve() == data.resolve()
    assert short_data_path(data) == alias  # made once, then reused


def test_short_paths_are_used_as_they_are() -> None:
    data = default_data_path()
    if len(str(data)) <= MAX_DATA_PATH:
        assert short_data_path(data) == data


def test_missing_data_is_a_typed_error(tmp_path: Path) -> None:
    engine = EspeakEngine(sample_rate=22050, data_dir=tmp_path / "nowhere")
    with pytest.raises(EspeakUnavailable):
        engine.phonemes_with_times("Nothing.")


def test_threads_are_serialised() -> None:
    engine = EspeakEngine(sample_rate=22050)
    expected, _, expected_events = engine.phonemes_with_times("One two three four.")
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(3):
                s, _, ev = engine.phonemes_with_times("One two three four.")
                results.append((len(s), len(ev)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 12
    # The waveform carries a little state from one utterance to the next (a few samples),
    # so compare loosely; a race inside the library would garble the result entirely.
    for n_samples, n_events in results:
        assert n_samples == pytest.approx(len(expected), rel=0.01)
        assert n_events == len(expected_events)
    assert espeak_engine._LOCK is not None


def test_liquids_merged_into_the_vowel_get_their_event_back() -> None:
    """espeak-ng reports no event for the /l/ of "sells"; the engine restores it."""
    engine = EspeakEngine(sample_rate=22050)
    samples, rate, events = engine.phonemes_with_times("She sells shells.")
    spoken = [ev.phoneme for ev in events if ev.phoneme != PAUSE]
    assert [p.lstrip("\u02c8") for p in spoken] == [
        "ʃ",
        "iː",
        "s",
        "ɛ",
        "l",
        "z",
        "ʃ",
        "ɛ",
        "l",
        "z",
    ]
    _check_events(events, 1000.0 * len(samples) / rate)


def test_phonemize_reads_words_numbers_and_names_without_audio() -> None:
    engine = EspeakEngine(sample_rate=22050)
    assert engine.phonemize("hello") == ["h", "ə", "l", "ˈoʊ"]
    assert "t" in engine.phonemize("42") and "f" in engine.phonemize("42")  # forty-two
    assert engine.phonemize("Siobhan")[0] == "ʃ"
    assert engine.phonemize("") == []
