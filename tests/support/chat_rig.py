# SPDX-License-Identifier: GPL-3.0-or-later
"""The chat as the app wires it, for tests: real threads, espeak-ng, the player, the mascot
window, the router, the chat worker and controller, against the reference backend's chat.

The player falls back to its silent clock without PulseAudio, so these run anywhere; with
scripts/pulse.sh they play into the null sink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot
from pytestqt.qtbot import QtBot

from companion.app import sign_in_dialog
from companion.audio.player import Player
from companion.backend.auth import SessionStore
from companion.backend.client import BackendClient
from companion.config import Settings
from companion.replies.chat import ChatResult, ChatWorker
from companion.replies.chat_controller import ChatController
from companion.replies.conversation import Conversation, save_conversation
from companion.replies.presenter import ReplyPresenter
from companion.replies.router import ReplyRouter
from companion.replies.session import SessionCoordinator
from companion.speech.espeak_engine import EspeakEngine
from companion.speech.types import FloatArray
from companion.speech.worker import SpeechWorker
from companion.ui.window import MascotWindow
from tests.support.mascot_rig import cancel_sign_in, finish_sign_in
from tests.support.reference_backend import ReferenceBackend
from tests.support.reference_chat import ReferenceChat, install_chat

RATE = 22050


class ChatDone(QObject):
    """The chat worker's results, received on the GUI thread (pytest-qt blockers live there)."""

    finished = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.results: list[ChatResult] = []

    @Slot(object)
    def relay(self, result: ChatResult) -> None:
        self.results.append(result)
        self.finished.emit(result)


@dataclass(eq=False)
class ChatRig:
    settings: Settings
    backend: ReferenceBackend
    chat: ReferenceChat
    player: Player
    speech_thread: QThread
    worker: SpeechWorker
    window: MascotWindow
    router: ReplyRouter
    presenter: ReplyPresenter
    session: SessionCoordinator
    chat_thread: QThread
    chat_worker: ChatWorker
    controller: ChatController
    done: ChatDone
    #: (reply id playing when audio was handed to the player, frames) per enqueue.
    enqueued: list[tuple[int | None, int]] = field(default_factory=list)

    @property
    def messages(self) -> list[tuple[str, str, str]]:
        return [(m.role, m.content, m.state) for m in self.controller.conversation.messages]

    def sign_in(self, token: str = "signed-in-token") -> None:
        finish_sign_in(self.session, token)

    def cancel_sign_in(self) -> None:
        cancel_sign_in(self.session)

    def close(self) -> None:
        self.session.close()
        self.controller.close()
        self.chat_worker.cancel_all()
        self.router.close()
        self.presenter.close()
        self.player.stop()
        self.worker.cancel_all()
        for thread in (self.chat_thread, self.speech_thread):
            thread.quit()
            assert thread.wait(10000)
        self.chat_worker.close()
        self.player.close()


def make_chat_rig(
    qtbot: QtBot,
    backend: ReferenceBackend,
    *,
    store: Path | None = None,
    conversation: Conversation | None = None,
    base_url: str | None = None,
    **overrides: object,
) -> ChatRig:
    """Build and start everything; ``store`` saves the conversation to that file."""
    chat = install_chat(backend)
    settings = Settings(engine="espeak", **overrides)  # type: ignore[arg-type]
    player = Player(sample_rate=RATE)
    speech_thread = QThread()
    worker = SpeechWorker(engine_factory=lambda: EspeakEngine(sample_rate=RATE), sample_rate=RATE)
    worker.moveToThread(speech_thread)
    speech_thread.start()
    window = MascotWindow(settings=settings)
    qtbot.add_widget(window)
    window.show()
    router = ReplyRouter(settings=settings, player=player, worker=worker)
    presenter = ReplyPresenter(router=router, clock=player, view=window.view, bubble=window.bubble)
    url = base_url or backend.url
    session = SessionCoordinator(
        session=SessionStore(base_url=url, env={}),
        router=router,
        presenter=presenter,
        dialog_factory=sign_in_dialog,
    )
    worker.unauthorized.connect(session.on_speech_unauthorized)

    def client() -> BackendClient:
        return BackendClient(
            base_url=url,
            token=lambda: backend.token,
            connect_timeout=2.0,
            read_timeout=3.0,
            backoff_base=0.02,
            backoff_max=0.2,
            poll_interval=0.01,
        )

    chat_thread = QThread()
    chat_worker = ChatWorker(client_factory=client)
    chat_worker.moveToThread(chat_thread)
    chat_thread.start()
    saver: Callable[[Conversation], str | None] | None = None
    if store is not None:
        path = store

        def saver(c: Conversation) -> str | None:
            return save_conversation(c, path)

    controller = ChatController(
        settings=settings,
        worker=chat_worker,
        router=router,
        presenter=presenter,
        session=session,
        conversation=conversation or Conversation(),
        store=saver,
    )
    done = ChatDone()
    chat_worker.finished.connect(done.relay)
    # As the app wires the mascot's Esc: the speech and the chat stop together.
    window.escape_pressed.connect(router.stop)
    window.escape_pressed.connect(controller.stop)
    rig = ChatRig(
        settings,
        backend,
        chat,
        player,
        speech_thread,
        worker,
        window,
        router,
        presenter,
        session,
        chat_thread,
        chat_worker,
        controller,
        done,
    )
    real_enqueue = player.enqueue

    def enqueue(samples: FloatArray) -> None:
        rig.enqueued.append((router.current_id, len(samples)))
        real_enqueue(samples)

    player.enqueue = enqueue  # type: ignore[method-assign]
    return rig
