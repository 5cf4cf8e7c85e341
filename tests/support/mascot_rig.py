# SPDX-License-Identifier: GPL-3.0-or-later
"""The reply layer as the app wires it, for tests: the real speech thread (espeak-ng unless a
test gives another engine), the real player, the mascot window, the router, the presenter and
the session coordinator with the real sign-in dialog.

The player falls back to its silent clock without PulseAudio, so these run anywhere; with
scripts/pulse.sh they play into the null sink.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThread, Signal, Slot
from pytestqt.qtbot import QtBot

from companion.app import sign_in_dialog
from companion.audio.player import Player
from companion.backend.auth import Account, SessionStore
from companion.backend.signin_types import SignInMethod, SignInResult
from companion.config import Settings
from companion.replies.presenter import ReplyPresenter
from companion.replies.router import ReplyRouter
from companion.replies.session import SessionCoordinator
from companion.speech.espeak_engine import EspeakEngine
from companion.speech.types import SpeechEngine
from companion.speech.worker import SpeechWorker
from companion.ui.bubble import SpeechBubble
from companion.ui.mascot_view import MascotView
from companion.ui.window import MascotWindow

RATE = 22050


class WorkerDone(QObject):
    """The worker's ``finished`` on the GUI thread (pytest-qt blockers live there)."""

    finished = Signal(int)

    @Slot(int)
    def relay(self, reply_id: int) -> None:
        self.finished.emit(reply_id)


@dataclass
class Rig:
    settings: Settings
    player: Player
    worker: SpeechWorker
    thread: QThread
    view: MascotView
    bubble: SpeechBubble
    router: ReplyRouter
    presenter: ReplyPresenter
    session: SessionCoordinator
    worker_done: WorkerDone
    window: MascotWindow

    def sign_in(self, token: str = "signed-in-token") -> None:
        finish_sign_in(self.session, token)

    def cancel_sign_in(self) -> None:
        cancel_sign_in(self.session)

    def close(self) -> None:
        self.session.close()
        self.router.close()
        self.presenter.close()
        self.player.stop()
        self.worker.cancel_all()
        self.thread.quit()
        assert self.thread.wait(5000)
        self.player.close()


def finish_sign_in(session: SessionCoordinator, token: str = "signed-in-token") -> None:
    """Finish the open sign-in dialog the way a checked sign-in does (its controller says so)."""
    dialog = session.dialog
    assert dialog is not None, "no sign-in dialog is open"
    result = SignInResult(token=token, account=Account(name="Test"), method=SignInMethod.TOKEN)
    dialog.controller.succeeded.emit(result)  # type: ignore[attr-defined]


def cancel_sign_in(session: SessionCoordinator) -> None:
    """The user cancels the open sign-in dialog."""
    dialog = session.dialog
    assert dialog is not None, "no sign-in dialog is open"
    dialog.reject()  # type: ignore[attr-defined]


def mute(rig: Rig, muted: bool) -> None:
    """What the app does when the menu's Mute is toggled."""
    rig.settings.muted = muted
    rig.player.set_muted(muted)
    rig.presenter.mute_changed()


def rig_factory(qtbot: QtBot) -> Iterator[Callable[..., Rig]]:
    """A fixture body: ``make(engine=None, **settings)`` builds a started rig."""
    rigs: list[Rig] = []

    def make(engine: Callable[[], SpeechEngine] | None = None, **overrides: object) -> Rig:
        settings = Settings(engine="espeak", **overrides)  # type: ignore[arg-type]
        player = Player(sample_rate=RATE)
        player.set_muted(settings.muted)
        thread = QThread()
        worker = SpeechWorker(
            engine_factory=engine or (lambda: EspeakEngine(sample_rate=RATE)), sample_rate=RATE
        )
        worker.moveToThread(thread)
        thread.start()
        window = MascotWindow(settings=settings)
        qtbot.add_widget(window)
        window.show()
        router = ReplyRouter(settings=settings, player=player, worker=worker)
        presenter = ReplyPresenter(
            router=router, clock=player, view=window.view, bubble=window.bubble
        )
        session = SessionCoordinator(
            session=SessionStore(base_url="http://127.0.0.1:9/v1", env={}),
            router=router,
            presenter=presenter,
            dialog_factory=sign_in_dialog,
        )
        worker.unauthorized.connect(session.on_speech_unauthorized)
        done = WorkerDone()
        worker.finished.connect(done.relay)
        rig = Rig(
            settings,
            player,
            worker,
            thread,
            window.view,
            window.bubble,
            router,
            presenter,
            session,
            done,
            window,
        )
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()
