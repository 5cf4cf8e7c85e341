# SPDX-License-Identifier: GPL-3.0-or-later
"""The mascot's two background threads: speech (synthesis) and chat (the streamed reply).

Each worker is a ``QObject`` moved to its own ``QThread``; the GUI talks to it through queued
signals and cancels through its token registry (never through its busy event loop). The
factories they run are built here over a snapshot of the settings, so a settings change gives
each worker a new factory (:meth:`Workers.use_settings`) that takes effect from its next
request; the voice is loaded (warmed) in the speech thread right away, never on the GUI
thread. Shut-down cancels both, then quits and joins each thread.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Callable

from PySide6.QtCore import QObject, QThread, Signal

from companion import config
from companion.backend.auth import SessionStore
from companion.backend.client import BackendClient
from companion.backend.urls import url_problem
from companion.config import Settings
from companion.replies.chat import STALL_S as CHAT_STALL_S
from companion.replies.chat import ChatWorker, ClientFactory
from companion.replies.chat_messages import ChatUnavailable
from companion.speech.types import PLAYER_RATE, SpeechEngine
from companion.speech.worker import SpeechWorker

log = logging.getLogger("companion.app")

#: How long a thread may take to finish its current step at shut-down.
THREAD_JOIN_MS = 2000
#: How long a thread holds the interpreter before another may have it (Python's default is
#: 5 ms): a chat thread reading a flood would otherwise make each of the GUI thread's many
#: small calls wait up to that long, and its event loop stall for tens of milliseconds.
GIL_SWITCH_S = 0.001


class Workers(QObject):
    """Builds, starts and stops the speech and chat threads.

    Attributes:
        speech, speech_thread: the speech worker and its thread.
        chat, chat_thread: the chat worker and its thread.
        notices: one-line notices about the engine chosen (a fallback), appended in the speech
            thread and read on the GUI thread after ``speech.engine_ready``.
    """

    _warm_up = Signal()

    def __init__(
        self,
        *,
        settings: Settings,
        session: SessionStore,
        embedded_voice: bool = False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._embedded = embedded_voice
        self.notices: list[str] = []
        self.speech_thread = QThread()
        self.speech_thread.setObjectName("speech")
        self.speech = SpeechWorker(
            engine_factory=self.engine_factory(settings), sample_rate=PLAYER_RATE
        )
        self.speech.moveToThread(self.speech_thread)
        self._warm_up.connect(self.speech.warm_up)
        self.chat_thread = QThread()
        self.chat_thread.setObjectName("chat")
        self.chat = ChatWorker(client_factory=self.chat_client_factory(settings))
        self.chat.moveToThread(self.chat_thread)

    def engine_factory(self, settings: Settings) -> Callable[[], SpeechEngine]:
        """A factory run in the speech thread, over a snapshot of ``settings``."""
        snapshot = dataclasses.replace(settings)
        embedded, session, notices = self._embedded, self._session, self.notices

        def factory() -> SpeechEngine:
            from companion.speech.engines import choose_engine

            client = None
            url = config.backend_url(snapshot)
            if not embedded and url:
                client = BackendClient(base_url=url, token=session.token)
            choice = choose_engine(snapshot, client=client, sample_rate=PLAYER_RATE)
            if choice.notice:
                notices.append(choice.notice)  # read on the GUI thread after engine_ready
            return choice.engine

        return factory

    def chat_client_factory(self, settings: Settings) -> ClientFactory:
        """A factory run in the chat thread: a client for the backend in the settings, or None."""
        url = config.backend_url(settings)
        session = self._session

        def factory() -> BackendClient | None:
            if not url:
                return None
            problem = url_problem(url)
            if problem:  # no request to an address that is not one: a line, no crash report
                raise ChatUnavailable(url, problem)
            return BackendClient(base_url=url, token=session.token, read_timeout=CHAT_STALL_S)

        return factory

    def start(self) -> None:
        sys.setswitchinterval(GIL_SWITCH_S)
        self.speech_thread.start()
        self.chat_thread.start()
        self.warm_up()

    def warm_up(self) -> None:
        """Load the voice now, in the speech thread (not with the first reply)."""
        self._warm_up.emit()

    def use_settings(self, new: Settings, old: Settings) -> None:
        """What changed in the settings reaches each worker from its next request on."""
        if config.backend_url(new) != config.backend_url(old):
            self.chat.set_client_factory(self.chat_client_factory(new))

        def engine_of(s: Settings) -> tuple[str, ...]:
            return (
                config.backend_url(s),
                s.engine,
                s.local_voice,
                s.response_format,
                s.voice_precision,
            )

        if engine_of(new) != engine_of(old):
            self.speech.set_engine_factory(self.engine_factory(new))
            self.warm_up()

    def cancel_all(self) -> None:
        self.chat.cancel_all()
        self.speech.cancel_all()

    def join(self) -> None:
        """Quit and join both threads (after :meth:`cancel_all`), then close the chat client."""
        for thread in (self.speech_thread, self.chat_thread):
            thread.quit()
            if not thread.wait(THREAD_JOIN_MS):
                log.warning(
                    "[app] %s thread still busy after %d ms; waiting",
                    thread.objectName(),
                    THREAD_JOIN_MS,
                )
                thread.wait()
        self.chat.close()
