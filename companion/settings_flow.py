# SPDX-License-Identifier: GPL-3.0-or-later
"""The Settings dialog and what its values change: one dialog at a time, Test voice, apply.

Applying takes the dialog's values into the live settings (the window keeps its position)
and tells each part what changed: volume and output device to the player, always-on-top and
size to the window and the menu, refusing plain HTTP to the token's guard
(:mod:`companion.backend.headers`, whose once-per-backend warning is the bubble's notice), a
new backend to the session and both workers (a new engine is built and warmed in the speech
thread), the crash-report switch to telemetry, another character to the mascot view (it swaps
its art live; a pack that broke meanwhile leaves the current one in place and says why). Then
the settings are saved. Cancel puts back the volume the Test voice button may have changed.
Removing the character on screen in the Character page shows the built-in one at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal, Slot

from companion import config, telemetry
from companion.audio.player import Player
from companion.backend import headers
from companion.characters.manifest import PackError
from companion.characters.store import BUILTIN_ID, CharacterStore
from companion.config import Settings
from companion.replies.router import ReplyRouter
from companion.replies.session import SessionCoordinator
from companion.speech.piper_engine import VOICE_NAME as BUILTIN_VOICE
from companion.ui.art import MascotArt
from companion.ui.menu import MascotMenu
from companion.ui.settings_dialog import TEST_SENTENCE, SettingsDialog
from companion.ui.window import MascotWindow
from companion.vocab import ReplySource
from companion.workers import Workers

log = logging.getLogger("companion.app")

#: Settings the dialog never changes (the window and the first run own them).
KEPT = frozenset({"position", "greeted"})


class SettingsFlow(QObject):
    """Opens the Settings dialog and applies what it changed.

    Signals:
        notice(str): one line for the bubble (a character that could not be shown).
        opened(SettingsDialog): a dialog is about to be shown (the desktop places it).

    Attributes:
        dialog: the open dialog, or None.
    """

    notice = Signal(str)
    opened = Signal(object)

    def __init__(
        self,
        *,
        settings: Settings,
        player: Player,
        router: ReplyRouter,
        window: MascotWindow,
        menu: MascotMenu,
        session_flow: SessionCoordinator,
        workers: Workers,
        telemetry: bool,
        save: Callable[[], None],
        characters: CharacterStore | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings
        self._player = player
        self._router = router
        self._window = window
        self._menu = menu
        self._session_flow = session_flow
        self._workers = workers
        self._telemetry = telemetry
        self._save = save
        self._characters = characters if characters is not None else CharacterStore()
        self.dialog: SettingsDialog | None = None
        # Plain HTTP to another machine: refused per the setting, else said once in the bubble
        # (the sink runs in network threads: a signal reaches the GUI thread queued).
        headers.set_refuse_plain_http(settings.refuse_plain_http)
        headers.set_notice_sink(self._plain_http_notice)

    def _plain_http_notice(self, line: str) -> None:
        with contextlib.suppress(RuntimeError):  # this flow is gone (a test's app closed)
            self.notice.emit(line)

    @Slot()
    def open(self) -> None:
        """Show the dialog (the open one comes to the front instead of a second)."""
        if self.dialog is not None:
            self.dialog.raise_()
            self.dialog.activateWindow()
            return
        dialog = SettingsDialog(settings=self._settings, characters=self._characters)
        volume_before = self._player.volume
        dialog.test_voice_requested.connect(self._test_voice)
        dialog.character_page.removed.connect(self._character_removed)

        def done(result: int) -> None:
            self.dialog = None
            if result == SettingsDialog.DialogCode.Accepted:
                self.apply(dialog.edited())
            else:
                self._player.volume = volume_before
            dialog.deleteLater()

        dialog.finished.connect(done)
        self.dialog = dialog
        self.opened.emit(dialog)
        dialog.show()

    @Slot(object)
    def _test_voice(self, edited: Settings) -> None:
        self._player.volume = edited.volume
        remote = edited.engine == "auto" and bool(config.backend_url(edited))
        self._router.say(
            TEST_SENTENCE,
            source=ReplySource.TEST,
            force=True,
            # The backend's voice, or the local voice on screen (the engine speaks any).
            voice=edited.voice if remote else (edited.local_voice or BUILTIN_VOICE),
            speed=edited.speed,
        )

    def apply(self, new: Settings) -> None:
        """Take ``new``'s values and tell every part what changed; then save."""
        old = dataclasses.replace(self._settings)
        for f in dataclasses.fields(Settings):
            if f.name not in KEPT:
                setattr(self._settings, f.name, getattr(new, f.name))
        s = self._settings
        self._player.volume = s.volume
        if s.output_device != old.output_device:
            self._player.set_device(s.output_device or None)
        if s.always_on_top != old.always_on_top:
            self._window.set_always_on_top(s.always_on_top)
            self._menu.set_always_on_top(s.always_on_top)
        if s.scale != old.scale:
            self._window.set_scale(s.scale)
        if s.character != old.character:
            self._show_character(s.character, instead=old.character)
        if config.backend_url(s) != config.backend_url(old):
            self._session_flow.set_base_url(config.backend_url(s))
        self._workers.use_settings(s, old)
        headers.set_refuse_plain_http(s.refuse_plain_http)
        if s.crash_reports != old.crash_reports and self._telemetry:
            telemetry.init_telemetry(
                dsn=config.sentry_dsn(s) or None,
                enabled=s.crash_reports,
                environment=os.environ.get("COMPANION_ENVIRONMENT", "production"),
            )
        self._save()

    def _show_character(self, pack_id: str, *, instead: str) -> None:
        """The mascot draws ``pack_id`` from now on; if it cannot, ``instead`` stays."""
        try:
            character = self._characters.load(pack_id)
        except PackError as exc:
            log.info("[settings] character %s not shown: %s", pack_id, exc)
            self._settings.character = instead
            self.notice.emit(f"The character could not be shown: {exc}")
            return
        self._window.view.set_art(MascotArt(character))

    @Slot(str)
    def _character_removed(self, pack_id: str) -> None:
        if pack_id == self._settings.character:
            self._settings.character = BUILTIN_ID
            self._window.view.set_art(MascotArt())
            self._save()

    def close(self) -> None:
        """Shut-down: a dialog still open is cancelled; plain-HTTP warnings go to the log only."""
        headers.clear_notice_sink(self._plain_http_notice)
        if self.dialog is not None:
            self.dialog.reject()
