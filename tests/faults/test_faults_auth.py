# SPDX-License-Identifier: GPL-3.0-or-later
"""Every network fault at sign-in and at ``/auth/me``, through the whole mascot.

Sign-in: the mascot meets a 401, holds the reply and opens the sign-in dialog; the browser
sign-in's token exchange (``POST /auth/login-token/consume``) meets the fault, or, when the
server cannot be reached at all, the pasted-key check does. The dialog says what happened in
one line and stays open; trying again signs in, and the held reply plays.

``/auth/me``: checked in the background at start with a stored token. A failure there leaves
the mascot signed in (only a 401 signs out), logs one line, reports per the table; the next
check names the account, and replies play meanwhile.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
from collections.abc import Callable, Iterator

import pytest
import requests
from pytestqt.qtbot import QtBot

from tests.faults.conftest import (
    CONNECTION_FAULTS,
    EVIDENCE,
    FAULTS,
    MAX_LOOP_GAP_MS,
    QT_OFFSCREEN_NOISE,
    LoopWatch,
    Mascot,
    _AllLines,
    bad_url,
    expected_reports,
    presynthesize,
    result_line,
)
from tests.support.fixtures import RecordingTransport
from tests.support.reference_auth import ReferenceAuth
from tests.support.reference_backend import Fault, ReferenceBackend

pytestmark = pytest.mark.qt_log_ignore(QT_OFFSCREEN_NOISE)

CONSUME = "/auth/login-token/consume"
ME = "/auth/me"
HELD = "Pelicans fold maps."
LATER = "Herons sort mail."


def json_fault(fault: str, path: str) -> Fault:
    """A fault on a JSON endpoint (times: every attempt; JSON calls are not retried)."""
    table: dict[str, Fault] = {
        "hang": Fault(hang=math.inf, path=path, times=99),
        "drip": Fault(drip=1.0, path=path, times=99),
        "reset": Fault(reset_after=8, path=path, times=99),
        "cut_short": Fault(cut_short=True, path=path, times=99),
        "corrupt": Fault(
            status=200, body="{'jwt': <html>", content_type="application/json", path=path, times=99
        ),
        "html_502": Fault(status=502, body="html", path=path, times=99),
        "429": Fault(status=429, retry_after="1", path=path, times=99),
    }
    return table[fault]


class Browser:
    """Plays the system browser: GETs the sign-in address and follows the redirect."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []

    def open(self, url: str) -> bool:
        def visit() -> None:
            # The mascot's listener may be gone already: not this test's business.
            with contextlib.suppress(requests.RequestException):
                requests.get(url, timeout=10)

        thread = threading.Thread(target=visit, name="test-browser")
        self._threads.append(thread)
        thread.start()
        return True

    def join(self) -> None:
        for thread in self._threads:
            thread.join(10)


@pytest.fixture
def browser() -> Iterator[Browser]:
    b = Browser()
    yield b
    b.join()


@pytest.fixture
def auth(reference_backend: ReferenceBackend) -> ReferenceAuth:
    return ReferenceAuth.install(reference_backend)


@pytest.mark.parametrize("fault", FAULTS)
def test_a_sign_in_fault_says_so_and_the_next_try_signs_in(
    fault: str,
    qtbot: QtBot,
    make_mascot: Callable[..., Mascot],
    reference_backend: ReferenceBackend,
    auth: ReferenceAuth,
    sentry_transport: RecordingTransport,
    loop_watch: LoopWatch,
    all_lines: _AllLines,
    browser: Browser,
) -> None:
    backend = reference_backend
    for text in (HELD, LATER):
        presynthesize(text, "pcm")
    connection = fault in CONNECTION_FAULTS
    # No token: the first reply meets a 401 (a dead server: Sign in… from the menu).
    m = make_mascot(backend_url=bad_url(fault, backend) if connection else backend.url)
    flow = m.app.session_flow
    flow.open_url = browser.open
    loop_watch.start()
    with qtbot.wait_signal(flow.dialog_opened, timeout=20000):
        if connection:
            m.app.menu.actions["sign_in"].trigger()
        else:
            m.app.router.say(HELD)
    dialog = flow.dialog
    assert dialog is not None
    if connection:
        dialog.token_edit.setText(EVIDENCE.secret(auth.issue()))
        dialog.token_button.click()
    else:
        held = m.app.session_flow.held_reply
        assert held is not None and held.text == HELD
        backend.inject(json_fault(fault, CONSUME))
        dialog.browser_button.click()
    qtbot.wait_until(lambda: dialog.status_kind == "error", timeout=20000)
    qtbot.wait_until(lambda: not dialog.controller.busy, timeout=20000)
    message = dialog.status_text()
    print(f"\n[faults] sign-in {fault}: {message!r}")
    assert dialog.isVisible() and flow.dialog is dialog
    if expected_reports(fault):
        assert message == "The server's answer was not understood."
    elif connection:
        assert message.startswith("Cannot reach the server at ")
    else:
        assert message.startswith(("Cannot reach the server at ", "The server at ")), message
        assert "HTTP 200" not in message
    assert len(sentry_transport.events) == expected_reports(fault)
    level = "ERROR" if expected_reports(fault) else "WARNING"
    assert any(
        f" {level} " in line and "[backend_api] domain=" in line and "operation=sign_in_" in line
        for line in all_lines.lines
    )

    # Try again, the fault gone: signed in (and the held reply plays), replies go on.
    if connection:
        m.app.apply_settings(dataclasses.replace(m.app.settings, backend_url=backend.url))
        dialog.reject()
        qtbot.wait_until(lambda: flow.dialog is None, timeout=5000)
        with qtbot.wait_signal(flow.dialog_opened, timeout=20000):
            flow.open_dialog()
        dialog = flow.dialog
        assert dialog is not None
    else:
        assert m.app.session_flow.held_reply is not None  # still held, nothing lost
    backend.clear_faults()
    finished = len(m.finished)
    with qtbot.wait_signal(flow.signed_in, timeout=20000):
        dialog.browser_button.click()
    if not connection:
        qtbot.wait_until(lambda: len(m.finished) > finished, timeout=30000)
        assert m.app.router.last_reply is not None and m.app.router.last_reply.text == HELD
    assert m.app.session.signed_in
    with qtbot.wait_signal(m.app.router.reply_finished, timeout=30000):
        m.app.router.say(LATER)

    gap = loop_watch.stop()
    result_line("sign-in", fault, reports=len(sentry_transport.events), gap_ms=gap)
    assert gap < MAX_LOOP_GAP_MS
    assert not [line for line in all_lines.lines if "[crash]" in line]


@pytest.mark.parametrize("fault", FAULTS)
def test_an_auth_me_fault_keeps_the_session_and_the_next_check_names_it(
    fault: str,
    qtbot: QtBot,
    make_mascot: Callable[..., Mascot],
    reference_backend: ReferenceBackend,
    auth: ReferenceAuth,
    sentry_transport: RecordingTransport,
    loop_watch: LoopWatch,
    all_lines: _AllLines,
) -> None:
    backend = reference_backend
    presynthesize(LATER, "pcm")
    if fault in CONNECTION_FAULTS:
        url = bad_url(fault, backend)
    else:
        url = backend.url
        backend.inject(json_fault(fault, ME))
    opened: list[object] = []
    m = make_mascot(token=backend.token, backend_url=url, wait_engine=False)
    m.app.session_flow.dialog_opened.connect(lambda: opened.append(1))
    loop_watch.start()
    menu = m.app.menu.actions["account"]
    qtbot.wait_until(
        lambda: any(
            "[backend_api] domain=" in line and "operation=auth_me" in line
            for line in all_lines.lines
        ),
        timeout=20000,
    )
    print(f"\n[faults] /auth/me {fault}: menu {menu.text()!r}")
    assert menu.text() == "Signed in"  # no name yet, but not signed out
    assert m.app.session.signed_in and opened == []
    assert len(sentry_transport.events) == expected_reports(fault)
    level = "ERROR" if expected_reports(fault) else "WARNING"
    assert any(
        f" {level} " in line and "[backend_api] domain=" in line and "operation=auth_me" in line
        for line in all_lines.lines
    )

    if fault in CONNECTION_FAULTS:
        m.app.apply_settings(dataclasses.replace(m.app.settings, backend_url=backend.url))
    else:
        backend.clear_faults()
        m.app.session_flow.refresh_account()
    qtbot.wait_until(lambda: menu.text().startswith("Signed in as Test User"), timeout=20000)
    with qtbot.wait_signal(m.app.router.reply_finished, timeout=30000):
        m.app.router.say(LATER)

    gap = loop_watch.stop()
    result_line("auth-me", fault, reports=len(sentry_transport.events), gap_ms=gap)
    assert gap < MAX_LOOP_GAP_MS
    assert opened == []
