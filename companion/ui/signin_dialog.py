# SPDX-License-Identifier: GPL-3.0-or-later
"""The sign-in dialog: "Sign in with browser", or a pasted token / API key.

The dialog only shows and asks; the work (loopback listener, token exchange, checks) is
done off the GUI thread by :class:`~companion.replies.signin_controller.SignInController`.
On success the dialog is accepted and :attr:`SignInDialog.result_value` holds the checked
sign-in; the caller keeps the token. Cancel (or Escape, or closing the window) stops any waiting.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from companion.backend.signin_types import SignInError, SignInFailure, SignInResult
from companion.replies.signin_controller import SignInController

log = logging.getLogger("companion.ui")

TITLE = "Sign in to Companion"
#: Signing in is for a server that asks for it; the built-in voice needs none.
INTRO = (
    "Sign in to use your server's chat and voice. Without signing in, Companion still speaks "
    "with its built-in voice."
)
_STATUS_STYLE = {"info": "", "error": "color: #b3261e;", "ok": "color: #1b6e2e;"}


class SignInDialog(QDialog):
    """Asks the user to sign in.

    Signals:
        signed_in(SignInResult): a checked sign-in (emitted just before the dialog accepts).

    Attributes:
        controller: does the work off the GUI thread.
        browser_button, token_edit, token_button, cancel_button, status_label: the widgets.
        result_value: the sign-in once accepted, else None.
    """

    signed_in = Signal(object)

    def __init__(
        self,
        *,
        controller: SignInController,
        reason: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.setObjectName("sign-in-dialog")
        self.controller = controller
        self.result_value: SignInResult | None = None
        self._status_kind = "info"
        server = controller.base_url

        intro = QLabel(reason or INTRO)
        intro.setObjectName("intro")
        intro.setWordWrap(True)
        where = QLabel(f"Server: {server}" if server else "No server is set (see Settings).")
        where.setObjectName("server")
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.browser_button = QPushButton("Sign in with browser")
        self.browser_button.setObjectName("browser")
        self.browser_button.setDefault(not controller.openai_compatible)
        self.browser_button.clicked.connect(self._on_browser)

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        key_label = QLabel("Use a token or API key")
        self.token_edit = QLineEdit()
        self.token_edit.setObjectName("token")
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("Paste a token or API key")
        self.token_edit.setClearButtonEnabled(True)
        key_label.setBuddy(self.token_edit)
        self.token_button = QPushButton("Use key")
        self.token_button.setObjectName("use-token")
        self.token_button.setEnabled(False)
        self.token_button.clicked.connect(self._on_token)
        self.token_edit.textChanged.connect(self._update_buttons)
        self.token_edit.returnPressed.connect(self._on_token)
        key_row = QHBoxLayout()
        key_row.addWidget(self.token_edit, 1)
        key_row.addWidget(self.token_button)

        self.status_label = QLabel("")
        self.status_label.setObjectName("status")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label.hide()

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        cancel = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        assert cancel is not None
        self.cancel_button = cancel
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(where)
        layout.addWidget(self.browser_button)
        layout.addWidget(line)
        layout.addWidget(key_label)
        layout.addLayout(key_row)
        layout.addWidget(self.status_label)
        layout.addWidget(buttons)
        self.setMinimumWidth(420)

        controller.succeeded.connect(self._on_succeeded)
        controller.failed.connect(self._on_failed)
        controller.status.connect(self._on_status)
        controller.busy_changed.connect(self._update_buttons)
        if not server:
            self.set_status("No server is set: add the backend address in Settings.", "error")
        elif controller.openai_compatible:
            self.set_status("This server signs in with an API key.", "info")
        self._update_buttons()

    # --- what tests and the caller read ---------------------------------------------------

    @property
    def status_kind(self) -> str:
        return self._status_kind

    def status_text(self) -> str:
        return self.status_label.text()

    def set_status(self, text: str, kind: str = "info") -> None:
        self._status_kind = kind
        self.status_label.setText(text)
        self.status_label.setStyleSheet(_STATUS_STYLE.get(kind, ""))
        self.status_label.setVisible(bool(text))

    # --- actions ------------------------------------------------------------------------------

    @Slot()
    def _update_buttons(self) -> None:
        busy = self.controller.busy
        has_server = bool(self.controller.base_url)
        self.browser_button.setEnabled(
            has_server and not busy and not self.controller.openai_compatible
        )
        self.token_edit.setEnabled(has_server and not busy)
        self.token_button.setEnabled(has_server and not busy and bool(self.token_edit.text()))

    @Slot()
    def _on_browser(self) -> None:
        self.set_status("Opening the browser…")
        self.controller.start_browser()

    @Slot()
    def _on_token(self) -> None:
        if self.token_button.isEnabled():
            self.controller.use_token(self.token_edit.text())

    @Slot(str)
    def _on_status(self, text: str) -> None:
        self.set_status(text, "info")

    @Slot(object)
    def _on_failed(self, error: SignInError) -> None:
        self.set_status(error.user_message, "error")
        if error.kind == SignInFailure.WRONG_KEY:
            self.token_edit.selectAll()
            self.token_edit.setFocus()

    @Slot(object)
    def _on_succeeded(self, result: SignInResult) -> None:
        self.result_value = result
        self.token_edit.clear()  # the key stays in no widget
        self.set_status(f"Signed in as {result.account.label}.", "ok")
        self.signed_in.emit(result)
        self.accept()

    # --- for the session coordinator -------------------------------------------------------

    def open_dialog(self) -> None:
        """Show it in front (placed beside the mascot by the desktop's layout, never under it)."""
        self.show()
        self.bring_to_front()

    def bring_to_front(self) -> None:
        self.raise_()
        self.activateWindow()

    def close_dialog(self) -> None:
        """Stop any waiting, close (cancelled, if still open) and delete it."""
        self.controller.close(0.5)
        if self.isVisible():
            self.reject()
        self.deleteLater()

    # --- closing --------------------------------------------------------------------------------

    def done(self, result: int) -> None:
        """Accept, Cancel, Escape and the close button all end here: stop any waiting."""
        if result != QDialog.DialogCode.Accepted:
            self.controller.cancel()
            self.token_edit.clear()
            log.info("[sign_in] dialog cancelled")
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.controller.cancel()
        super().closeEvent(event)
