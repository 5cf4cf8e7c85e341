# SPDX-License-Identifier: GPL-3.0-or-later
"""The sign-in dialog against the reference backend over real HTTP (the test plays the
browser by following the redirect with requests)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import requests
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit
from pytestqt.qtbot import QtBot

from companion.backend.auth import API_KEY_ACCOUNT
from companion.backend.signin_types import SignInResult
from companion.replies.signin_controller import SignInController
from companion.ui.signin_dialog import SignInDialog
from tests.support.reference_auth import ReferenceAuth
from tests.support.reference_backend import ReferenceBackend

# WORKAROUND for the offscreen platform: Qt propagates size hints for dialogs and raises
# windows, and the offscreen plugin answers each with a warning (QPlatformWindow defaults,
# qtbase src/gui/kernel/qplatformwindow.cpp). Real platforms do not.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (raise|propagateSizeHints)")


class Browser:
    """Plays the system browser: GETs the sign-in address and follows the redirect."""

    def __init__(self) -> None:
        self.pages: list[requests.Response] = []
        self.opened: list[str] = []
        self._threads: list[threading.Thread] = []

    def open(self, url: str) -> bool:
        self.opened.append(url)
        thread = threading.Thread(
            target=lambda: self.pages.append(requests.get(url, timeout=10)), name="test-browser"
        )
        self._threads.append(thread)
        thread.start()
        return True

    def join(self) -> None:
        for thread in self._threads:
            thread.join(10)


@pytest.fixture
def backend() -> Iterator[ReferenceBackend]:
    with ReferenceBackend() as server:
        yield server


@pytest.fixture
def auth(backend: ReferenceBackend) -> ReferenceAuth:
    return ReferenceAuth.install(backend)


def _dialog(qtbot: QtBot, base_url: str, browser: Browser | None = None) -> SignInDialog:
    controller = SignInController(
        base_url=base_url, open_url=browser.open if browser else None, timeout_s=20
    )
    dialog = SignInDialog(controller=controller, reason="Your session has ended.")
    qtbot.add_widget(dialog)
    dialog.show()
    return dialog


def test_the_dialog_offers_both_ways_and_cancel(qtbot: QtBot, backend: ReferenceBackend) -> None:
    dialog = _dialog(qtbot, backend.url)
    assert dialog.windowTitle().startswith("Sign in")
    assert dialog.browser_button.text() == "Sign in with browser"
    assert dialog.browser_button.isEnabled()
    assert dialog.token_edit.echoMode() == QLineEdit.EchoMode.Password
    assert not dialog.token_button.isEnabled()  # nothing pasted yet
    dialog.token_edit.setText("x")
    assert dialog.token_button.isEnabled()
    assert dialog.cancel_button.text().replace("&", "") == "Cancel"
    assert backend.url in dialog.findChild(type(dialog.status_label), "server").text()
    with qtbot.wait_signal(dialog.rejected):
        dialog.cancel_button.click()
    assert dialog.token_edit.text() == ""  # the pasted key is dropped


def test_the_dialog_never_says_signing_in_is_needed_to_speak(
    qtbot: QtBot, backend: ReferenceBackend
) -> None:
    dialog = SignInDialog(controller=SignInController(base_url=backend.url))  # from the menu
    qtbot.add_widget(dialog)
    intro = dialog.findChild(QLabel, "intro")
    assert intro is not None and "built-in voice" in intro.text()
    assert "so Companion can speak" not in intro.text()
    dialog.open_dialog()  # beside the mascot, an ordinary dialog: only the mascot stays on top
    assert not dialog.windowFlags() & Qt.WindowType.WindowStaysOnTopHint
    dialog.reject()


def test_browser_sign_in_through_the_dialog(
    qtbot: QtBot, backend: ReferenceBackend, auth: ReferenceAuth
) -> None:
    browser = Browser()
    dialog = _dialog(qtbot, backend.url, browser)
    with qtbot.wait_signal(dialog.accepted, timeout=20000):
        dialog.browser_button.click()
        assert not dialog.browser_button.isEnabled()  # busy: one attempt at a time
        assert dialog.cancel_button.isEnabled()
    browser.join()
    result = dialog.result_value
    assert isinstance(result, SignInResult) and auth.valid(result.token) is not None
    assert result.account.name == "Test User"
    assert browser.opened[0].startswith(f"{backend.url}/auth/login?redirect_uri=")
    assert "Signed in to Companion" in browser.pages[0].text


def test_cancelled_in_the_browser_says_so_and_allows_another_try(
    qtbot: QtBot, backend: ReferenceBackend, auth: ReferenceAuth
) -> None:
    auth.deny_login = True
    browser = Browser()
    dialog = _dialog(qtbot, backend.url, browser)
    with qtbot.wait_signal(dialog.controller.failed, timeout=20000):
        dialog.browser_button.click()
    browser.join()
    assert dialog.status_text() == "Sign-in was cancelled in the browser."
    assert dialog.status_kind == "error"
    assert dialog.browser_button.isEnabled() and dialog.isVisible()
    auth.deny_login = False
    with qtbot.wait_signal(dialog.accepted, timeout=20000):
        dialog.browser_button.click()
    browser.join()


def test_a_wrong_key_is_refused_with_a_clear_message(
    qtbot: QtBot, backend: ReferenceBackend, auth: ReferenceAuth
) -> None:
    dialog = _dialog(qtbot, backend.url)
    dialog.token_edit.setText("not-a-real-token")
    with qtbot.wait_signal(dialog.controller.failed, timeout=10000):
        dialog.token_button.click()
    assert dialog.status_text() == "The server did not accept this token or key."
    assert dialog.isVisible() and dialog.result_value is None
    dialog.token_edit.setText(auth.issue())
    with qtbot.wait_signal(dialog.accepted, timeout=10000):
        dialog.token_edit.returnPressed.emit()
    assert dialog.result_value is not None and dialog.result_value.method == "token"
    assert dialog.token_edit.text() == ""


def test_an_unreachable_server_is_named(qtbot: QtBot) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        dialog = _dialog(qtbot, url)
        dialog.token_edit.setText("some-token")
        with qtbot.wait_signal(dialog.controller.failed, timeout=10000):
            dialog.token_button.click()
    assert dialog.status_text() == f"Cannot reach the server at {url}."


def test_an_openai_compatible_server_takes_an_api_key(
    qtbot: QtBot, backend: ReferenceBackend
) -> None:
    dialog = _dialog(qtbot, backend.openai_url)
    assert not dialog.browser_button.isEnabled()
    assert "API key" in dialog.status_text()
    dialog.token_edit.setText(backend.token)
    with qtbot.wait_signal(dialog.accepted, timeout=10000):
        dialog.token_button.click()
    assert dialog.result_value is not None and dialog.result_value.account == API_KEY_ACCOUNT
    assert [r.path for r in backend.requests] == ["/v1/models"]


def test_no_server_disables_sign_in(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot, "")
    assert not dialog.browser_button.isEnabled() and not dialog.token_edit.isEnabled()
    assert "Settings" in dialog.status_text()


def test_cancel_while_waiting_for_the_browser_stops_listening(
    qtbot: QtBot, backend: ReferenceBackend, auth: ReferenceAuth
) -> None:
    dialog = _dialog(qtbot, backend.url)
    dialog.controller.open_url = lambda url: True  # a browser that never comes back
    dialog.browser_button.click()
    assert dialog.controller.busy
    with qtbot.assert_not_emitted(dialog.controller.failed):
        dialog.reject()
        qtbot.wait_until(lambda: dialog.controller._jobs.running == 0, timeout=5000)
    assert not dialog.controller.busy
