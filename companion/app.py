# SPDX-License-Identifier: GPL-3.0-or-later
"""The composition root: builds the mascot, wires its parts, shuts them down in order.

Order of shut-down (SIGTERM, SIGINT, the Quit item, the session ending): stop the audio,
cancel the speech thread's work and join it, close the single-instance server, save the
settings, flush crash reports. A guard makes the second call a no-op.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from companion import __version__, config, paths, telemetry
from companion.audio.player import Player
from companion.backend.auth import SessionStore
from companion.config import Settings
from companion.replies.chat import STALL_S as CHAT_STALL_S
from companion.replies.chat import ChatWorker
from companion.replies.chat_controller import RETRY_ACTION, ChatController
from companion.replies.conversation import load_conversation, save_conversation
from companion.replies.ipc import IpcServer, IpcStream, send_request
from companion.replies.router import ReplyRouter
from companion.replies.session import SessionCoordinator
from companion.speech.types import SpeechEngine
from companion.speech.worker import SpeechWorker
from companion.ui.chat_panel import ChatPanel
from companion.ui.menu import MascotMenu
from companion.ui.read_aloud import ReadAloudBox
from companion.ui.settings_dialog import TEST_SENTENCE, SettingsDialog
from companion.ui.window import MascotWindow

log = logging.getLogger("companion.app")

#: The player's rate: Piper's native rate, so the embedded voice needs no resampling.
SAMPLE_RATE = 22050
GREETING = "Hi, I'm your Companion! I'll read replies aloud for you. Right-click me for options."
#: How long the speech thread may take to finish its current step at shut-down.
THREAD_JOIN_MS = 2000


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


class Companion(QObject):
    """The running mascot: every part, wired.

    Signals:
        sign_in_requested(): the user asked to sign in (the bubble's button): the dialog.
        shut_down(): shut-down finished.

    Attributes:
        settings, player, worker, speech_thread, router, window, menu, ipc, read_aloud: the parts.
        chat, chat_worker, chat_thread, chat_panel: the chat (controller, client thread, panel).
        session, session_flow: the token (env, keyring or 0600 file) and the unauthorized path
            (every 401 → one sign-in dialog; the held reply resumes after sign-in).
        notices: one-line notices shown in the bubble at start (settings, audio, engine).
    """

    sign_in_requested = Signal()
    shut_down = Signal()
    _warm_up = Signal()

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
        self._signal_sock: tuple[socket.socket, socket.socket] | None = None
        self._signal_notifier: QSocketNotifier | None = None
        self._old_handlers: dict[int, Any] = {}
        self._settings_dialog: SettingsDialog | None = None
        self.ipc: IpcServer | None = None
        self._engine_notices: list[str] = []

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
        self._audio_notice: str | None = None  # the last audio notice the user was shown

        # The token: COMPANION_TOKEN, else the keyring (or the 0600 file); read per request.
        self.session = SessionStore(base_url=config.backend_url(self.settings))

        self.speech_thread = QThread()
        self.speech_thread.setObjectName("speech")
        self.worker = SpeechWorker(engine_factory=self._engine_factory(), sample_rate=SAMPLE_RATE)
        self.worker.moveToThread(self.speech_thread)
        self._warm_up.connect(self.worker.warm_up)
        self.worker.engine_ready.connect(self._on_engine_ready)

        self.window = MascotWindow(settings=self.settings)
        self.router = ReplyRouter(
            settings=self.settings,
            player=self.player,
            worker=self.worker,
            view=self.window.view,
            bubble=self.window.bubble,
            sample_rate=SAMPLE_RATE,
            parent=self,
        )
        self.menu = MascotMenu(settings=self.settings, icon=_app_icon(), parent=self)
        self.read_aloud = ReadAloudBox()
        self.session_flow = SessionCoordinator(
            session=self.session,
            router=self.router,
            view=self.window.view,
            bubble=self.window.bubble,
            parent=self,
        )
        self._build_chat()
        self._wire()

    # -- building ------------------------------------------------------------------------------

    def _make_player(self) -> Player:
        s = self.settings
        try:
            return Player(
                sample_rate=SAMPLE_RATE,
                device=s.output_device or None,
                volume=s.volume,
            )
        except Exception as exc:  # a device that vanished: the default output instead
            log.warning("[app] output device unusable (%s); using the default", type(exc).__name__)
            return Player(sample_rate=SAMPLE_RATE, volume=s.volume)

    def _engine_factory(self) -> Callable[[], SpeechEngine]:
        """A factory run in the speech thread, over a snapshot of the settings."""
        snapshot = dataclasses.replace(self.settings)
        embedded = self.options.embedded_voice
        session = self.session

        notices = self._engine_notices

        def factory() -> SpeechEngine:
            from companion.speech.engines import choose_engine

            client = None
            if not embedded and config.backend_url(snapshot):
                from companion.backend.client import BackendClient

                client = BackendClient(base_url=config.backend_url(snapshot), token=session.token)
            choice = choose_engine(snapshot, client=client, sample_rate=SAMPLE_RATE)
            if choice.notice:
                notices.append(choice.notice)  # read on the GUI thread after engine_ready
            return choice.engine

        return factory

    def _build_chat(self) -> None:
        loaded = load_conversation()
        if loaded.notice:
            self.notices.append(loaded.notice)
        self.chat_thread = QThread()
        self.chat_thread.setObjectName("chat")
        self.chat_worker = ChatWorker(client_factory=self._chat_client_factory())
        self.chat_worker.moveToThread(self.chat_thread)
        self.chat = ChatController(
            settings=self.settings,
            worker=self.chat_worker,
            router=self.router,
            conversation=loaded.conversation,
            store=save_conversation if self.options.save else None,
            parent=self,
        )
        self.chat_panel = ChatPanel(controller=self.chat, speaking=lambda: self.router.busy)
        if loaded.notice:
            self.chat_panel.show_notice(loaded.notice)

    def _chat_client_factory(self) -> Callable[[], Any]:
        """A factory run in the chat thread: a client for the backend in the settings, or None."""
        url = config.backend_url(self.settings)
        session = self.session

        def factory() -> Any:
            if not url:
                return None
            from companion.backend.client import BackendClient

            return BackendClient(base_url=url, token=session.token, read_timeout=CHAT_STALL_S)

        return factory

    def _wire(self) -> None:
        w, r, m = self.window, self.router, self.menu
        w.escape_pressed.connect(r.stop)
        w.escape_pressed.connect(self.chat.stop)
        w.moved.connect(self._chat_follows)
        self.chat_panel.escape_pressed.connect(r.stop)
        self.chat.notice.connect(self.chat_panel.show_notice)
        m.chat_requested.connect(self.toggle_chat)
        m.stop_requested.connect(self.chat.stop)
        w.context_menu_requested.connect(m.popup)
        w.read_aloud_requested.connect(self.open_read_aloud)
        w.moved.connect(self._save_soon)
        w.scale_changed.connect(self._save_soon)
        w.bubble.retry_clicked.connect(r.retry)
        w.bubble.action_clicked.connect(self._on_bubble_action)
        self.sign_in_requested.connect(self.session_flow.open_dialog)
        m.sign_in_requested.connect(self.session_flow.open_dialog)
        m.sign_out_requested.connect(self.session_flow.sign_out)
        self.session_flow.account_changed.connect(m.set_account)
        m.show_hide_requested.connect(self.toggle_window)
        m.mute_toggled.connect(self._on_mute)
        m.always_on_top_toggled.connect(self._on_always_on_top)
        m.stop_requested.connect(r.stop)
        m.replay_requested.connect(r.replay_last)
        m.reset_position_requested.connect(w.reset_position)
        m.settings_requested.connect(self.open_settings)
        m.read_aloud_requested.connect(self.open_read_aloud)
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
        if self.options.ipc:
            self.ipc = IpcServer(parent=self)
            if not self.ipc.listen():
                try:
                    send_request({"cmd": "show"}, name=self.ipc.name, timeout_ms=2000)
                except (OSError, Exception) as exc:  # the other one is busy; nothing to do
                    log.info("[app] could not reach the running mascot: %s", type(exc).__name__)
                log.info("[app] a mascot is already running; this one exits")
                return False
            self.ipc.say_requested.connect(self._on_ipc_say)
            self.ipc.ask_requested.connect(self._on_ipc_ask)
            self.ipc.show_requested.connect(self.show_window)
        if self.options.signals:
            self._install_signal_handlers()
        self.speech_thread.start()
        self.chat_thread.start()
        self._warm_up.emit()
        self._audio_notice = self.player.notice
        if self._audio_notice:
            self.notices.append(self._audio_notice)
        self.window.show()
        self.window.ensure_on_screen()
        self.menu.set_window_visible(True)
        if self.notices:
            self.window.bubble.show_message(" ".join(self.notices), kind="info")
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
            self.router.say(GREETING, source="greeting", force=True)

    # -- signals (SIGTERM / SIGINT / SIGHUP) ---------------------------------------------------

    def _install_signal_handlers(self) -> None:
        """Let Python signal handlers run while Qt's C++ event loop sleeps.

        The C-level handler writes the signal number to a socket pair (signal.set_wakeup_fd);
        a QSocketNotifier wakes the event loop, which then shuts down in order.
        """
        rsock, wsock = socket.socketpair()
        rsock.setblocking(False)
        wsock.setblocking(False)
        try:
            signal.set_wakeup_fd(wsock.fileno(), warn_on_full_buffer=False)
        except ValueError:  # not the main thread: no signal handling (tests building the app)
            rsock.close()
            wsock.close()
            return
        self._signal_sock = (rsock, wsock)
        for signum in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)):
            if signum is not None:
                self._old_handlers[signum] = signal.signal(signum, _note_signal)
        self._signal_notifier = QSocketNotifier(rsock.fileno(), QSocketNotifier.Type.Read, self)
        self._signal_notifier.activated.connect(self._on_signal_fd)

    @Slot()
    def _on_signal_fd(self) -> None:
        if self._signal_sock is None:
            return
        try:
            data = self._signal_sock[0].recv(64)
        except OSError:
            return
        if data:
            log.info("[app] signal %d: shutting down", data[-1])
            self.quit()

    def _remove_signal_handlers(self) -> None:
        if self._signal_notifier is not None:
            self._signal_notifier.setEnabled(False)
            self._signal_notifier = None
        if self._signal_sock is not None:
            signal.set_wakeup_fd(-1)
            for signum, handler in self._old_handlers.items():
                signal.signal(signum, handler)
            for sock in self._signal_sock:
                sock.close()
            self._signal_sock = None

    # -- actions -------------------------------------------------------------------------------

    @Slot(str)
    def _on_ipc_say(self, text: str) -> None:
        self.router.say(text, source="say")

    @Slot(str, object)
    def _on_ipc_ask(self, text: str, stream: IpcStream | None) -> None:
        if not self.window.isVisible():
            self.show_window()
        self.chat.ask(text, listener=stream)

    @Slot()
    def toggle_chat(self) -> None:
        if self.chat_panel.isVisible():
            self.chat_panel.hide()
            return
        if not self.window.isVisible():
            self.show_window()
        self.chat_panel.open_near(self.window)

    @Slot()
    def _chat_follows(self) -> None:
        if self.chat_panel.isVisible():
            self.chat_panel.follow(self.window)

    @Slot(str)
    def _on_read_aloud(self, text: str) -> None:
        self.router.say(text, source="read_aloud", force=True)

    @Slot()
    def toggle_window(self) -> None:
        if self.window.isVisible():
            self.window.hide()
            self.read_aloud.hide()
            self.menu.set_window_visible(False)
        else:
            self.show_window()

    @Slot()
    def show_window(self) -> None:
        self.window.show()
        self.window.ensure_on_screen()
        if QGuiApplication.platformName() not in ("offscreen", "minimal"):
            self.window.raise_()  # headless platforms warn that they cannot
        self.menu.set_window_visible(True)

    @Slot(bool)
    def _on_mute(self, muted: bool) -> None:
        self.router.set_muted(muted)
        self._save_soon()

    @Slot(bool)
    def _on_always_on_top(self, on: bool) -> None:
        self.settings.always_on_top = on
        self.window.set_always_on_top(on)
        self._save_soon()

    @Slot()
    def open_read_aloud(self) -> None:
        if not self.window.isVisible():
            self.show_window()
        self.read_aloud.open_near(self.window)

    @Slot()
    def open_settings(self) -> None:
        if self._settings_dialog is not None:
            self._settings_dialog.raise_()
            self._settings_dialog.activateWindow()
            return
        dialog = SettingsDialog(settings=self.settings)
        volume_before = self.player.volume
        dialog.test_voice_requested.connect(self._test_voice)

        def done(result: int) -> None:
            self._settings_dialog = None
            if result == SettingsDialog.DialogCode.Accepted:
                self.apply_settings(dialog.edited())
            else:
                self.player.volume = volume_before
            dialog.deleteLater()

        dialog.finished.connect(done)
        self._settings_dialog = dialog
        dialog.show()

    @Slot(object)
    def _test_voice(self, edited: Settings) -> None:
        self.player.volume = edited.volume
        self.router.say(
            TEST_SENTENCE, source="test", force=True, voice=edited.voice, speed=edited.speed
        )

    def apply_settings(self, new: Settings) -> None:
        """Take the dialog's values (the window keeps its position and scale object)."""
        old = dataclasses.replace(self.settings)
        for f in dataclasses.fields(Settings):
            if f.name not in ("position", "greeted"):
                setattr(self.settings, f.name, getattr(new, f.name))
        s = self.settings
        self.player.volume = s.volume
        if s.output_device != old.output_device:
            self.player.set_device(s.output_device or None)
        if s.always_on_top != old.always_on_top:
            self.window.set_always_on_top(s.always_on_top)
            self.menu.set_always_on_top(s.always_on_top)
        if s.scale != old.scale:
            self.window.set_scale(s.scale)
        if config.backend_url(s) != config.backend_url(old):
            self.session_flow.set_base_url(config.backend_url(s))
        if config.backend_url(s) != config.backend_url(old):
            self.chat_worker.set_client_factory(self._chat_client_factory())
        if (s.backend_url, s.engine, s.voice_precision) != (
            old.backend_url,
            old.engine,
            old.voice_precision,
        ):
            self.worker.set_engine_factory(self._engine_factory())
            self._warm_up.emit()
        if s.crash_reports != old.crash_reports and self.options.telemetry:
            telemetry.init_telemetry(
                dsn=config.sentry_dsn(s) or None,
                enabled=s.crash_reports,
                environment=os.environ.get("COMPANION_ENVIRONMENT", "production"),
            )
        self.save()

    @Slot(str)
    def _on_bubble_action(self, action: str) -> None:
        if action == "sign_in":
            self.sign_in_requested.emit()
        elif action == "retry":
            self.router.retry()
        elif action == RETRY_ACTION:
            self.chat.retry()

    @Slot(int)
    def _on_reply_finished(self, reply_id: int) -> None:
        """The audio output changed under a reply (the device vanished, the default went
        silent): once the reply has ended, say so in the bubble, once per new notice."""
        notice = self.player.notice
        if notice and notice != self._audio_notice:
            # After the router has finished with the bubble (it fades the subtitles).
            QTimer.singleShot(0, lambda: self._show_audio_notice(notice))
        self._audio_notice = notice

    def _show_audio_notice(self, notice: str) -> None:
        if not self.is_shutting_down and not self.router.busy:
            log.info("[app] audio notice shown: %s", notice)
            self.window.bubble.show_message(notice, kind="info")

    @Slot(str)
    def _on_engine_ready(self, name: str) -> None:
        log.info("[app] speech engine: %s", name)
        self.engine_name = name
        while self._engine_notices:
            notice = self._engine_notices.pop(0)
            if not self.router.busy:
                self.window.bubble.show_message(notice, kind="info")

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
            self.window.bubble.show_message(notice, kind="error")

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
        self._save_timer.stop()
        self.chat.close()
        self.chat_worker.cancel_all()
        self.router.close()
        self.session_flow.close()
        self.player.stop()
        self.window.view.stop_lipsync()
        self.worker.cancel_all()
        self.speech_thread.quit()
        if not self.speech_thread.wait(THREAD_JOIN_MS):
            log.warning("[app] speech thread still busy after %d ms; waiting", THREAD_JOIN_MS)
            self.speech_thread.wait()
        self.chat_thread.quit()
        if not self.chat_thread.wait(THREAD_JOIN_MS):
            log.warning("[app] chat thread still busy after %d ms; waiting", THREAD_JOIN_MS)
            self.chat_thread.wait()
        self.chat_worker.close()
        self.player.close()
        if self.ipc is not None:
            self.ipc.close()
        self.menu.close()
        self.read_aloud.close()
        self.chat_panel.close()
        if self._settings_dialog is not None:
            self._settings_dialog.reject()
        self.save()
        self.window.close()
        self._remove_signal_handlers()
        if self.options.telemetry:
            telemetry.flush(0.5)
        log.info("[app] shut down in %.0f ms", 1000 * (time.monotonic() - started))
        self.shut_down.emit()


def _note_signal(signum: int, frame: FrameType | None) -> None:
    """Python-level handler; the work happens in the event loop (see the wakeup fd)."""


def setup_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
        )


def run_app(self_test: bool = False) -> int:
    """``companion``: the mascot, until Quit or a signal. ``--self-test``: see selftest.py."""
    if self_test:
        from companion.selftest import run_self_test

        return run_self_test()
    setup_logging()
    qapp = ensure_qapp()
    companion = Companion(qapp=qapp)
    if not companion.start():
        companion.shutdown()
        return 0
    code = qapp.exec()
    companion.shutdown()
    return int(code)
