# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import io
import itertools
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from companion.cli import build_parser
from companion.commands import speak as speak_mod
from companion.commands.speak import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_SIGNED_OUT,
    SAMPLE_RATE,
    SpeakError,
    read_text,
    run_speak,
    speak,
)
from companion.speech import piper_engine
from companion.speech.piper_engine import PiperEngine
from companion.speech.types import AudioChunk, CancelToken
from tests.support.reference_backend import ReferenceBackend

REPLY = "Hello there my friend, how are you today? I am **fine**. See https://example.com."


def _run(*argv: str) -> int:
    return run_speak(build_parser().parse_args(["speak", *argv]))


def _stderr_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


# -- input -------------------------------------------------------------------------------------


def test_read_text_argument_and_stdin() -> None:
    assert read_text("Hi there") == "Hi there"
    assert read_text("-", io.BytesIO("\ufeffCafé ☕ time.\n".encode())) == "Café ☕ time.\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"  \n\t ", "empty"),
        (b"\xff\xfe\xfa junk \x80", "not UTF-8"),
        (b"ELF\x00\x01\x02\x00\x00binary", "binary"),
        (bytes(range(1, 32)) * 4, "binary"),
    ],
)
def test_read_text_rejects_bad_stdin(data: bytes, message: str) -> None:
    with pytest.raises(SpeakError, match=message):
        read_text("-", io.BytesIO(data))


def test_read_text_rejects_blank_argument() -> None:
    with pytest.raises(SpeakError, match="empty"):
        read_text("   ")


def test_junk_stdin_exits_1_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xc3\x28\xa0\xa1")))
    assert _run("-") == EXIT_FAILED
    assert _stderr_lines(capsys) == ["companion speak: standard input is not UTF-8 text"]


def test_bad_speed(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("Hello.", "--speed", "3") == EXIT_FAILED
    assert _stderr_lines(capsys) == ["companion speak: --speed must be between 0.5 and 2.0"]


# -- speaking ------------------------------------------------------------------------------------


def test_output_and_visemes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav, visemes = tmp_path / "out.wav", tmp_path / "out.json"
    assert _run(REPLY, "--output", str(wav), "--visemes", str(visemes)) == EXIT_OK
    assert _stderr_lines(capsys) == []
    info = soundfile.info(str(wav))
    assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
    audio, _rate = soundfile.read(str(wav), dtype="float32")
    assert 3.0 < len(audio) / SAMPLE_RATE < 9.0
    assert np.max(np.abs(audio)) > 0.2
    cues = json.loads(visemes.read_text())
    assert cues and set(cues[0]) == {"start_ms", "end_ms", "viseme"}
    assert all(a["end_ms"] <= b["start_ms"] + 1e-6 for a, b in itertools.pairwise(cues))
    duration_ms = 1000 * len(audio) / SAMPLE_RATE
    assert cues[0]["start_ms"] < 300 and duration_ms - 600 < cues[-1]["end_ms"] <= duration_ms + 20
    assert {c["viseme"] for c in cues} >= {"aa", "E", "PP"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_slower_speech_is_longer(tmp_path: Path) -> None:
    assert _run("Testing the speed.", "--output", str(tmp_path / "a.wav")) == EXIT_OK
    assert _run("Testing the speed.", "--speed", "0.5", "--output", str(tmp_path / "b.wav")) == 0
    a = soundfile.info(str(tmp_path / "a.wav")).frames
    b = soundfile.info(str(tmp_path / "b.wav")).frames
    assert b > 1.6 * a


def test_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing" / "out.wav"
    assert _run("Hi.", "--output", str(target)) == EXIT_FAILED
    (line,) = _stderr_lines(capsys)
    assert line.startswith("companion speak: cannot write the audio file") and str(target) in line


def test_settings_notice_does_not_stop_speech(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = Path(speak_mod.config.settings_path())
    cfg.parent.mkdir(parents=True)
    cfg.write_text("{not json")
    assert _run("Hi.", "--output", str(tmp_path / "o.wav")) == EXIT_OK
    (line,) = _stderr_lines(capsys)
    assert "Settings file was damaged" in line


def test_no_voice_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(piper_engine, "espeak_data_dir", lambda: tmp_path / "missing")
    monkeypatch.setitem(sys.modules, "companion.speech.espeak_engine", None)
    assert _run("Hi.", "--output", str(tmp_path / "o.wav")) == EXIT_FAILED
    (line,) = _stderr_lines(capsys)
    assert line.startswith("companion speak: No voice available")


class _Recorder:
    """Piper, noting how much audio the player held whenever a piece starts synthesising."""

    name = "recorder"

    def __init__(self, engine: PiperEngine, player: object) -> None:
        self.engine = engine
        self.player = player
        self.queued_at_start: list[float] = []

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        self.queued_at_start.append(self.player.queued_ms())  # type: ignore[attr-defined]
        yield from self.engine.synthesize(text, voice=voice, speed=speed, cancel=cancel)


def test_playback_overlaps_synthesis(tmp_path: Path) -> None:
    from companion.audio.player import Player

    engine = PiperEngine(sample_rate=SAMPLE_RATE, deterministic=True, cache_dir=tmp_path)
    player = Player(sample_rate=SAMPLE_RATE)
    try:
        recorder = _Recorder(engine, player)
        reply = speak(
            engine=recorder,
            text="Hi! Second piece here. And the third one.",
            voice=None,
            speed=1.5,
            cancel=CancelToken(),
            player=player,
        )
        assert player.finished
    finally:
        player.close()
    assert reply.pieces == 3
    # Piece 1 was already with the player when piece 2 started to be made, and so on.
    assert recorder.queued_at_start[0] == 0
    assert 0 < recorder.queued_at_start[1] < recorder.queued_at_start[2]


# -- the backend -----------------------------------------------------------------------------------


@pytest.fixture
def backend_env(
    reference_backend: ReferenceBackend, monkeypatch: pytest.MonkeyPatch
) -> ReferenceBackend:
    monkeypatch.setenv("COMPANION_BACKEND_URL", reference_backend.url)
    monkeypatch.setenv("COMPANION_TOKEN", reference_backend.token)
    return reference_backend


def test_backend_voice(
    backend_env: ReferenceBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav, visemes = tmp_path / "b.wav", tmp_path / "b.json"
    assert (
        _run("Hello from the backend. Bye.", "--output", str(wav), "--visemes", str(visemes)) == 0
    )
    assert _stderr_lines(capsys) == []
    assert len(backend_env.speech_requests()) == 2
    assert soundfile.info(str(wav)).frames > SAMPLE_RATE // 2
    assert json.loads(visemes.read_text())


def test_backend_401_exits_3(
    backend_env: ReferenceBackend,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COMPANION_TOKEN", "expired")
    assert _run("Hello.", "--output", "unused.wav") == EXIT_SIGNED_OUT
    (line,) = _stderr_lines(capsys)
    assert "sign in again" in line and "expired" not in line


def test_the_stored_sign_in_is_used_without_the_environment(
    reference_backend: ReferenceBackend,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from companion.backend.auth import SessionStore

    monkeypatch.setenv("COMPANION_BACKEND_URL", reference_backend.url)
    SessionStore(base_url=reference_backend.url, env={}).store(reference_backend.token)
    assert _run("Hello.", "--output", str(tmp_path / "s.wav")) == EXIT_OK
    (request,) = reference_backend.speech_requests()
    assert request.headers["Authorization"] == f"Bearer {reference_backend.token}"


def test_an_expired_stored_sign_in_exits_3_without_a_request(
    reference_backend: ReferenceBackend,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from companion.backend.auth import SessionStore
    from tests.support.reference_auth import ReferenceAuth

    auth = ReferenceAuth.install(reference_backend)
    monkeypatch.setenv("COMPANION_BACKEND_URL", reference_backend.url)
    SessionStore(base_url=reference_backend.url, env={}).store(auth.issue(lifetime_s=-60))
    assert _run("Hello.", "--output", "unused.wav") == EXIT_SIGNED_OUT
    (line,) = _stderr_lines(capsys)
    assert "the stored sign-in has expired" in line
    assert reference_backend.requests == []


def test_backend_error_exits_1(
    backend_env: ReferenceBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend_env.inject(status=500, body="html")
    assert _run("Hello.", "--output", str(tmp_path / "o.wav")) == EXIT_FAILED
    (line,) = _stderr_lines(capsys)
    assert line.startswith("companion speak: ") and "HTTP 500" in line
    assert line.count("500") == 1 and "html" not in line.lower()
    assert not (tmp_path / "o.wav").exists()
