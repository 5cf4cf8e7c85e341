# SPDX-License-Identifier: GPL-3.0-or-later
"""The speech thread: text in, ready-to-play utterances out, errors as typed objects.

:class:`SpeechWorker` lives in its own :class:`~PySide6.QtCore.QThread`. The GUI asks it to
speak through a queued signal connected to :meth:`SpeechWorker.speak`; results come back
through queued signals carrying objects (never strings), so an expired session arrives in the
GUI as an :class:`UnauthorizedEvent` and not as text for the crash reporter.

Cancelling never goes through the worker's event loop (it is busy synthesising):
:meth:`SpeechWorker.cancel` sets the reply's :class:`CancelToken` from the calling thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal, Slot

from companion import telemetry
from companion.backend.errors import BackendApiError, Unauthorized
from companion.speech.fallback import take_notice
from companion.speech.pipeline import SpeechPipeline
from companion.speech.types import SpeechEngine
from companion.tasks import Cancelled, CancelRegistry, below_the_gui

log = logging.getLogger("companion.speech")

EngineFactory = Callable[[], SpeechEngine]


@dataclass(frozen=True, slots=True)
class UnauthorizedEvent:
    """A reply the backend refused because the session lapsed.

    The reply itself (its text, its place in the queue) stays with the router; the session
    coordinator asks the router for it when it holds the replies until sign-in.

    Attributes:
        reply_id: the reply that could not be finished.
        error: the typed error (method and path of the request that answered 401).
    """

    reply_id: int
    error: Unauthorized


@dataclass(frozen=True, slots=True)
class SpeechFailure:
    """A reply that could not be spoken.

    Attributes:
        reply_id: the reply.
        error: the typed error itself (a ``BackendApiError`` or the engine's exception).
    """

    reply_id: int
    error: BaseException

    @property
    def user_message(self) -> str:
        """One short line for the speech bubble (no reply text, no body, no token)."""
        message = getattr(self.error, "user_message", None)
        if isinstance(message, str) and message:
            return message
        return "Speech failed. Try again."

    @property
    def action(self) -> str:
        """The bubble's button: Retry, or Settings when the error is a setting to change."""
        action = getattr(self.error, "action", None)
        return action if isinstance(action, str) and action else "retry"


class SpeechWorker(QObject):
    """Synthesises replies piece by piece in its own thread.

    Signals:
        utterance_ready(Utterance): one piece of a reply, ready for the player.
        unauthorized(UnauthorizedEvent): the backend said 401 (the session holds the reply).
        failed(SpeechFailure): the reply could not be spoken; carries the typed error.
        finished(int): the worker is done with a reply (spoken, cancelled or failed).
        piece_finished(int, int): done with one piece of a streamed reply (reply id, index),
            whatever came of it (``speak_piece`` never emits ``finished``).
        engine_ready(str): the engine was created (its name), the first time it is needed.
        notice(str): one line from the engine for the user (the server has no voice, so the
            embedded one speaks), emitted before the first piece it concerns.

    Attributes:
        busy_reply: the reply being synthesised, or None (read from any thread).
    """

    utterance_ready = Signal(object)
    unauthorized = Signal(object)
    failed = Signal(object)
    finished = Signal(int)
    piece_finished = Signal(int, int)
    engine_ready = Signal(str)
    notice = Signal(str)

    def __init__(
        self,
        *,
        engine_factory: EngineFactory,
        sample_rate: int,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._engine_factory = engine_factory
        self._sample_rate = sample_rate
        self._pipeline: SpeechPipeline | None = None
        self._lock = threading.Lock()
        self._tokens = CancelRegistry()
        self.busy_reply: int | None = None

    # -- called from any thread ------------------------------------------------------------

    def cancel(self, reply_id: int) -> None:
        """Stop work on ``reply_id`` now, or skip it when its request is still queued."""
        self._tokens.cancel(reply_id)

    def cancel_all(self) -> None:
        """Shut-down: cancel everything, now and for requests still queued."""
        self._tokens.cancel_all()

    def set_engine_factory(self, factory: EngineFactory) -> None:
        """Use another engine from the next reply on (settings changed); built lazily."""
        with self._lock:
            self._engine_factory = factory
            self._pipeline = None

    # -- worker thread -----------------------------------------------------------------------

    def _ensure_pipeline(self) -> SpeechPipeline:
        with self._lock:
            pipeline = self._pipeline
            factory = self._engine_factory
        if pipeline is not None:
            return pipeline
        engine = factory()  # slow (Piper loads for ~1 s): only ever in this thread
        pipeline = SpeechPipeline(engine=engine, sample_rate=self._sample_rate)
        with self._lock:
            if self._engine_factory is factory:
                self._pipeline = pipeline
        log.info("[speech_worker] engine ready: %s", getattr(engine, "name", "?"))
        self.engine_ready.emit(str(getattr(engine, "name", "?")))
        return pipeline

    @Slot()
    def warm_up(self) -> None:
        """Load the engine ahead of the first reply (runs in the worker thread)."""
        below_the_gui()  # synthesis runs ahead of the voice: the GUI thread goes first
        try:
            pipeline = self._ensure_pipeline()
            pipeline.pieces("Hello, there.")  # loads the text preparation (markdown, pysbd)
            warm = getattr(pipeline.engine, "warm", None)
            if callable(warm):  # one short synthesis: the first reply starts at full speed
                warm()
        except Exception as exc:  # reported; the first reply will fail with the typed error
            log.warning("[speech_worker] engine could not be loaded: %s", type(exc).__name__)

    @Slot(int, str, object, float)
    def speak(self, reply_id: int, text: str, voice: object, speed: float) -> None:
        """Synthesise ``text`` piece by piece; every outcome ends with ``finished``."""
        token = self._tokens.start(reply_id)
        self.busy_reply = reply_id
        pieces = 0
        try:
            with self._outcomes(reply_id, text, f"reply {reply_id}"):
                token.raise_if_cancelled()
                pipeline = self._ensure_pipeline()
                for utterance in pipeline.utterances(
                    reply_id, text, voice=_voice(voice), speed=float(speed), cancel=token
                ):
                    token.raise_if_cancelled()
                    pieces += 1
                    self._forward_notice()
                    self.utterance_ready.emit(utterance)
        finally:
            self._forward_notice()
            log.debug("[speech_worker] reply %d: %d pieces", reply_id, pieces)
            self.busy_reply = None
            self._tokens.finish(reply_id)
            self.finished.emit(reply_id)

    @Slot(int, int, str, object, float)
    def speak_piece(
        self, reply_id: int, index: int, text: str, voice: object, speed: float
    ) -> None:
        """Synthesise one piece of a reply whose text is still arriving (a streamed chat).

        ``text`` is already prepared and cut (``StreamChunker``); it becomes utterances
        numbered from ``index``. Pieces of one reply arrive in order and share its cancel
        token, which stays until a later reply starts. Ends with ``piece_finished``.
        """
        token = self._tokens.start(reply_id)
        self.busy_reply = reply_id
        try:
            with self._outcomes(reply_id, text, f"reply {reply_id} piece {index}"):
                token.raise_if_cancelled()
                pipeline = self._ensure_pipeline()
                utterance = pipeline.piece_utterance(
                    reply_id, index, text, voice=_voice(voice), speed=float(speed), cancel=token
                )
                token.raise_if_cancelled()
                self._forward_notice()
                if utterance is not None:
                    self.utterance_ready.emit(utterance)
        finally:
            self._forward_notice()
            self.busy_reply = None
            self.piece_finished.emit(reply_id, index)

    def _forward_notice(self) -> None:
        """The engine's pending notice, if any, as ``notice`` (once)."""
        with self._lock:
            pipeline = self._pipeline
        text = take_notice(pipeline.engine) if pipeline is not None else None
        if text:
            self.notice.emit(text)

    @contextlib.contextmanager
    def _outcomes(self, reply_id: int, text: str, what: str) -> Iterator[None]:
        """Turn what synthesis raises into the worker's signals, as the status table says.

        Cancelled: nothing. Unauthorized: ``unauthorized`` with the reply id. Other
        backend errors: ``failed`` (logged per the table). Anything else is a bug: one crash
        report, and ``failed`` carrying the exception itself.
        """
        try:
            yield
        except Cancelled:
            pass
        except Unauthorized as err:
            telemetry.log_backend_error(err, operation="speech")
            self.unauthorized.emit(UnauthorizedEvent(reply_id, err))
        except BackendApiError as err:
            telemetry.log_backend_error(err, operation="speech")
            self.failed.emit(SpeechFailure(reply_id, err))
        except Exception as exc:  # engine or decoder bug: a crash report, and the reply fails
            log.error(
                "[speech_worker] synthesis failed: %s (%s, %d chars)",
                type(exc).__name__,
                what,
                len(text),
                extra=telemetry.NO_EVENT,
            )
            telemetry.report_exception(exc, tags={"operation": "speech"})
            self.failed.emit(SpeechFailure(reply_id, exc))


def _voice(voice: object) -> str | None:
    """The voice a slot was given (``object`` across threads): a name, or None for the default."""
    return voice if isinstance(voice, str) and voice else None
