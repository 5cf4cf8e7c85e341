# SPDX-License-Identifier: GPL-3.0-or-later
"""The composition root: builds the mascot, wires its parts, shuts them down in order (SIGTERM,
SIGINT, Quit, the session ending): audio stopped, the speech thread's work cancelled and joined,
the single-instance server closed, settings saved, crash reports flushed; a second call no-op.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from companion import __version__, config, loopwatch, paths, telemetry
from companion.audio.player import Player
from companion.backend.auth import SessionStore
from companion.config import Settings
from companion.ossignals import SignalWatcher
from companion.replies.chat_controller import ChatController
from companion.replies.conversation import load_conversation, save_conversation
from companion.replies.ipc import IpcError, IpcServer, IpcStream, send_request
from companion.replies.presenter import ReplyPresenter
from companion.replies.router import ReplyRouter
from companion.replies.session import SessionCoordinator, SignInDialogLike
from companion.replies.signin_controller import SignInController
from companion.settings_flow import SettingsFlow
from companion.speech.types import PLAYER_RATE
from companion.textinput import MAX_TEXT_CHARS, too_long
from companion.ui.art import art_for
from companion.ui.chat_panel import ChatPanel
from companion.ui.desktop import Desktop
from companion.ui.menu import MascotMenu
from companion.ui.read_aloud import ReadAloudBox
from companion.ui.signin_dialog import SignInDialog
from companion.ui.window import MascotWindow
from companion.vocab import BubbleAction, BubbleKind, ReplySource
from companion.workers import Workers

log = logging.getLogger("companion.app")

GREETING = "Hi, I'm your Companion! I'll read replies aloud for you. Right-click me for options."


@dataclass(frozen=True)
class AppOptions:
    """What a run of the app does besides showing the mascot (the self-test turns most off)."""

    ipc: bool = True
    greet: bool = True
    save: bool = True
    signals: bool = True
    telemetry: bool = True
    embedded_voice: bool = False


def ensure_qapp() -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    qapp = QApplication(sys.argv[:1])
    qapp.setApplicationName("Companion")
    qapp.setApplicationVersion(__version__)
    qapp.setDesktopFileName("companion")
    qapp.setQuitOnLastWindowClosed(False)
    return qapp


def _app_icon() -> QIcon:
    path = paths.resource_path("icons/companion.svg")
    return QIcon(str(path)) if path.exists() else QIcon()


def sign_in_dialog(
    base_url: str, reason: str | None, open_url: Callable[[str], bool] | None
) -> SignInDialogLike:
    """The session coordinator's dialog factory: a sign-in dialog with its controller."""
    controller = SignInController(base_url=base_url, open_url=open_url)
    dialog = SignInDialog(controller=controller, reason=reason)
    controller.setParent(dialog)
    return dialog


class Companion(QObject):
    """The running mascot: every part, wired.

    Signals:
        sign_in_requested(): the user asked to sign in (the bubble's button): the dialog.
        shut_down(): shut-down finished.

    Attributes:
        settings, player, worker, speech_thread, window, menu, ipc, read_aloud: the parts.
        router, presenter: the queue of replies, and what the mascot shows of the current one.
        chat, chat_worker, chat_thread, chat_panel: the chat (controller, client thread, panel).
        session, session_flow: the token (env, keyring or 0600 file) and the unauthorized path
            (every 401 → one sign-in dialog; the held replies resume after sign-in).
        notices: one-line notices shown in the bubble at start (settings, audio, engine).
    """

    sign_in_requested = Signal()
    shut_down = Signal()

    def __init__(
        self,
        *,
        qapp: QApplication,
        options: AppOptions = AppOptions(),
        settings_loader: Callable[[], config.LoadResult] = config.load_settings,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.qapp = qapp
        self.options = options
        loaded = settings_loader()
        self.settings: Settings = loaded.settings
        self.notices: list[str] = [loaded.notice] if loaded.notice else []
        self.is_shutting_down = False
        self.engine_name = ""
        self.signals = SignalWatcher(self)
        self.signals.received.connect(self.quit)
        self.ipc: IpcServer | None = None
        self.loop_watch: loopwatch.LoopWatch | None = None  # COMPANION_LOOP_WATCH=1

        if options.telemetry:
            telemetry.init_telemetry(
                dsn=config.sentry_dsn(self.settings) or None,
                enabled=self.settings.crash_reports,
                environment=os.environ.get("COMPANION_ENVIRONMENT", "production"),
            )
            telemetry.install_qt_hooks()

        # PortAudio loads in the player's own thread while the rest is built; its notice is
        # read in start() (reading it waits for the load).
        self.player = self._make_player()
        # PortAudio loads in the player's own thread while the rest is built; its notice is
        # read in start() (reading it waits for the load).
        self.player.set_muted(self.settings.muted)
        self._audio_notice: str | None = None  # the last audio notice the user was shown

        # The token: COMPANION_TOKEN, else the keyring (or the 0600 file); read per request.
        self.session = SessionStore(base_url=config.backend_url(self.settings))

        self.workers = Workers(
            settings=self.settings,
            session=self.session,
            embedded_voice=options.embedded_voice,
            parent=self,
        )
        self.worker, self.speech_thread = self.workers.speech, self.workers.speech_thread
        self.chat_worker, self.chat_thread = self.workers.chat, self.workers.chat_thread
        self.worker.engine_ready.connect(self._on_engine_ready)
        self.worker.notice.connect(self._on_speech_notice)

        art, character_notice = art_for(self.settings.character)  # a broken pack: the built-in
        if character_notice:
            self.notices.append(character_notice)
        self.window = MascotWindow(settings=self.settings, art=art)
        self.router = ReplyRouter(
            settings=self.settings, player=self.player, worker=self.worker, parent=self
        )
        self.presenter = ReplyPresenter(
            router=self.router,
            clock=self.player,
            view=self.window.view,
            bubble=self.window.bubble,
            parent=self,
        )
        self.menu = MascotMenu(settings=self.settings, icon=_app_icon(), parent=self)
        self.read_aloud = ReadAloudBox()
        self.session_flow = SessionCoordinator(
            session=self.session,
            router=self.router,
            presenter=self.presenter,
            dialog_factory=lambda *args: self.desktop.adopt_dialog(sign_in_dialog(*args)),
            parent=self,
        )
        self.worker.unauthorized.connect(self.session_flow.on_speech_unauthorized)
        self._build_chat()
        self.settings_flow = SettingsFlow(
            settings=self.settings,
            player=self.player,
            router=self.router,
            window=self.window,
            menu=self.menu,
            session_flow=self.session_flow,
            workers=self.workers,
            telemetry=options.telemetry,
            save=self.save,
            parent=self,
        )
        self._wire()

    # -- building ------------------------------------------------------------------------------

    def _make_player(self) -> Player:
        s = self.settings
        try:
            return Player(
                sample_rate=PLAYER_RATE,
                device=s.output_device or None,
                volume=s.volume,
            )
        except Exception as exc:  # a device that vanished: the default output instead
            log.warning("[app] output device unusable (%s); using the default", type(exc).__name__)
            return Player(sample_rate=PLAYER_RATE, volume=s.volume)

    def _build_chat(self) -> None:
        loaded = load_conversation()
        if loaded.notice:
            self.notices.append(loaded.notice)
        self.chat = ChatController(
            settings=self.settings,
            worker=self.chat_worker,
            router=self.router,
            presenter=self.presenter,
            session=self.session_flow,
            conversation=loaded.conversation,
            store=save_conversation if self.options.save else None,
            parent=self,
        )
        self.chat_panel = ChatPanel(controller=self.chat, speaking=lambda: self.router.busy)
        if loaded.notice:
            self.chat_panel.show_notice(loaded.notice)
        self.desktop = Desktop(
            window=self.window,
            chat_panel=self.chat_panel,
            read_aloud=self.read_aloud,
            menu=self.menu,
            parent=self,
        )

    def _wire(self) -> None:
        w, r, m = self.window, self.router, self.menu
        w.escape_pressed.connect(r.stop)
        w.escape_pressed.connect(self.chat.stop)
        self.chat_panel.escape_pressed.connect(r.stop)
        self.chat.notice.connect(self.chat_panel.show_notice)
        m.chat_requested.connect(self.desktop.toggle_chat)
        m.stop_requested.connect(self.chat.stop)
        w.context_menu_requested.connect(m.popup)
        w.read_aloud_requested.connect(self.desktop.open_read_aloud)
        w.moved.connect(self._save_soon)
        w.scale_changed.connect(self._save_soon)
        w.bubble.retry_clicked.connect(r.retry)
        w.bubble.action_clicked.connect(self._on_bubble_action)
        self.sign_in_requested.connect(self.session_flow.open_dialog)
        m.sign_in_requested.connect(self.session_flow.open_dialog)
        m.sign_out_requested.connect(self.session_flow.sign_out)
        self.session_flow.account_changed.connect(m.set_account)
        m.show_hide_requested.connect(self.desktop.toggle_window)
        m.mute_toggled.connect(self._on_mute)
        m.always_on_top_toggled.connect(self._on_always_on_top)
        m.stop_requested.connect(r.stop)
        m.replay_requested.connect(r.replay_last)
        m.reset_position_requested.connect(w.reset_position)
        m.settings_requested.connect(self.open_settings)
        self.settings_flow.notice.connect(self.presenter.notice_when_idle)
        self.settings_flow.opened.connect(self.desktop.adopt_dialog)
        self.desktop.follow_activity(router=r, chat=self.chat)
        m.read_aloud_requested.connect(self.desktop.open_read_aloud)
        m.quit_requested.connect(self.quit)
        self.read_aloud.submitted.connect(self._on_read_aloud)
        self.qapp.aboutToQuit.connect(self.shutdown)
        r.reply_finished.connect(self._on_reply_finished)
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(500)
        self._save_timer.timeout.connect(self.save)

    def start(self) -> bool:
        """Show the mascot. False when another mascot already runs (it is asked to show)."""
        if self.options.signals:
            # Before the server listens: a `say` may start us and a signal may follow at once.
            self.signals.install()
        try:
            self.ipc = IpcServer(parent=self) if self.options.ipc else None
        except IpcError as exc:  # no private folder for the socket: a mascot `say` cannot reach
            log.warning("[app] no say/ask socket: %s", exc)
        if self.ipc is not None:
            if not self.ipc.listen():
                try:
                    send_request({"cmd": "show"}, name=self.ipc.name, timeout_ms=2000)
                except (OSError, Exception) as exc:  # the other one is busy; nothing to do
                    log.info("[app] could not reach the running mascot: %s", type(exc).__name__)
                log.info("[app] a mascot is already running; this one exits")
                return False
            self.ipc.say_requested.connect(self._on_ipc_say)
            self.ipc.ask_requested.connect(self._on_ipc_ask)
            self.ipc.show_requested.connect(self.desktop.show_window)
        self.workers.start()
        self.loop_watch = loopwatch.start_if_wanted(self)
        self._audio_notice = self.player.notice
        if self._audio_notice:
            self.notices.append(self._audio_notice)
        self.window.show()
        self.window.ensure_on_screen()
        self.menu.set_window_visible(True)
        if self.notices:
            self.presenter.show_message(" ".join(self.notices))
        if self.options.greet and not self.settings.greeted:
            self.settings.greeted = True
            self.save()
            QTimer.singleShot(4000 if self.notices else 0, self._greet)
        self.session_flow.start()
        log.info("[app] mascot shown (companion %s)", __version__)
        return True

    @Slot()
    def _greet(self) -> None:
        if not self.is_shutting_down:
            self.router.say(GREETING, source=ReplySource.GREETING, force=True)

    # -- actions -------------------------------------------------------------------------------

    @Slot(str)
    def _on_ipc_say(self, text: str) -> None:
        self.router.say(text, source=ReplySource.SAY)

    @Slot(str, object)
    def _on_ipc_ask(self, text: str, stream: IpcStream | None) -> None:
        if not self.window.isVisible():
            self.desktop.show_window()
        self.chat.ask(text, listener=stream)

    @Slot(str)
    def _on_read_aloud(self, text: str) -> None:
        if len(text) > MAX_TEXT_CHARS:  # the one limit, as for every other entry point
            self.presenter.show_message(too_long("The text").capitalize() + ".")
            return
        self.router.say(text, source=ReplySource.READ_ALOUD, force=True)

    @Slot(bool)
    def _on_mute(self, muted: bool) -> None:
        if muted == self.settings.muted:
            return
        self.settings.muted = muted
        self.player.set_muted(muted)
        self.presenter.mute_changed()
        log.info("[app] muted=%s", muted)
        self._save_soon()

    @Slot(bool)
    def _on_always_on_top(self, on: bool) -> None:
        self.settings.always_on_top = on
        self.window.set_always_on_top(on)
        self._save_soon()

    @Slot()
    def open_settings(self) -> None:
        self.settings_flow.open()

    def apply_settings(self, new: Settings) -> None:
        """Take the Settings dialog's values (see :mod:`companion.settings_flow`)."""
        self.settings_flow.apply(new)

    @Slot(str)
    def _on_bubble_action(self, action: str) -> None:
        if action == BubbleAction.SIGN_IN:
            self.sign_in_requested.emit()
        elif action == BubbleAction.RETRY:
            self.router.retry()
        elif action == BubbleAction.RETRY_CHAT:
            self.chat.retry()
        elif action == BubbleAction.SETTINGS:
            self.open_settings()

    @Slot(int)
    def _on_reply_finished(self, reply_id: int) -> None:
        """The audio output changed under a reply (the device vanished, the default went
        silent): once the reply has ended, say so in the bubble, once per new notice."""
        notice = self.player.notice
        if notice and notice != self._audio_notice and not self.is_shutting_down:
            log.info("[app] audio notice shown: %s", notice)
            self.presenter.notice_when_idle(notice)
        self._audio_notice = notice

    @Slot(str)
    def _on_engine_ready(self, name: str) -> None:
        log.info("[app] speech engine: %s", name)
        self.engine_name = name
        while self.workers.notices:
            self.presenter.notice_when_idle(self.workers.notices.pop(0))

    @Slot(str)
    def _on_speech_notice(self, notice: str) -> None:
        """The speech thread's one-line notice (the server has no voice, so the built-in one
        speaks): shown once the reply playing now has ended, with Settings."""
        log.info("[app] speech notice queued")
        if not self.is_shutting_down:
            self.presenter.notice_when_idle(notice, action=BubbleAction.SETTINGS)

    # -- saving and shutting down --------------------------------------------------------------

    @Slot()
    def _save_soon(self) -> None:
        self._save_timer.start()

    @Slot()
    def save(self) -> None:
        if not self.options.save:
            return
        notice = config.save_settings(self.settings)
        if notice:
            self.presenter.show_message(notice, kind=BubbleKind.ERROR)

    @Slot()
    def quit(self) -> None:
        """The Quit item and signals: shut down, then leave the event loop."""
        self.shutdown()
        # Only leave a running event loop: exit() with none running would make the next
        # loop (a dialog's, a test's) return at once.
        if QThread.currentThread().loopLevel() > 0:
            self.qapp.exit(0)

    @Slot()
    def shutdown(self) -> None:
        """Stop audio, cancel and join the speech thread, save; safe to call twice."""
        if self.is_shutting_down:
            return
        self.is_shutting_down = True
        started = time.monotonic()
        loopwatch.stop(self.loop_watch)
        self._save_timer.stop()
        self.chat.close()
        self.workers.chat.cancel_all()
        self.router.close()
        self.presenter.close()
        self.session_flow.close()
        self.player.stop()
        self.window.view.stop_lipsync()
        self.workers.cancel_all()
        self.workers.join()
        self.player.close()
        if self.ipc is not None:
            self.ipc.close()
        self.menu.close()
        self.desktop.close()
        self.settings_flow.close()
        self.save()
        self.window.close()
        self.signals.remove()
        if self.options.telemetry:
            telemetry.flush(0.5)
        log.info("[app] shut down in %.0f ms", 1000 * (time.monotonic() - started))
        self.shut_down.emit()
