# SPDX-License-Identifier: GPL-3.0-or-later
"""The embedded engine speaks with the chosen voice, or the one a request names, in its
language; a chosen voice that is gone leaves the built-in voice speaking and says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from companion.config import Settings
from companion.speech.engines import choose_engine
from companion.speech.pipeline import SpeechPipeline, language_of
from companion.speech.types import CancelToken
from companion.speech.voice_engine import VoiceEngine
from companion.speech.voices import voices_dir
from tests.support.packs import GERMAN_ID, german_voice

RATE = 22050
TEXT = "Guten Morgen! Wie geht es dir heute, mein Freund?"


def _phonemes(engine: VoiceEngine, voice: str | None) -> list[str]:
    chunks = list(engine.synthesize(TEXT, voice=voice, speed=1.0, cancel=CancelToken()))
    assert chunks and all(np.max(np.abs(c.samples)) > 0.01 for c in chunks)
    return [e.phoneme for c in chunks for e in c.phonemes]


@pytest.fixture
def german() -> str:
    german_voice(voices_dir())
    return GERMAN_ID


def test_the_chosen_voice_speaks_in_its_language(german: str, tmp_path: Path) -> None:
    engine = VoiceEngine(sample_rate=RATE, default=german, deterministic=True, cache_dir=tmp_path)
    engine.load()
    assert engine.voice is not None and engine.voice.id == german and engine.notice is None
    assert (engine.language, engine.espeak_voice) == ("de", "de")
    spoken = _phonemes(engine, None)
    english = _phonemes(engine, "en_US-joe-medium")  # a request names another voice
    assert spoken != english
    # espeak-ng's German: "heute" and "Freund" are hɔøtə, frɔønt; the English reading has no ø.
    assert "ø" in "".join(spoken) and "ø" not in "".join(english)
    assert engine.language_for("en_US-joe-medium") == "en"
    assert engine.language_for("alloy") == "de"  # a backend voice name: the default voice


def test_the_pipeline_prepares_and_splits_in_the_voices_language(
    german: str, tmp_path: Path
) -> None:
    engine = VoiceEngine(sample_rate=RATE, default=german, deterministic=True, cache_dir=tmp_path)
    pipeline = SpeechPipeline(engine=engine, sample_rate=RATE)
    pieces = [
        u.text
        for u in pipeline.utterances(1, "Siehe https://example.org, ca. 5 Euro.", voice=None,
                                     speed=1.0, cancel=CancelToken())
    ]  # fmt: skip
    assert " ".join(pieces) == "Siehe ein Link, ca. 5 Euro."


def test_a_missing_voice_leaves_the_built_in_voice_speaking(tmp_path: Path) -> None:
    engine = VoiceEngine(sample_rate=RATE, default="xx_XX-gone-low", cache_dir=tmp_path)
    engine.load()
    assert engine.voice is not None and engine.voice.builtin
    assert engine.notice == "The voice xx_XX-gone-low is not installed; the built-in voice speaks."


def test_a_broken_voice_leaves_the_built_in_voice_speaking(tmp_path: Path) -> None:
    folder = voices_dir()
    folder.mkdir(parents=True)
    bad = folder / "de_DE-broken-low.onnx"
    bad.write_bytes(b"garbage" * 100)
    (folder / "de_DE-broken-low.onnx.json").write_text(
        (german_voice(tmp_path / "g").parent / f"{GERMAN_ID}.onnx.json").read_text()
    )
    choice = choose_engine(Settings(local_voice="de_DE-broken-low"), client=None)
    assert choice.kind == "piper"
    assert choice.notice is not None and choice.notice.startswith(
        "The voice de_DE-broken-low could not be loaded ("
    )


def test_the_espeak_fallback_speaks_the_voices_language(german: str) -> None:
    choice = choose_engine(Settings(engine="espeak", local_voice=german), client=None)
    assert choice.kind == "espeak"
    assert getattr(choice.engine, "voice", None) == "de"
    assert language_of(choice.engine, None) == "de"
    plain = choose_engine(Settings(engine="espeak"), client=None)
    assert getattr(plain.engine, "voice", None) == "en-us"
    assert language_of(plain.engine, None) == "en"
