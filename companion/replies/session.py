# SPDX-License-Identifier: GPL-3.0-or-later
"""The unauthorized path on the GUI side: every 401 comes here, and one dialog asks.

Sources: the speech worker's ``unauthorized`` and the chat stream reach the router, which
holds the reply (player and mouth stopped, signed-out face, "Sign in" in the bubble) and
emits ``sign_in_needed`` once; any other call that meets a 401 reports it with
:meth:`SessionCoordinator.report_unauthorized` (or, from another thread, the
``unauthorized`` signal), which holds through the router the same way. However many arrive,
one :class:`~companion.ui.signin_dialog.SignInDialog` is open at a time.

After sign-in the token is kept (:class:`~companion.backend.auth.SessionStore`) and the
held reply plays from its start; cancelled, the reply waits in the replay slot. Nothing on
this path is a crash report: the one log line with method and path is the backend table's
(info).

At start, a stored token whose ``exp`` has passed shows the signed-out face and the prompt
without any request; a valid one is checked with ``/auth/me`` in the background, which also
names the account for the menu.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from companion import telemetry
from companion.backend.auth import EXPIRY_MARGIN_S, Account, SessionStore, SignedOut
from companion.backend.errors import BackendApiError, Unauthorized
from companion.backend.signin import fetch_account
from companion.replies.router import BubbleLike, ReplyRouter, ViewLike
from companion.replies.signin_controller import SignInController
from companion.speech.worker import UnauthorizedEvent
from companion.tasks import Background
from companion.ui.signin_dialog import SignInDialog

log = logging.getLogger("companion.session")

PROMPT_HELD = "You are signed out. Sign in to hear the reply."
PROMPT_EXPIRED = "Your sign-in has expired. Sign in to hear replies."
PROMPT_CANCELLED = "Not signed in. After you sign in, Replay last plays the reply."
REASON_LAPSED = "Your session has ended. Sign in again to hear the reply."
#: QTimer's limit (a signed 32-bit count of milliseconds).
_MAX_TIMER_MS = 2**31 - 1


def account_text(session: SessionStore) -> str:
    """The menu's account line."""
    state = session.state
    if state == "signed_in":
        account = session.account
        return f"Signed in as {account.label}" if account is not None else "Signed in"
    if state in ("expired", "lapsed"):
        return "Signed out (session ended)"
    return "Not signed in"


class SessionCoordinator(QObject):
    """Coalesces 401s into one sign-in dialog; resumes or releases the held reply.

    Signals:
        unauthorized(str, str): report a 401 (method, path) from any thread; queued here.
        account_changed(str, bool): the menu's account line, and whether there is a session
            to sign out of.
        signed_in(Account): a sign-in finished (the chat panel may send again).
        sign_in_cancelled(): the dialog was cancelled.
        dialog_opened(): a sign-in dialog was created.

    Attributes:
        session: the token and its state.
        dialog: the open sign-in dialog, or None.
        open_url: how the dialog's controller opens the browser (None: the system browser).
    """

    unauthorized = Signal(str, str)
    account_changed = Signal(str, bool)
    signed_in = Signal(object)
    sign_in_cancelled = Signal()
    dialog_opened = Signal()

    def __init__(
        self,
        *,
        session: SessionStore,
        router: ReplyRouter,
        view: ViewLike,
        bubble: BubbleLike,
        open_url: Callable[[str], bool] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.router = router
        self._view = view
        self._bubble = bubble
        self.open_url = open_url
        self.dialog: SignInDialog | None = None
        self._jobs = Background(self)
        self._closed = False
        self._pending_notice: str | None = None
        self._expiry = QTimer(self)
        self._expiry.setSingleShot(True)
        self._expiry.timeout.connect(self._on_expiry)
        self.unauthorized.connect(self.report_unauthorized)
        router.sign_in_needed.connect(self._on_sign_in_needed)
        router.reply_finished.connect(self._show_pending_notice)

    # --- start -------------------------------------------------------------------------------

    def start(self) -> None:
        """At start: an expired session prompts (no request); a live one names its account."""
        self._publish()
        if not self.session.base_url:
            return
        if self.session.state == "expired":
            log.info("[session] stored sign-in expired: signed out, no request made")
            self._prompt(PROMPT_EXPIRED)
            return
        if self.session.signed_in:
            self._arm_expiry()
            self.refresh_account(quiet=True)

    def _arm_expiry(self) -> None:
        exp = self.session.expires_at
        if exp is None:
            self._expiry.stop()
            return
        # The session counts a token as expired EXPIRY_MARGIN_S before its exp.
        ms = max(0.0, (exp - EXPIRY_MARGIN_S - time.time()) * 1000.0 + 50.0)
        self._expiry.start(int(min(ms, _MAX_TIMER_MS)))

    @Slot()
    def _on_expiry(self) -> None:
        if self.session.state == "expired":
            log.info("[session] sign-in expired")
            self._publish()
            if not self.router.busy and self.dialog is None:
                self._prompt(PROMPT_EXPIRED)
        elif self.session.expires_at is not None:
            self._arm_expiry()  # the timer's limit, or a new token: wait on

    # --- 401s ----------------------------------------------------------------------------------

    @Slot(str, str)
    def report_unauthorized(self, method: str, path: str) -> None:
        """A 401 met outside the speech worker (``/auth/me``, other calls). The caller logged
        it; here the mascot stops, shows the signed-out face and asks, once."""
        if self._closed:
            return
        self.session.mark_lapsed()
        self._publish()
        self.router.hold(UnauthorizedEvent(0, "", method, path))
        if self.dialog is None:  # the router was already holding: it asked before
            self.open_dialog(reason=REASON_LAPSED)

    @Slot(object)
    def _on_sign_in_needed(self, event: UnauthorizedEvent) -> None:
        if self._closed:
            return
        self.session.mark_lapsed()
        self._publish()
        self.open_dialog(reason=REASON_LAPSED)

    # --- the dialog ------------------------------------------------------------------------------

    @Slot()
    def open_dialog(self, reason: str | None = None) -> SignInDialog | None:
        """Show the sign-in dialog (raise the open one instead of opening another)."""
        if self._closed:
            return None
        if self.dialog is not None:
            self.dialog.raise_()
            self.dialog.activateWindow()
            return self.dialog
        controller = SignInController(base_url=self.session.base_url, open_url=self.open_url)
        dialog = SignInDialog(controller=controller, reason=reason)
        controller.setParent(dialog)
        dialog.signed_in.connect(self._on_signed_in)
        dialog.finished.connect(self._on_dialog_finished)
        self.dialog = dialog
        log.info("[session] sign-in dialog opened")
        # The mascot stays on top of other windows; the dialog must not open behind it.
        dialog.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        self.dialog_opened.emit()
        return dialog

    @Slot(object)
    def _on_signed_in(self, result: Any) -> None:
        notice = self.session.store(result.token, account=result.account)
        self._arm_expiry()
        self._publish()
        self.signed_in.emit(result.account)
        resumed = self.router.resume_held()
        if resumed is None:
            self._view.set_expression("idle")
            message = f"Signed in as {result.account.label}."
            self._bubble.show_message(f"{message} {notice}" if notice else message, kind="info")
        else:
            self._pending_notice = notice
        log.info("[session] signed in (%s); held reply %s", result.method, resumed or "none")

    @Slot(int)
    def _on_dialog_finished(self, code: int) -> None:
        dialog, self.dialog = self.dialog, None
        if dialog is None:
            return
        dialog.controller.close(0.5)
        dialog.deleteLater()
        if dialog.result_value is None:
            self.router.release_held()
            if not self.session.signed_in:
                self._prompt(PROMPT_CANCELLED)
            log.info("[session] sign-in cancelled")
            self.sign_in_cancelled.emit()

    @Slot(int)
    def _show_pending_notice(self, reply_id: int) -> None:
        notice, self._pending_notice = self._pending_notice, None
        if notice and not self.router.busy:
            self._bubble.show_message(notice, kind="info")

    # --- the menu ---------------------------------------------------------------------------

    @Slot()
    def sign_out(self) -> None:
        self.session.sign_out()
        self._expiry.stop()
        self._publish()
        if not self.router.busy:
            self._view.set_expression("signed_out")
            self._bubble.show_message("Signed out.", kind="info", action="sign_in")

    def refresh_account(self, *, quiet: bool = False) -> None:
        """``GET /auth/me`` in the background; the account goes to the menu. A 401 there is
        the session lapsing: ``quiet`` (at start) only prompts, else it asks like any 401."""
        base = self.session.base_url
        if not base or not self.session.signed_in:
            return
        try:
            token = self.session.token()
        except SignedOut:
            return

        def done(account: Any, error: BaseException | None) -> None:
            if error is None and isinstance(account, Account):
                self.session.set_account(account)
                self._publish()
            elif isinstance(error, Unauthorized):
                telemetry.log_backend_error(error, operation="auth_me")
                if quiet:
                    self.session.mark_lapsed()
                    self._publish()
                    if not self.router.busy and self.dialog is None:
                        self._prompt(PROMPT_EXPIRED)
                else:
                    self.report_unauthorized(error.method, error.path)
            elif isinstance(error, BackendApiError):
                telemetry.log_backend_error(error, operation="auth_me")
            elif error is not None:
                telemetry.report_exception(error, tags={"operation": "auth_me"})

        self._jobs.run("auth-me", lambda: fetch_account(base, token), done)

    def set_base_url(self, base_url: str) -> None:
        """The backend changed in Settings: its own session."""
        self.session.set_base_url(base_url)
        self._expiry.stop()
        self._publish()
        if self.session.signed_in:
            self._arm_expiry()
            self.refresh_account(quiet=True)

    # --- helpers ----------------------------------------------------------------------------

    def _prompt(self, text: str) -> None:
        self._view.set_expression("signed_out")
        self._bubble.show_message(text, kind="info", action="sign_in")

    def _publish(self) -> None:
        self.account_changed.emit(account_text(self.session), self.session.has_token)

    def close(self) -> None:
        """Shut-down: close the dialog, stop the timers, wait briefly for background calls."""
        if self._closed:
            return
        self._closed = True
        self._expiry.stop()
        dialog, self.dialog = self.dialog, None
        if dialog is not None:
            dialog.controller.close(0.5)
            dialog.finished.disconnect(self._on_dialog_finished)
            dialog.reject()
            dialog.deleteLater()
        self._jobs.close(1.0)
