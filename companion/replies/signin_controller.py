# SPDX-License-Identifier: GPL-3.0-or-later
"""One sign-in attempt at a time, off the GUI thread, for the sign-in dialog.

The blocking steps are :mod:`companion.backend.signin`'s; this object runs them with
:class:`~companion.tasks.Background` and sends back a :class:`SignInResult` or a typed
:class:`SignInError`. It is the caller that logs: a failure caused by the server is logged
once with the status table's line (``operation=sign_in_<step>``), a bug is one crash report.
"""

from __future__ import annotations

import contextlib
import logging
import webbrowser
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from companion import telemetry
from companion.backend.loopback import BROWSER_TIMEOUT_S
from companion.backend.signin import BrowserSignIn, check_token, is_openai_compatible
from companion.backend.signin_types import SignInError, SignInFailure, SignInResult
from companion.tasks import Background, CancelToken

log = logging.getLogger("companion.auth")


def open_in_browser(url: str) -> bool:
    """The system browser (Qt's desktop services, then :mod:`webbrowser`)."""
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QDesktopServices

    if QDesktopServices.openUrl(QUrl.fromEncoded(url.encode("ascii"))):
        return True
    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


class SignInController(QObject):
    """Runs one sign-in attempt at a time, off the GUI thread.

    Signals:
        succeeded(SignInResult): a checked sign-in.
        failed(SignInError): it did not work (the message is for the dialog).
        status(str): progress for the dialog ("Waiting for the browser…", a refused answer).
        busy_changed(bool): an attempt started or ended.

    Attributes:
        base_url: the backend.
        open_url: opens the browser; returns False when it could not (tests play the browser).
        timeout_s: how long the browser may take.
        last_url: the last sign-in address opened (shown when no browser opens).
    """

    succeeded = Signal(object)
    failed = Signal(object)
    status = Signal(str)
    busy_changed = Signal(bool)
    _refused = Signal(int)

    def __init__(
        self,
        *,
        base_url: str,
        open_url: Callable[[str], bool] | None = None,
        timeout_s: float = BROWSER_TIMEOUT_S,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.base_url = base_url.strip().rstrip("/")
        self.open_url: Callable[[str], bool] = open_url or open_in_browser
        self.timeout_s = timeout_s
        self.last_url: str | None = None
        self._jobs = Background(self)
        self._generation = 0
        self._cancel: CancelToken | None = None
        self._busy = False
        self._refused.connect(self._on_refused)

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def openai_compatible(self) -> bool:
        return is_openai_compatible(self.base_url)

    def _begin(self) -> tuple[int, CancelToken]:
        self.cancel()
        self._generation += 1
        self._cancel = CancelToken()
        self._set_busy(True)
        return self._generation, self._cancel

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    def _no_server(self) -> bool:
        if self.base_url:
            return False
        self.failed.emit(
            SignInError(
                SignInFailure.NO_SERVER, "No server is set: add the backend address in Settings."
            )
        )
        return True

    @Slot()
    def start_browser(self) -> None:
        """Bind the listener, open the browser, wait for the redirect in a thread."""
        if self._no_server():
            return
        if self.openai_compatible:
            self.failed.emit(
                SignInError(
                    SignInFailure.SERVER, "This server signs in with an API key, not a browser."
                )
            )
            return
        generation, cancel = self._begin()
        try:
            flow = BrowserSignIn(base_url=self.base_url)
        except OSError as exc:
            self._set_busy(False)
            log.warning("[sign_in] no loopback listener: %s", type(exc).__name__)
            self.failed.emit(
                SignInError(SignInFailure.SERVER, "Could not listen for the browser's answer.")
            )
            return
        self.last_url = flow.url
        log.info("[sign_in] browser sign-in started (listener on port %d)", flow.listener.port)
        if self.open_url(flow.url):
            self.status.emit("Waiting for you to sign in in the browser…")
        else:
            self.status.emit(f"No browser opened. Open this address to sign in: {flow.url}")

        def refused() -> None:  # listener thread → GUI thread
            with contextlib.suppress(RuntimeError):
                self._refused.emit(generation)

        def work() -> SignInResult:
            try:
                return flow.finish(cancel, timeout_s=self.timeout_s, on_refused=refused)
            finally:
                flow.close()

        self._jobs.run("sign-in", work, lambda r, e: self._finish(generation, r, e))

    @Slot(str)
    def use_token(self, text: str) -> None:
        """Check a pasted token or API key in a thread."""
        if self._no_server():
            return
        if not text.strip():
            self.failed.emit(SignInError(SignInFailure.EMPTY, "Paste a token or API key first."))
            return
        generation, _cancel = self._begin()
        self.status.emit("Checking the key with the server…")
        base = self.base_url
        self._jobs.run(
            "check-token",
            lambda: check_token(base, text),
            lambda r, e: self._finish(generation, r, e),
        )

    @Slot(int)
    def _on_refused(self, generation: int) -> None:
        if generation == self._generation and self._busy:
            self.status.emit(
                "A sign-in answer that did not match this sign-in was refused. "
                "Still waiting for the browser…"
            )

    def _finish(self, generation: int, result: Any, error: BaseException | None) -> None:
        if generation != self._generation:
            return  # cancelled or superseded
        self._cancel = None
        self._set_busy(False)
        if error is None and isinstance(result, SignInResult):
            self.succeeded.emit(result)
            return
        if isinstance(error, SignInError) and error.cause is not None:
            telemetry.log_backend_error(error.cause, operation=f"sign_in_{error.step}")
        if not isinstance(error, SignInError):
            if error is not None:
                log.error("[sign_in] failed: %s", type(error).__name__, extra=telemetry.NO_EVENT)
                telemetry.report_exception(error, tags={"operation": "sign_in"})
            error = SignInError(SignInFailure.SERVER, "Sign-in failed. Try again.")
        if error.kind != SignInFailure.CANCELLED:
            log.info("[sign_in] not signed in: %s", error.kind)
            self.failed.emit(error)

    @Slot()
    def cancel(self) -> None:
        """Stop waiting (the browser's answer, or a check's result, is dropped)."""
        if self._cancel is not None:
            self._cancel.cancel()
            self._cancel = None
        self._generation += 1
        self._set_busy(False)

    def close(self, timeout: float = 2.0) -> None:
        self.cancel()
        self._jobs.close(timeout)
