# SPDX-License-Identifier: GPL-3.0-or-later
"""Rows of the settings dialog that check what they hold: the backend address (checked as it is
typed, or shown as set by ``COMPANION_BACKEND_URL``) and the crash-report switch (it applies
only where a crash-report address, a Sentry DSN, is configured)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QCheckBox, QLabel, QLineEdit, QVBoxLayout, QWidget

from companion import config
from companion.config import Settings

ENV_BACKEND = "COMPANION_BACKEND_URL"
ENV_DSN = "COMPANION_SENTRY_DSN"
ERROR_STYLE = "color: #b3261e;"
NOTE_STYLE = "color: palette(text);"
EMPTY_HINT = "Leave empty to use the voice built into Companion (no server, no sign-in)."


def backend_url_problem(text: str) -> str | None:
    """What is wrong with ``text`` as a backend address, for people; None when it is usable
    (an empty address is: the built-in voice speaks)."""
    url = text.strip()
    if not url:
        return None
    if any(c.isspace() for c in url):
        return f"“{url}” has a space in it: a web address has none."
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return f"“{url}” must start with http:// or https:// (for example http://127.0.0.1:8000)."
    if not parts.hostname:
        return f"“{url}” has no server name after {parts.scheme}://."
    try:
        parts.port  # noqa: B018 - reading it checks it (ValueError when it is not 1-65535)
    except ValueError:
        return f"“{url}” has a port that is not a number from 1 to 65535."
    return None


class BackendUrlField(QWidget):
    """The backend address with a line under it: what is wrong with it, or where it comes from.

    Signals:
        validity_changed(bool): the address became usable or not.

    Attributes:
        edit: the line edit (read-only when the environment sets the address).
        message: the line under it.
        overridden: the environment's address, when ``COMPANION_BACKEND_URL`` is set.
    """

    validity_changed = Signal(bool)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._saved = settings.backend_url
        self.overridden = os.environ.get(ENV_BACKEND, "").strip()
        self.edit = QLineEdit(self.overridden or settings.backend_url)
        self.edit.setObjectName("backend-url")
        self.edit.setPlaceholderText("http://127.0.0.1:8000 or https://api.example.com/v1")
        self.edit.setClearButtonEnabled(not self.overridden)
        self.message = QLabel()
        self.message.setObjectName("backend-url-message")
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit)
        layout.addWidget(self.message)
        self._valid = True
        if self.overridden:
            self.edit.setReadOnly(True)
            self.edit.setToolTip(f"Set by {ENV_BACKEND}")
        self.edit.textChanged.connect(self._check)
        self._check()

    @property
    def valid(self) -> bool:
        return self._valid

    def value(self) -> str:
        """What the settings file keeps (never the environment's address)."""
        return self._saved if self.overridden else self.edit.text().strip()

    @Slot()
    def _check(self) -> None:
        if self.overridden:
            problem = backend_url_problem(self.overridden)
            self._show(
                f"Set by {ENV_BACKEND} in the environment; unset it to choose the address here."
                + (f" {problem}" if problem else ""),
                error=problem is not None,
            )
            valid = True  # nothing typed here to refuse
        else:
            problem = backend_url_problem(self.edit.text())
            empty = not self.edit.text().strip()
            self._show(problem or (EMPTY_HINT if empty else ""), error=problem is not None)
            valid = problem is None
        if valid != self._valid:
            self._valid = valid
            self.validity_changed.emit(valid)

    def _show(self, text: str, *, error: bool) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(ERROR_STYLE if error else NOTE_STYLE)
        self.message.setVisible(bool(text))


def crash_reports_row(settings: Settings) -> tuple[QCheckBox, QLabel]:
    """The switch and its explanation: off and disabled unless a crash-report address (a Sentry
    DSN, ``COMPANION_SENTRY_DSN`` or the settings file) is configured."""
    box = QCheckBox("Send crash reports (never your text, replies or token)")
    note = QLabel()
    note.setWordWrap(True)
    if config.sentry_dsn(settings):
        box.setChecked(settings.crash_reports)
        note.setText(
            "A report says where Companion failed (code, versions, the error's type); "
            "texts, replies, addresses' secrets and tokens are removed before it leaves."
        )
    else:
        box.setChecked(False)
        box.setEnabled(False)
        note.setText(
            "Crash reports are off: this copy of Companion has no address to send them to "
            f"(a Sentry DSN, set with {ENV_DSN}). Nothing is sent."
        )
    return box, note
