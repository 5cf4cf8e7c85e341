# SPDX-License-Identifier: GPL-3.0-or-later
"""The chat on the GUI thread: one question at a time, its reply shown and spoken as it streams.

A question becomes a *turn*: the user message, an assistant message that fills as deltas
arrive, a request to the :class:`~companion.replies.chat.ChatWorker` and a streamed reply in
the :class:`~companion.replies.router.ReplyRouter`. The worker cuts the reply into speakable
pieces in its own thread; what arrived is taken from its outbox at most every
:data:`TAKE_MS` (never one GUI event per delta, whatever the server's rate) and goes three
ways: into the message (the chat panel redraws it), the pieces to the router for the speech
worker (so the first sentence plays while the rest is written), and the text to any
``companion ask --print`` listening.

Ending a turn:

- a new question, Stop or Esc: the request and the speech are cancelled together; the text so
  far stays (``partial``); nothing more of the old reply is shown or spoken;
- done: the last piece is flushed to the voice; a reply the worker cut at its cap
  (:data:`~companion.replies.chat.MAX_REPLY_CHARS`) is done too, with :data:`TRUNCATED_NOTE`;
- failed: the speech stops, the text so far stays, the bubble says why and offers Retry
  (budget: a friendly line, no Retry);
- 401: its speech is dropped and the session coordinator is told (one dialog for every 401);
  the question waits. The controller listens to the session: after ``signed_in`` the reply is
  asked for again and plays from its start; after ``sign_in_cancelled`` it waits for Retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from companion import config
from companion.backend.errors import BudgetExhausted, Unauthorized
from companion.config import Settings
from companion.replies.chat import (
    MAX_REPLY_CHARS,
    ChatRequest,
    ChatResult,
    ChatWorker,
    StreamBatch,
    build_request,
)
from companion.replies.chat_messages import chat_action, chat_user_message
from companion.replies.conversation import ChatMessage, Conversation
from companion.replies.pacing import PiecePacer
from companion.replies.presenter import ReplyPresenter
from companion.replies.router import ReplyRouter
from companion.speech.voices import speaking_language
from companion.vocab import (
    BubbleAction,
    BubbleKind,
    ChatOutcome,
    Expression,
    MessageState,
    ReplySource,
)

log = logging.getLogger("companion.chat")

STOPPED_NOTE = "Stopped."
SIGNED_OUT_NOTE = "Signed out: the reply follows once you sign in."
SIGN_IN_CANCELLED_NOTE = "Not signed in. Retry after signing in."
EMPTY_NOTE = "The assistant sent an empty reply."
TRUNCATED_NOTE = f"The reply was cut at {MAX_REPLY_CHARS:,} characters."
#: What the worker has is taken at most this often (coalesced: each take costs what arrived).
TAKE_MS = 15
#: The bubble's action for a chat failure (the app routes it to :meth:`ChatController.retry`).
RETRY_ACTION = BubbleAction.RETRY_CHAT
#: The ``state`` of a listener's event while the reply waits for sign-in (``companion ask``).
SIGNED_OUT = "signed_out"


class SessionLike(Protocol):
    """The session coordinator as the chat sees it: told of a 401, listened to."""

    signed_in: Any
    sign_in_cancelled: Any

    def report_unauthorized(self, error: Unauthorized) -> None: ...


class ChatListener(Protocol):
    """Somebody following a turn as it streams (``companion ask --print``).

    Events: ``{"event": "delta", "text"}``, ``{"event": "notice", "message"}``,
    ``{"event": "restart"}``, then one of ``{"event": "done"}``,
    ``{"event": "error", "message"}``, ``{"event": "cancelled"}``. A notice or error about
    sign-in carries ``"state": "signed_out"``.
    """

    def send(self, event: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class WaitingQuestion:
    """A question whose reply a 401 cut: asked again after sign-in.

    Attributes:
        index: the assistant message's index in the conversation.
        listeners: ``ask --print`` streams still following it.
    """

    index: int
    listeners: list[ChatListener]


@dataclass(eq=False)
class Turn:
    """One question and its reply while it streams.

    Attributes:
        request_id: the chat request (results for other ids are stale).
        index: the assistant message's index in the conversation.
        reply_id: the router's streamed reply, or None when it is not spoken (autoplay off).
        listeners: ``ask --print`` streams following this turn.
    """

    request_id: int
    index: int
    reply_id: int | None
    listeners: list[ChatListener] = field(default_factory=list)


class ChatController(QObject):
    """Questions in, replies shown, spoken and kept.

    Signals:
        request(ChatRequest): to the chat worker's ``send`` slot (queued).
        message_added(int): a message was appended at this index.
        message_changed(int): the text or state of the message at this index changed.
        reset(): the conversation was replaced (cleared).
        busy_changed(bool): a reply is streaming (the panel's Stop button).
        notice(str): a one-line notice (the conversation could not be saved).

    Attributes:
        conversation: the messages.
        turn: the turn streaming now, or None.
        waiting: the question a 401 cut, waiting for sign-in, or None.
    """

    request = Signal(object)
    message_added = Signal(int)
    message_changed = Signal(int)
    reset = Signal()
    busy_changed = Signal(bool)
    notice = Signal(str)

    def __init__(
        self,
        *,
        settings: Settings,
        worker: ChatWorker,
        router: ReplyRouter,
        presenter: ReplyPresenter,
        session: SessionLike,
        conversation: Conversation,
        store: Callable[[Conversation], str | None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings
        self._worker = worker
        self._router = router
        self._pacer = PiecePacer(router, parent=self)  # pieces as fast as they are heard
        self._presenter = presenter
        self._session = session
        self.conversation = conversation
        self._store = store
        self._next_request = 1
        self.turn: Turn | None = None
        self.waiting: WaitingQuestion | None = None
        self._closed = False
        self.request.connect(worker.send)
        session.signed_in.connect(self._on_signed_in)
        session.sign_in_cancelled.connect(self._on_sign_in_cancelled)
        self._take_timer = QTimer(self)
        self._take_timer.setSingleShot(True)
        self._take_timer.setInterval(TAKE_MS)
        self._take_timer.timeout.connect(self._take)
        worker.ready.connect(self._on_ready)
        worker.finished.connect(self._on_finished)

    # -- public --------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.turn is not None

    def ask(self, text: str, *, listener: ChatListener | None = None) -> bool:
        """A new question (the panel, ``companion ask``). False when there was nothing to ask."""
        text = text.strip()
        if not text or self._closed:
            if listener is not None:
                listener.send({"event": "error", "message": "nothing to ask"})
                listener.close()
            return False
        self.stop()
        self._append(ChatMessage("user", text))
        log.info("[chat] question: %d chars", len(text))
        self._start(len(self.conversation.messages), [listener] if listener else [])
        return True

    @Slot()
    def stop(self) -> None:
        """Cancel the streaming reply and its speech together (Stop, Esc, a new question)."""
        turn = self.turn
        if turn is None:
            return
        self._end_turn(turn)
        self._worker.cancel(turn.request_id)
        if turn.reply_id is not None:
            self._pacer.cancel(turn.reply_id)
        msg = self.conversation.messages[turn.index]
        msg.state = MessageState.PARTIAL if msg.content else MessageState.ERROR
        msg.note = STOPPED_NOTE
        self.message_changed.emit(turn.index)
        self._tell(turn, {"event": "cancelled"}, close=True)
        log.info("[chat] request %d stopped", turn.request_id)
        self._save()

    @Slot()
    def retry(self) -> bool:
        """Ask again for the last reply when it was cut short or failed (Retry)."""
        if self.turn is not None or not self.conversation.messages:
            return False
        last = len(self.conversation.messages) - 1
        msg = self.conversation.messages[last]
        if msg.role != "assistant" or msg.state not in (MessageState.PARTIAL, MessageState.ERROR):
            return False
        self._regenerate(last, [])
        return True

    @property
    def can_retry(self) -> bool:
        messages = self.conversation.messages
        return (
            self.turn is None
            and bool(messages)
            and messages[-1].role == "assistant"
            and messages[-1].state in (MessageState.PARTIAL, MessageState.ERROR)
        )

    @Slot()
    def clear(self) -> None:
        """Forget the conversation (and stop a reply on its way)."""
        self.stop()
        self.conversation.messages.clear()
        self.reset.emit()
        self._save()

    def close(self) -> None:
        """Shut-down: stop the reply on its way, save."""
        self.stop()
        self._closed = True
        self._save()

    # -- turns ---------------------------------------------------------------------------------

    def _append(self, message: ChatMessage) -> int:
        self.conversation.messages.append(message)
        index = len(self.conversation.messages) - 1
        self.message_added.emit(index)
        return index

    def _start(self, index: int, listeners: list[ChatListener]) -> None:
        """Stream the reply into the assistant message at ``index`` (appended if new)."""
        messages = self.conversation.messages
        if index == len(messages):
            self._append(ChatMessage("assistant", "", MessageState.STREAMING))
        else:
            msg = messages[index]
            msg.content, msg.state, msg.note = "", MessageState.STREAMING, ""
            self.message_changed.emit(index)
        reply_id = self._router.begin_stream(source=ReplySource.CHAT)
        turn = Turn(self._next_request, index, reply_id, listeners=listeners)
        self._next_request += 1
        self.turn = turn
        s = self._settings
        request: ChatRequest = build_request(
            turn.request_id,
            system_prompt=s.system_prompt,
            history=self.conversation.history(index),
            model=s.chat_model,
            # Cut (in the worker) in the language the reply is spoken in: the voice's.
            speak_lang=speaking_language(s) if reply_id is not None else None,
        )
        self.busy_changed.emit(True)
        self.request.emit(request)
        self._save()

    def _regenerate(self, index: int, listeners: list[ChatListener]) -> None:
        for listener in listeners:
            listener.send({"event": "restart"})
        self._start(index, listeners)

    def _end_turn(self, turn: Turn) -> None:
        if self.turn is turn:
            self.turn = None
            self.busy_changed.emit(False)

    def _tell(self, turn: Turn, event: dict[str, Any], *, close: bool = False) -> None:
        for listener in turn.listeners:
            listener.send(event)
            if close:
                listener.close()
        if close:
            turn.listeners = []

    def _save(self) -> None:
        if self._store is None:
            return
        notice = self._store(self.conversation)
        if notice:
            self.notice.emit(notice)

    # -- from the worker -----------------------------------------------------------------------

    @Slot()
    def _on_ready(self) -> None:
        if not self._take_timer.isActive():
            self._take_timer.start()

    @Slot()
    def _take(self) -> None:
        self._take_timer.stop()
        for batch in self._worker.take():
            self._on_batch(batch)

    def _on_batch(self, batch: StreamBatch) -> None:
        turn = self.turn
        if turn is None or turn.request_id != batch.request_id:
            return  # a cancelled request's last words: dropped
        if batch.text:
            self.conversation.messages[turn.index].content += batch.text
            self.message_changed.emit(turn.index)
            self._tell(turn, {"event": "delta", "text": batch.text})
        if turn.reply_id is not None:
            for piece in batch.pieces:
                self._pacer.feed(turn.reply_id, piece)

    @Slot(object)
    def _on_finished(self, result: ChatResult) -> None:
        self._take()  # the last text and pieces came before the result
        turn = self.turn
        if turn is None or turn.request_id != result.request_id:
            return
        self._end_turn(turn)
        msg = self.conversation.messages[turn.index]
        if result.outcome == ChatOutcome.DONE:
            self._done(turn, msg, truncated=result.truncated)
        elif result.outcome == ChatOutcome.UNAUTHORIZED and isinstance(result.error, Unauthorized):
            self._signed_out(turn, msg, result.error)
        elif result.outcome == ChatOutcome.CANCELLED:
            msg.state = MessageState.PARTIAL if msg.content else MessageState.ERROR
            msg.note = STOPPED_NOTE
            if turn.reply_id is not None:
                self._pacer.cancel(turn.reply_id)
            self._tell(turn, {"event": "cancelled"}, close=True)
        else:
            self._failed(turn, msg, result)
        self.message_changed.emit(turn.index)
        self._save()

    def _done(self, turn: Turn, msg: ChatMessage, *, truncated: bool = False) -> None:
        if not msg.content.strip():
            msg.state, msg.note = MessageState.ERROR, EMPTY_NOTE
            if turn.reply_id is not None:
                self._pacer.cancel(turn.reply_id)
            self._presenter.show_message(EMPTY_NOTE, kind=BubbleKind.ERROR, action=RETRY_ACTION)
            self._tell(turn, {"event": "error", "message": EMPTY_NOTE}, close=True)
            return
        msg.state, msg.note = MessageState.DONE, TRUNCATED_NOTE if truncated else ""
        if truncated:  # once, under the message and to listeners; what came is kept and spoken
            self._tell(turn, {"event": "notice", "message": TRUNCATED_NOTE})
        if turn.reply_id is not None:
            self._pacer.end(turn.reply_id)
        else:  # autoplay off: shown in the bubble and kept for "Replay last"
            self._router.say(msg.content, source=ReplySource.CHAT)
        self._tell(turn, {"event": "done"}, close=True)

    def _failed(self, turn: Turn, msg: ChatMessage, result: ChatResult) -> None:
        url = config.backend_url(self._settings)
        error = result.error
        message = chat_user_message(error, chars=result.chars, url=url) if error else ""
        msg.state = MessageState.PARTIAL if msg.content else MessageState.ERROR
        msg.note = message
        if turn.reply_id is not None:
            self._pacer.cancel(turn.reply_id)
        if isinstance(error, BudgetExhausted):
            self._presenter.show_message(message, expression=Expression.CONCERNED)
        else:  # Retry chat only where asking again can help; else Settings
            self._presenter.show_message(message, kind=BubbleKind.ERROR, action=chat_action(error))
        self._tell(turn, {"event": "error", "message": message}, close=True)

    def _signed_out(self, turn: Turn, msg: ChatMessage, err: Unauthorized) -> None:
        msg.state = MessageState.PARTIAL if msg.content else MessageState.ERROR
        msg.note = SIGNED_OUT_NOTE
        self._tell(turn, {"event": "notice", "message": SIGNED_OUT_NOTE, "state": SIGNED_OUT})
        if turn.reply_id is not None:
            # The reply is asked for again after sign-in: nothing of this one plays later.
            self._pacer.cancel(turn.reply_id)
        self.waiting = WaitingQuestion(turn.index, turn.listeners)
        turn.listeners = []
        self._session.report_unauthorized(err)

    # -- from the session ----------------------------------------------------------------------

    @Slot(object)
    def _on_signed_in(self, account: object) -> None:
        waiting, self.waiting = self.waiting, None
        if waiting is None or self._closed:
            return
        messages = self.conversation.messages
        index = waiting.index
        if index != len(messages) - 1 or messages[index].role != "assistant":
            self._release(waiting)  # a later question (or Clear) superseded this reply
            return
        if self.turn is not None and self.turn.index == index:
            return  # already asked again (a Retry while signed out)
        self.stop()
        log.info("[chat] signed in again: asking for the reply once more")
        self._regenerate(index, waiting.listeners)

    @Slot()
    def _on_sign_in_cancelled(self) -> None:
        waiting, self.waiting = self.waiting, None
        if waiting is None:
            return
        if waiting.index < len(self.conversation.messages):
            self.conversation.messages[waiting.index].note = SIGN_IN_CANCELLED_NOTE
            self.message_changed.emit(waiting.index)
        self._release(waiting)
        self._save()

    @staticmethod
    def _release(waiting: WaitingQuestion) -> None:
        for listener in waiting.listeners:
            listener.send(
                {"event": "error", "message": SIGN_IN_CANCELLED_NOTE, "state": SIGNED_OUT}
            )
            listener.close()
