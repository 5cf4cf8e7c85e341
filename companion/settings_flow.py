# SPDX-License-Identifier: GPL-3.0-or-later
"""The Settings dialog and what its values change: one dialog at a time, Test voice, apply.

Applying takes the dialog's values into the live settings (the window keeps its position)
and tells each part what changed: volume and output device to the player, always-on-top and
size to the window and the menu, a new backend to the session and both workers (a new engine
is built and warmed in the speech thread), the crash-report switch to telemetry. Then the
settings are saved. Cancel puts back the volume the Test voice button may have changed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable

from PySide6.QtCore import QObject, Slot

from companion import config, telemetry
from companion.audio.player import Player
from companion.config import Settings
from companion.replies.router import ReplyRouter
from companion.replies.session import SessionCoordinator
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

    Attributes:
        dialog: the open dialog, or None.
    """

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
        self.dialog: SettingsDialog | None = None

    @Slot()
    def open(self) -> None:
        """Show the dialog (the open one comes to the front instead of a second)."""
        if self.dialog is not None:
            self.dialog.raise_()
            self.dialog.activateWindow()
            return
        dialog = SettingsDialog(settings=self._settings)
        volume_before = self._player.volume
        dialog.test_voice_requested.connect(self._test_voice)

        def done(result: int) -> None:
            self.dialog = None
            if result == SettingsDialog.DialogCode.Accepted:
                self.apply(dialog.edited())
            else:
                self._player.volume = volume_before
            dialog.deleteLater()

        dialog.finished.connect(done)
        self.dialog = dialog
        dialog.show()

    @Slot(object)
    def _test_voice(self, edited: Settings) -> None:
        self._player.volume = edited.volume
        self._router.say(
            TEST_SENTENCE,
            source=ReplySource.TEST,
            force=True,
            voice=edited.voice,
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
        if config.backend_url(s) != config.backend_url(old):
            self._session_flow.set_base_url(config.backend_url(s))
        self._workers.use_settings(s, old)
        if s.crash_reports != old.crash_reports and self._telemetry:
            telemetry.init_telemetry(
                dsn=config.sentry_dsn(s) or None,
                enabled=s.crash_reports,
                environment=os.environ.get("COMPANION_ENVIRONMENT", "production"),
            )
        self._save()

    def close(self) -> None:
        """Shut-down: a dialog still open is cancelled."""
        if self.dialog is not None:
            self.dialog.reject()
