# SPDX-License-Identifier: GPL-3.0-or-later
"""The one owner of the unauthorized path: held replies, the signed-out face, one dialog, replay.

Every 401 comes here as a typed :class:`~companion.backend.errors.Unauthorized`: the speech
worker's ``unauthorized`` signal (with the reply id), :meth:`SessionCoordinator.report_unauthorized`
from the chat controller and the account check, or the ``unauthorized`` signal from any thread.
The first one:

1. marks the session lapsed (no more requests with that token);
2. asks the router to stop everything (:meth:`~companion.replies.router.ReplyRouter.stop_all`)
   and holds what was playing or queued, in order: the voice stops, the mouth rests;
3. shows the signed-out face and "Sign in" in the bubble (through the presenter);
4. opens one sign-in dialog (made by the injected ``dialog_factory``).

Later 401s while it holds add what was playing to the held replies; the dialog stays the one.
After sign-in the token is kept (:class:`~companion.backend.auth.SessionStore`) and the held
replies play from their start, in order; ``signed_in`` tells the chat, which asks again for a
reply the 401 cut. Cancelled: the first held reply waits in the replay slot and
``sign_in_cancelled`` tells the chat. Nothing on this path is a crash report: the one log line
with method and path is the status table's (info), written where the 401 was met.

At start, a stored token whose ``exp`` has passed shows the signed-out face and the prompt
without any request; a valid one is checked with ``/auth/me`` in the background, which also
names the account for the menu.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from companion import telemetry
from companion.backend.auth import EXPIRY_MARGIN_S, Account, SessionStore, SignedOut
from companion.backend.errors import BackendApiError, NotSent, Unauthorized
from companion.backend.signin import fetch_account
from companion.backend.urls import url_problem
from companion.replies.presenter import ReplyPresenter
from companion.replies.reply import Reply
from companion.replies.router import ReplyRouter
from companion.speech.worker import UnauthorizedEvent
from companion.tasks import Background
from companion.vocab import ReplySource, SessionState

log = logging.getLogger("companion.session")

PROMPT_HELD = "You are signed out. Sign in to hear the reply."
PROMPT_EXPIRED = "Your sign-in has expired. Sign in to hear replies."
PROMPT_CANCELLED = "Not signed in. After you sign in, Replay last plays the reply."
PROMPT_SIGNED_OUT = "Signed out."
REASON_LAPSED = "Your session has ended. Sign in again to hear the reply."
#: QTimer's limit (a signed 32-bit count of milliseconds).
_MAX_TIMER_MS = 2**31 - 1


class SignInDialogLike(Protocol):
    """What the session needs of the sign-in dialog (``companion.ui.signin_dialog``).

    ``signed_in(result)`` carries a :class:`~companion.backend.signin_types.SignInResult`;
    ``finished(int)`` ends it either way; ``result_value`` is the result or None.
    """

    signed_in: Any
    finished: Any
    result_value: Any

    def open_dialog(self) -> None: ...
    def bring_to_front(self) -> None: ...
    def close_dialog(self) -> None: ...


#: ``dialog_factory(base_url, reason, open_url)``: a new dialog, not shown yet.
DialogFactory = Callable[[str, str | None, Callable[[str], bool] | None], SignInDialogLike]


def account_text(session: SessionStore) -> str:
    """The menu's account line."""
    state = session.state
    if state == SessionState.SIGNED_IN:
        account = session.account
        return f"Signed in as {account.label}" if account is not None else "Signed in"
    if state in (SessionState.EXPIRED, SessionState.LAPSED):
        return "Signed out (session ended)"
    return "Not signed in"


class SessionCoordinator(QObject):
    """Coalesces 401s into one sign-in dialog; holds the replies they stopped; replays them.

    Signals:
        unauthorized(Unauthorized): report a 401 from any thread (queued to this one).
        sign_in_needed(Unauthorized): the first 401 of a hold (the dialog opens).
        account_changed(str, bool): the menu's account line, and whether there is a session
            to sign out of.
        signed_in(Account): a sign-in finished (the chat asks again for a cut reply).
        sign_in_cancelled(): the dialog was cancelled.
        dialog_opened(): a sign-in dialog was created.

    Attributes:
        session: the token and its state.
        dialog: the open sign-in dialog, or None.
        held: replies stopped by a 401, in order, waiting for sign-in.
        held_error: the 401 that started the hold, or None.
        open_url: how the dialog's controller opens the browser (None: the system browser).
    """

    unauthorized = Signal(object)
    sign_in_needed = Signal(object)
    account_changed = Signal(str, bool)
    signed_in = Signal(object)
    sign_in_cancelled = Signal()
    dialog_opened = Signal()

    def __init__(
        self,
        *,
        session: SessionStore,
        router: ReplyRouter,
        presenter: ReplyPresenter,
        dialog_factory: DialogFactory,
        open_url: Callable[[str], bool] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self._router = router
        self._presenter = presenter
        self._dialog_factory = dialog_factory
        self.open_url = open_url
        self.dialog: SignInDialogLike | None = None
        self.held: list[Reply] = []
        self.held_error: Unauthorized | None = None
        self._jobs = Background(self)
        self._closed = False
        self._expiry = QTimer(self)
        self._expiry.setSingleShot(True)
        self._expiry.timeout.connect(self._on_expiry)
        self.unauthorized.connect(self.report_unauthorized)

    @property
    def held_reply(self) -> Reply | None:
        """The first held reply that has something to say, or None."""
        return next((r for r in self.held if r.text and not r.dropped), None)

    @property
    def holding(self) -> bool:
        return self.held_error is not None

    # --- start -------------------------------------------------------------------------------

    def start(self) -> None:
        """At start: an expired session prompts (no request); a live one names its account."""
        self._publish()
        if not self.session.base_url:
            return
        if self.session.state == SessionState.EXPIRED:
            log.info("[session] stored sign-in expired: signed out, no request made")
            self._presenter.show_signed_out(PROMPT_EXPIRED)
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
        if self.session.state == SessionState.EXPIRED:
            log.info("[session] sign-in expired")
            self._publish()
            if not self._router.busy and self.dialog is None:
                self._presenter.show_signed_out(PROMPT_EXPIRED)
        elif self.session.expires_at is not None:
            self._arm_expiry()  # the timer's limit, or a new token: wait on

    # --- 401s ----------------------------------------------------------------------------------

    @Slot(object)
    def on_speech_unauthorized(self, event: UnauthorizedEvent) -> None:
        """The speech worker met a 401 on reply ``event.reply_id`` (it is in the router)."""
        self.report_unauthorized(event.error)

    @Slot(object)
    def report_unauthorized(self, error: Unauthorized) -> None:
        """A 401 met anywhere (the caller logged it): stop, hold, show, ask once."""
        if self._closed:
            return
        first = self.held_error is None
        if first:
            self.held_error = error
        self.session.mark_lapsed()
        self._publish()
        stopped = self._router.stop_all()
        self.held.extend(r for r in stopped if r.text or (r.streaming and not r.stream_ended))
        self._presenter.show_signed_out(PROMPT_HELD)
        log.info("[session] %d replies held until sign-in", len(self.held))
        if first:
            self.sign_in_needed.emit(error)
        if self.dialog is None:
            self.open_dialog(reason=REASON_LAPSED)

    def resume_held(self) -> int | None:
        """After sign-in: the held replies play from their start, in order (re-synthesised).
        Returns the first one's id, or None when none was held."""
        held, self.held, self.held_error = self.held, [], None
        return self._router.say_all(
            [r for r in held if not r.dropped], source=ReplySource.RESUMED
        )

    def release_held(self) -> None:
        """Sign-in cancelled: the first held reply waits in the replay slot."""
        first = self.held_reply
        self.held, self.held_error = [], None
        if first is not None:
            self._router.keep_for_replay(first.text)

    # --- the dialog ------------------------------------------------------------------------------

    @Slot()
    def open_dialog(self, reason: str | None = None) -> SignInDialogLike | None:
        """Show the sign-in dialog (bring the open one to the front instead of another)."""
        if self._closed:
            return None
        if self.dialog is not None:
            self.dialog.bring_to_front()
            return self.dialog
        dialog = self._dialog_factory(self.session.base_url, reason, self.open_url)
        dialog.signed_in.connect(self._on_signed_in)
        dialog.finished.connect(self._on_dialog_finished)
        self.dialog = dialog
        log.info("[session] sign-in dialog opened")
        dialog.open_dialog()
        self.dialog_opened.emit()
        return dialog

    @Slot(object)
    def _on_signed_in(self, result: Any) -> None:
        notice = self.session.store(result.token, account=result.account)
        self._arm_expiry()
        self._publish()
        resumed = self.resume_held()
        self.signed_in.emit(result.account)
        if resumed is None:
            message = f"Signed in as {result.account.label}."
            self._presenter.show_signed_in(f"{message} {notice}" if notice else message)
        elif notice:
            self._presenter.notice_when_idle(notice)
        log.info("[session] signed in (%s); held reply %s", result.method, resumed or "none")

    @Slot(int)
    def _on_dialog_finished(self, code: int) -> None:
        dialog, self.dialog = self.dialog, None
        if dialog is None:
            return
        dialog.close_dialog()
        if dialog.result_value is None:
            was_holding = self.holding
            self.release_held()
            if was_holding and not self.session.signed_in:
                self._presenter.show_signed_out(PROMPT_CANCELLED)
            # Opened from the menu with no 401: nothing changes (the built-in voice needs none).
            log.info("[session] sign-in cancelled")
            self.sign_in_cancelled.emit()

    # --- the menu ---------------------------------------------------------------------------

    @Slot()
    def sign_out(self) -> None:
        self.session.sign_out()
        self._expiry.stop()
        self._publish()
        if not self._router.busy:
            self._presenter.show_signed_out(PROMPT_SIGNED_OUT)

    def refresh_account(self, *, quiet: bool = False) -> None:
        """``GET /auth/me`` in the background; the account goes to the menu. A 401 there is
        the session lapsing: ``quiet`` (at start) only prompts, else it asks like any 401."""
        base = self.session.base_url
        if not base or not self.session.signed_in or url_problem(base):
            return  # no request to an address that is not one (the voice's notice says so)
        try:
            token = self.session.token()
        except (SignedOut, NotSent):  # NotSent: an unusable token, said when a reply needs it
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
                    if not self._router.busy and self.dialog is None:
                        self._presenter.show_signed_out(PROMPT_EXPIRED)
                else:
                    self.report_unauthorized(error)
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
            dialog.finished.disconnect(self._on_dialog_finished)
            dialog.close_dialog()
        self._jobs.close(1.0)
