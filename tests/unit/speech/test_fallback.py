# SPDX-License-Identifier: GPL-3.0-or-later
"""A server with no voice: the embedded voice takes over for the session, one notice, no crash
report; in the worker thread, the notice arrives as a signal before the piece it concerns."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pytest
from PySide6.QtCore import QObject, QThread, Signal, Slot
from pytestqt.qtbot import QtBot

from companion.backend.client import BackendClient
from companion.backend.errors import HttpError, ModelNotFound, NoSpeechRoute
from companion.config import Settings
from companion.speech.engines import choose_engine
from companion.speech.espeak_engine import EspeakEngine
from companion.speech.fallback import SessionFallback, notice_for, take_notice
from companion.speech.remote_engine import RemoteEngine
from companion.speech.types import AudioChunk, CancelToken, SpeechEngine
from companion.speech.worker import SpeechWorker
from tests.support.fixtures import RecordingTransport
from tests.support.reference_backend import ReferenceBackend

RATE = 22050
TEXT = "Nobody here can speak, so I will."


@pytest.fixture
def client(reference_backend: ReferenceBackend) -> Iterator[BackendClient]:
    with BackendClient(
        base_url=reference_backend.openai_url, token=lambda: reference_backend.token
    ) as c:
        yield c


def _speak(engine: SpeechEngine, text: str = TEXT) -> np.ndarray:
    chunks = list(engine.synthesize(text, voice="alloy", speed=1.0, cancel=CancelToken()))
    assert chunks and all(c.sample_rate == RATE for c in chunks)
    return np.concatenate([c.samples for c in chunks])


def _fallback(client: BackendClient) -> SessionFallback:
    remote = RemoteEngine(client=client, sample_rate=RATE)
    return SessionFallback(primary=remote, embedded=lambda: EspeakEngine(sample_rate=RATE))


def test_no_speech_route_hands_over_for_the_session(
    client: BackendClient,
    reference_backend: ReferenceBackend,
    sentry_transport: RecordingTransport,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reference_backend.speech.route = False
    engine = _fallback(client)
    assert engine.name == "remote" and take_notice(engine) is None
    with caplog.at_level(logging.INFO):
        samples = _speak(engine)
    assert float(np.max(np.abs(samples))) > 0.05  # the embedded voice said it
    assert engine.switched and engine.name == "espeak-ng"
    notice = take_notice(engine)
    assert notice == (
        "This server has no voice (HTTP 404), so espeak-ng speaks instead "
        "(choose it under Settings → Voice → Voice engine to stop asking the server)."
    )
    assert take_notice(engine) is None  # once
    _speak(engine, "And again.")
    assert len(reference_backend.speech_requests()) == 1  # the server is not asked again
    assert sentry_transport.events == []
    lines = [r.getMessage() for r in caplog.records if "[backend_api]" in r.getMessage()]
    assert len(lines) == 1 and "failure=route_missing" in lines[0]
    assert all(
        r.levelno == logging.INFO for r in caplog.records if "[backend_api]" in r.getMessage()
    )


def test_an_unknown_voice_model_hands_over_and_names_it(
    client: BackendClient, reference_backend: ReferenceBackend, sentry_transport: RecordingTransport
) -> None:
    reference_backend.strict_models = True
    remote = RemoteEngine(client=client, sample_rate=RATE, model="kokoro-9")
    engine = SessionFallback(primary=remote, embedded=lambda: EspeakEngine(sample_rate=RATE))
    _speak(engine)
    notice = take_notice(engine)
    assert notice is not None and "\u201ckokoro-9\u201d" in notice and "Settings" in notice
    assert sentry_transport.events == []


def test_other_errors_are_not_a_missing_voice(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    reference_backend.inject(status=403, path="/v1/audio/speech")
    engine = _fallback(client)
    with pytest.raises(HttpError):
        _speak(engine)
    assert not engine.switched and take_notice(engine) is None


def test_a_working_server_is_never_replaced(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    engine = _fallback(client)
    _speak(engine)
    _speak(engine, "Twice.")
    assert not engine.switched and len(reference_backend.speech_requests()) == 2


class _Broken:
    """Yields audio, then fails as if the route vanished mid-reply."""

    name = "remote"

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        yield AudioChunk(np.zeros(100, np.float32), RATE, text=text)
        raise NoSpeechRoute("POST", "/v1/audio/speech", 404)


def test_a_failure_after_audio_is_not_hidden() -> None:
    engine = SessionFallback(primary=_Broken(), embedded=lambda: EspeakEngine(sample_rate=RATE))
    with pytest.raises(NoSpeechRoute):
        list(engine.synthesize(TEXT, voice=None, speed=1.0, cancel=CancelToken()))
    assert not engine.switched


def test_notice_wording() -> None:
    err = ModelNotFound("POST", "/v1/audio/speech", 404, "tts-x")
    assert "the built-in voice" in notice_for(err, "piper")
    assert "\n" not in notice_for(NoSpeechRoute("POST", "/v1/audio/speech", 405), "piper")


def test_the_backend_engine_stands_in_front_of_piper(client: BackendClient) -> None:
    choice = choose_engine(Settings(response_format="mp3"), client=client, sample_rate=RATE)
    assert choice.kind == "remote" and isinstance(choice.engine, SessionFallback)
    remote = choice.engine.primary
    assert isinstance(remote, RemoteEngine) and remote.plan.candidates()[0] == "mp3"


class _Notices(QObject):
    """The worker's signals, received on the GUI thread (as the app receives them)."""

    notice = Signal(str)
    finished = Signal(int)
    order: list[str]

    def __init__(self, worker: SpeechWorker) -> None:
        super().__init__()
        self.order = []
        worker.notice.connect(self._on_notice)
        worker.utterance_ready.connect(self._on_piece)
        worker.finished.connect(self._on_finished)

    @Slot(int)
    def _on_finished(self, reply_id: int) -> None:
        self.finished.emit(reply_id)

    @Slot(str)
    def _on_notice(self, text: str) -> None:
        self.order.append("notice")
        self.notice.emit(text)

    @Slot(object)
    def _on_piece(self, _u: object) -> None:
        self.order.append("piece")


class _Requests(QObject):
    speak = Signal(int, str, object, float)


def test_the_worker_emits_the_notice_once_before_the_piece(
    qtbot: QtBot, client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    reference_backend.speech.route = False
    worker = SpeechWorker(engine_factory=lambda: _fallback(client), sample_rate=RATE)
    thread = QThread()
    worker.moveToThread(thread)
    requests = _Requests()
    requests.speak.connect(worker.speak)
    seen = _Notices(worker)
    thread.start()
    try:
        with qtbot.wait_signal(seen.finished, timeout=30000):
            requests.speak.emit(1, "First piece. Second piece.", "alloy", 1.0)
        with qtbot.wait_signal(seen.finished, timeout=30000):
            requests.speak.emit(2, "Another reply.", None, 1.0)
    finally:
        worker.cancel_all()
        thread.quit()
        assert thread.wait(5000)
    assert seen.order[0] == "notice" and seen.order.count("notice") == 1
    assert seen.order.count("piece") >= 3
