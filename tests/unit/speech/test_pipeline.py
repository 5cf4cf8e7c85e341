# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from companion.speech.pipeline import (
    SpeechPipeline,
    Utterance,
    WordTiming,
    words_from_alignment,
    words_from_phonemes,
)
from companion.speech.piper_engine import NATIVE_RATE, PiperEngine
from companion.speech.types import (
    AudioChunk,
    Cancelled,
    CancelToken,
    CharAlignment,
    PhonemeEvent,
    VisemeCue,
)

RATE = 24000
HOP_MS = 1000.0 * 256 / NATIVE_RATE
REPLY = (
    "# Hi!\n\nHello there my friend, how are you doing today? *waves* "
    "Dr. Smith paid $3.14 for it.\n\n```python\nprint('never read')\n```\n\nSee https://x.org."
)


@pytest.fixture(scope="module")
def piper(tmp_path_factory: pytest.TempPathFactory) -> PiperEngine:
    engine = PiperEngine(
        sample_rate=RATE, deterministic=True, cache_dir=tmp_path_factory.mktemp("cache")
    )
    engine.load()
    return engine


def _run(pipeline: SpeechPipeline, text: str = REPLY) -> list[Utterance]:
    return list(pipeline.utterances(7, text, voice=None, speed=1.0, cancel=CancelToken()))


def test_real_piper_reply(piper: PiperEngine) -> None:
    utterances = _run(SpeechPipeline(engine=piper, sample_rate=RATE))
    assert [u.text for u in utterances] == [
        "Hi!",  # already short: only the first piece is ever cut at a comma
        "Hello there my friend, how are you doing today?",
        "Dr. Smith paid $3.14 for it.",
        "See a link.",
    ]
    assert [u.index for u in utterances] == list(range(4))
    for u in utterances:
        assert u.reply_id == 7 and u.sample_rate == RATE
        assert u.samples.dtype == np.float32 and len(u.samples) > 0
        assert u.viseme_source == "phonemes"
        cues = u.timeline.cues
        assert cues, u.text
        # The timeline covers the speech: it starts near the beginning and ends near the end.
        assert 0.0 <= cues[0].start_ms < 250.0
        assert u.duration_ms - 400.0 < cues[-1].end_ms <= u.duration_ms + HOP_MS
        open_frames = sum(
            1 for t in np.arange(0, u.duration_ms, 10) if u.timeline.at(t).openness > 0.4
        )
        assert open_frames > 0
        assert u.words, u.text
        spoken = [u.text[w.char_start : w.char_end] for w in u.words]
        assert spoken == [w.strip(".,!?$") for w in u.text.split() if any(c.isalnum() for c in w)]
        starts = [w.start_ms for w in u.words]
        assert starts == sorted(starts)
        assert all(0.0 <= w.start_ms < w.end_ms <= u.duration_ms + HOP_MS for w in u.words)


def test_cancel_stops_between_pieces(piper: PiperEngine) -> None:
    pipeline = SpeechPipeline(engine=piper, sample_rate=RATE)
    token = CancelToken()
    it = pipeline.utterances(1, REPLY, voice=None, speed=1.0, cancel=token)
    first = next(it)
    assert first.index == 0
    token.cancel()
    with pytest.raises(Cancelled):
        next(it)
    cancelled = CancelToken()
    cancelled.cancel()
    with pytest.raises(Cancelled):
        next(pipeline.utterances(2, REPLY, voice=None, speed=1.0, cancel=cancelled))


class ScriptedEngine:
    """Yields prepared chunks (the shapes a backend or an engine can produce)."""

    name = "scripted"

    def __init__(self, chunks: list[AudioChunk]) -> None:
        self.chunks = chunks
        self.texts: list[str] = []

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        self.texts.append(text)
        yield from self.chunks


def _tone(ms: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(rate * ms / 1000)) / rate
    return (0.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)


def test_backend_cues_win_and_are_shifted() -> None:
    chunks = [
        AudioChunk(
            _tone(500),
            RATE,
            visemes=[VisemeCue(100, 200, "aa")],
            phonemes=[PhonemeEvent(0, 500, "m")],
        ),
        AudioChunk(_tone(250, 16000), 16000, visemes=[VisemeCue(0, 100, "O")]),
    ]
    (u,) = _run(SpeechPipeline(engine=ScriptedEngine(chunks), sample_rate=RATE), "Hello.")
    assert u.viseme_source == "backend"
    assert len(u.samples) == int(RATE * 0.75)
    assert [(c.start_ms, c.end_ms, c.viseme) for c in u.timeline.cues] == [
        (100, 200, "aa"),
        (500, 600, "O"),
    ]


def test_phonemes_are_shifted_per_chunk() -> None:
    chunks = [
        AudioChunk(_tone(300), RATE, phonemes=[PhonemeEvent(0, 300, "a")]),
        AudioChunk(
            _tone(200), RATE, phonemes=[PhonemeEvent(0, 100, "_"), PhonemeEvent(100, 200, "o")]
        ),
    ]
    (u,) = _run(SpeechPipeline(engine=ScriptedEngine(chunks), sample_rate=RATE), "Ah oh.")
    assert u.viseme_source == "phonemes"
    assert [(c.start_ms, c.end_ms, c.viseme) for c in u.timeline.cues] == [
        (0, 300, "aa"),
        (400, 500, "O"),
    ]
    assert u.words == [WordTiming(0, 300, 0, 2), WordTiming(400, 500, 3, 5)]


def test_alignment_then_envelope() -> None:
    chunks = [AudioChunk(_tone(400), RATE)]
    calls: list[tuple[str, int, int]] = []

    def aligner(text: str, samples: np.ndarray, rate: int) -> list[VisemeCue]:
        calls.append((text, len(samples), rate))
        return [VisemeCue(10, 50, "E")]

    (u,) = _run(
        SpeechPipeline(engine=ScriptedEngine(chunks), sample_rate=RATE, aligner=aligner), "Eh."
    )
    assert u.viseme_source == "align" and calls == [("Eh.", len(chunks[0].samples), RATE)]
    (u,) = _run(
        SpeechPipeline(engine=ScriptedEngine(chunks), sample_rate=RATE, aligner=False), "Eh."
    )
    assert u.viseme_source == "envelope"
    assert u.timeline.cues and u.timeline.cues[-1].end_ms <= 400

    def broken(text: str, samples: np.ndarray, rate: int) -> list[VisemeCue]:
        raise RuntimeError("aligner bug")

    (u,) = _run(
        SpeechPipeline(engine=ScriptedEngine(chunks), sample_rate=RATE, aligner=broken), "Eh."
    )
    assert u.viseme_source == "envelope"


def test_character_alignment_gives_the_visemes() -> None:
    """A backend's character alignment is used before text-to-audio alignment."""
    text = "Mama"
    alignment = [CharAlignment(ch, 100 + 100 * i, 200 + 100 * i) for i, ch in enumerate(text)]
    chunks = [AudioChunk(_tone(600), RATE, alignment=alignment)]

    def aligner(text: str, samples: np.ndarray, rate: int) -> list[VisemeCue]:
        raise AssertionError("the character alignment should have been used")

    (u,) = _run(
        SpeechPipeline(engine=ScriptedEngine(chunks), sample_rate=RATE, aligner=aligner), text
    )
    assert u.viseme_source == "char_alignment"
    shapes = [c.viseme for c in u.timeline.cues]
    assert "PP" in shapes and "aa" in shapes
    assert u.timeline.cues[0].start_ms >= 100 - 1e-6 and u.timeline.duration_ms <= 500 + 1e-6


def test_real_aligner_when_present() -> None:
    pytest.importorskip("companion.speech.align")
    (u,) = _run(
        SpeechPipeline(engine=ScriptedEngine([AudioChunk(_tone(600), RATE)]), sample_rate=RATE),
        "Hello.",
    )
    assert u.viseme_source in ("align", "envelope")


def test_silent_engine_yields_nothing() -> None:
    assert _run(SpeechPipeline(engine=ScriptedEngine([]), sample_rate=RATE), "Hello. Bye.") == []


def test_words_when_counts_differ() -> None:
    # "3.14" is read as four words; the others keep one spoken word each.
    events: list[PhonemeEvent] = []
    t = 0.0
    for word in ["payd", "three", "point", "one", "four", "now"]:
        for ph in word:
            events.append(PhonemeEvent(t, t + 50, ph))
            t += 50
        events.append(PhonemeEvent(t, t + 20, " "))
        t += 20
    words = words_from_phonemes("Paid 3.14 now.", events)
    assert [(w.char_start, w.char_end) for w in words] == [(0, 4), (5, 9), (10, 13)]
    assert (
        words[0].end_ms == 200 and words[1].start_ms == 220 and words[2].start_ms > words[1].end_ms
    )


def test_words_from_alignment() -> None:
    alignment = [CharAlignment(ch, 100.0 * i, 100.0 * i + 90) for i, ch in enumerate("Hi you.")]
    assert words_from_alignment("Hi you.", alignment) == [
        WordTiming(0, 190, 0, 2),
        WordTiming(300, 590, 3, 6),
    ]


def test_pipeline_is_independent_of_config_dir(piper: PiperEngine, tmp_path: Path) -> None:
    # The engine was loaded once; a pipeline never touches settings or the cache itself.
    assert not (tmp_path / "config").exists()
    assert (
        _run(SpeechPipeline(engine=piper, sample_rate=NATIVE_RATE), "Okay.")[0].sample_rate
        == NATIVE_RATE
    )
