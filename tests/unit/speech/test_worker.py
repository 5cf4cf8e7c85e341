# SPDX-License-Identifier: GPL-3.0-or-later
"""SpeechWorker in a real QThread with the real espeak-ng engine."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import QObject, QThread, Signal, Slot
from pytestqt.qtbot import QtBot

from companion.backend.errors import HttpError, Unauthorized
from companion.speech.espeak_engine import EspeakEngine
from companion.speech.pipeline import Utterance
from companion.speech.types import AudioChunk, CancelToken, SpeechEngine
from companion.speech.worker import SpeechFailure, SpeechWorker, UnauthorizedEvent

RATE = 22050
LONG = " ".join(f"This is sentence number {i}, spoken slowly and clearly." for i in range(40))


class _Requests(QObject):
    speak = Signal(int, str, object, float)
    warm = Signal()


class Relay(QObject):
    """Receives the worker's signals on the GUI thread, as the router does.

    (A plain Python callable connected to a signal runs in the emitting thread; pytest-qt's
    blockers must be woken on the GUI thread.)
    """

    utterance_ready = Signal(object)
    unauthorized = Signal(object)
    failed = Signal(object)
    finished = Signal(int)
    engine_ready = Signal(str)

    def __init__(self, worker: SpeechWorker) -> None:
        super().__init__()
        self.pieces: list[Utterance] = []
        worker.utterance_ready.connect(self._on_utterance)
        worker.unauthorized.connect(self._on_unauthorized)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(self._on_finished)
        worker.engine_ready.connect(self._on_engine_ready)

    @Slot(object)
    def _on_utterance(self, u: Utterance) -> None:
        self.pieces.append(u)
        self.utterance_ready.emit(u)

    @Slot(object)
    def _on_unauthorized(self, e: object) -> None:
        self.unauthorized.emit(e)

    @Slot(object)
    def _on_failed(self, f: object) -> None:
        self.failed.emit(f)

    @Slot(int)
    def _on_finished(self, i: int) -> None:
        self.finished.emit(i)

    @Slot(str)
    def _on_engine_ready(self, name: str) -> None:
        self.engine_ready.emit(name)


class _FailingEngine:
    """An engine whose backend answers with a typed error (what RemoteEngine raises)."""

    name = "failing"

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        raise self.error
        yield  # pragma: no cover


@pytest.fixture
def make_worker(qtbot: QtBot) -> Iterator[Callable[..., tuple[SpeechWorker, _Requests, Relay]]]:
    threads: list[tuple[QThread, SpeechWorker]] = []

    def make(
        factory: Callable[[], SpeechEngine] | None = None,
    ) -> tuple[SpeechWorker, _Requests, Relay]:
        thread = QThread()
        worker = SpeechWorker(
            engine_factory=factory or (lambda: EspeakEngine(sample_rate=RATE)), sample_rate=RATE
        )
        worker.moveToThread(thread)
        requests = _Requests()
        requests.speak.connect(worker.speak)
        requests.warm.connect(worker.warm_up)
        thread.start()
        threads.append((thread, worker))
        return worker, requests, Relay(worker)

    yield make
    for thread, worker in threads:
        worker.cancel_all()
        thread.quit()
        assert thread.wait(5000)


def test_pieces_arrive_in_order_then_finished(qtbot: QtBot, make_worker) -> None:  # type: ignore[no-untyped-def]
    _worker, req, out = make_worker()
    pieces = out.pieces
    with qtbot.wait_signal(out.finished, timeout=30000) as done:
        req.speak.emit(7, "Hello there. This is the second sentence.", None, 1.0)
    assert done.args == [7]
    assert [u.index for u in pieces] == list(range(len(pieces)))
    assert len(pieces) >= 2
    assert all(u.reply_id == 7 and u.sample_rate == RATE and len(u.samples) for u in pieces)
    assert all(len(u.timeline) > 0 for u in pieces)


def test_engine_is_built_in_the_worker_thread(qtbot: QtBot, make_worker) -> None:  # type: ignore[no-untyped-def]
    seen: list[threading.Thread] = []

    def factory() -> SpeechEngine:
        seen.append(threading.current_thread())
        return EspeakEngine(sample_rate=RATE)

    _worker, req, out = make_worker(factory)
    with qtbot.wait_signal(out.engine_ready, timeout=30000) as ready:
        req.warm.emit()
    assert ready.args == ["espeak-ng"]
    assert seen and seen[0] is not threading.main_thread()
    with qtbot.wait_signal(out.finished, timeout=30000):
        req.speak.emit(1, "Once.", None, 1.0)
    assert len(seen) == 1  # built once, reused


def test_cancel_from_the_gui_thread_stops_a_long_reply(qtbot: QtBot, make_worker) -> None:  # type: ignore[no-untyped-def]
    worker, req, out = make_worker()
    pieces = out.pieces
    with qtbot.wait_signal(out.utterance_ready, timeout=30000):
        req.speak.emit(3, LONG, None, 1.0)
    # The worker's event loop is busy synthesising; cancel goes straight to the token.
    with qtbot.wait_signal(out.finished, timeout=30000) as done:
        worker.cancel(3)
    assert done.args == [3]
    assert len(pieces) < 40


def test_cancel_before_the_request_runs_skips_it(qtbot: QtBot, make_worker) -> None:  # type: ignore[no-untyped-def]
    worker, req, out = make_worker()
    worker.cancel(5)
    with (
        qtbot.assert_not_emitted(out.utterance_ready),
        qtbot.wait_signal(out.finished, timeout=30000) as done,
    ):
        req.speak.emit(5, "Never spoken.", None, 1.0)
    assert done.args == [5]


def test_unauthorized_becomes_an_event_with_the_request(qtbot: QtBot, make_worker) -> None:  # type: ignore[no-untyped-def]
    _worker, req, out = make_worker(
        lambda: _FailingEngine(Unauthorized("POST", "/openai/v1/audio/speech"))
    )
    events: list[object] = []
    out.unauthorized.connect(events.append)
    with (
        qtbot.assert_not_emitted(out.failed),
        qtbot.wait_signal(out.finished, timeout=30000),  # always after unauthorized
    ):
        req.speak.emit(9, "Keep this reply.", None, 1.0)
    assert len(events) == 1 and isinstance(events[0], UnauthorizedEvent)
    event = events[0]
    # The typed error crosses as itself; the reply's text stays with the router (by id).
    assert event.reply_id == 9 and isinstance(event.error, Unauthorized)
    assert (event.error.method, event.error.path) == ("POST", "/openai/v1/audio/speech")


def test_other_errors_cross_as_typed_objects(qtbot: QtBot, make_worker) -> None:  # type: ignore[no-untyped-def]
    error = HttpError("POST", "/openai/v1/audio/speech", 500)
    _worker, req, out = make_worker(lambda: _FailingEngine(error))
    with qtbot.wait_signal(out.failed, timeout=30000) as blocker:
        req.speak.emit(2, "Will fail.", None, 1.0)
    failure = blocker.args[0]
    assert isinstance(failure, SpeechFailure)
    assert failure.reply_id == 2 and failure.error is error
    assert failure.user_message == error.user_message


def test_engine_that_cannot_load_fails_the_reply(qtbot: QtBot, make_worker) -> None:  # type: ignore[no-untyped-def]
    def broken() -> SpeechEngine:
        raise OSError("no voice")

    _worker, req, out = make_worker(broken)
    with qtbot.wait_signal(out.failed, timeout=30000) as blocker:
        req.speak.emit(4, "Hello.", None, 1.0)
    assert isinstance(blocker.args[0].error, OSError)
    assert blocker.args[0].user_message


class _WarmEngine(EspeakEngine):
    """espeak-ng that notes where and how often it was warmed."""

    def __init__(self) -> None:
        super().__init__(sample_rate=RATE)
        self.warmed: list[threading.Thread] = []

    def warm(self) -> None:
        self.warmed.append(threading.current_thread())


def test_warm_up_warms_the_voice_in_the_worker_thread(qtbot: QtBot, make_worker) -> None:  # type: ignore[no-untyped-def]
    engine = _WarmEngine()
    _worker, req, out = make_worker(lambda: engine)
    with qtbot.wait_signal(out.engine_ready, timeout=30000):
        req.warm.emit()
    qtbot.wait_until(lambda: bool(engine.warmed), timeout=10000)
    assert engine.warmed[0] is not threading.main_thread()
    with qtbot.wait_signal(out.finished, timeout=30000):
        req.speak.emit(1, "Once.", None, 1.0)
    assert len(engine.warmed) == 1
