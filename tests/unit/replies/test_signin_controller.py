# SPDX-License-Identifier: GPL-3.0-or-later
"""The sign-in controller: the sign-in steps off the GUI thread, over real HTTP, and the one
log line per failure the server caused (the steps themselves log nothing)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
import requests
from pytestqt.qtbot import QtBot

from companion.backend.signin_types import SignInResult
from companion.replies.signin_controller import SignInController
from tests.support.browser import BROWSER_THREAD, Browser
from tests.support.fixtures import RecordingTransport
from tests.support.reference_auth import ReferenceAuth
from tests.support.reference_backend import Fault, ReferenceBackend


@pytest.fixture
def backend() -> Iterator[ReferenceBackend]:
    with ReferenceBackend() as server:
        yield server


@pytest.fixture
def auth(backend: ReferenceBackend) -> ReferenceAuth:
    return ReferenceAuth.install(backend)


def test_controller_browser_sign_in(
    qtbot: QtBot, backend: ReferenceBackend, auth: ReferenceAuth
) -> None:
    browser = Browser()
    controller = SignInController(base_url=backend.url, open_url=browser.open, timeout_s=20)
    statuses: list[str] = []
    controller.status.connect(statuses.append)
    with qtbot.wait_signal(controller.succeeded, timeout=20000) as done:
        controller.start_browser()
        assert controller.busy
    browser.join()
    result = done.args[0]
    assert isinstance(result, SignInResult) and auth.valid(result.token) is not None
    assert not controller.busy
    assert statuses == ["Waiting for you to sign in in the browser…"]
    controller.close()


def test_controller_reports_a_refused_answer_and_no_browser(
    qtbot: QtBot, backend: ReferenceBackend, auth: ReferenceAuth
) -> None:
    controller = SignInController(base_url=backend.url, open_url=lambda url: False, timeout_s=20)
    statuses: list[str] = []
    controller.status.connect(statuses.append)
    controller.start_browser()
    assert controller.last_url is not None
    assert statuses == [f"No browser opened. Open this address to sign in: {controller.last_url}"]
    redirect = controller.last_url.split("redirect_uri=")[1].split("&")[0]
    callback = unquote(redirect)
    with qtbot.wait_signal(controller.status, timeout=10000) as note:
        threading.Thread(
            target=requests.get,
            args=(callback,),
            kwargs={"params": {"token": "x", "state": "wrong"}, "timeout": 10},
            name=BROWSER_THREAD,
        ).start()
    assert "did not match" in note.args[0]
    with (
        qtbot.assert_not_emitted(controller.failed),
        qtbot.assert_not_emitted(controller.succeeded),
    ):
        controller.cancel()
        qtbot.wait_until(lambda: controller._jobs.running == 0, timeout=5000)
    controller.close()


def test_controller_pasted_key_and_errors(
    qtbot: QtBot, backend: ReferenceBackend, auth: ReferenceAuth
) -> None:
    controller = SignInController(base_url=backend.url)
    with qtbot.wait_signal(controller.failed, timeout=10000) as failed:
        controller.use_token("wrong")
    assert failed.args[0].kind == "wrong_key"
    with qtbot.wait_signal(controller.succeeded, timeout=10000) as ok:
        controller.use_token(auth.issue())
    assert ok.args[0].account.name == "Test User"
    with qtbot.wait_signal(controller.failed, timeout=1000) as failed:
        controller.use_token("")
    assert failed.args[0].kind == "empty"
    controller.close()
    nothing = SignInController(base_url="")
    with qtbot.wait_signal(nothing.failed, timeout=1000) as failed:
        nothing.start_browser()
    assert failed.args[0].kind == "no_server"
    v1 = SignInController(base_url=backend.openai_url)
    with qtbot.wait_signal(v1.failed, timeout=1000) as failed:
        v1.start_browser()
    assert "API key" in failed.args[0].user_message


def test_a_failure_the_server_caused_is_logged_once_by_the_table_and_not_reported(
    qtbot: QtBot,
    backend: ReferenceBackend,
    auth: ReferenceAuth,
    caplog: pytest.LogCaptureFixture,
    sentry_transport: RecordingTransport,
) -> None:
    controller = SignInController(base_url=backend.url)
    backend.inject(Fault(status=503, path="/auth/me"))
    with caplog.at_level(logging.INFO), qtbot.wait_signal(controller.failed, timeout=10000) as f:
        controller.use_token(auth.issue())
    assert f.args[0].kind == "unreachable" and f.args[0].cause is not None
    lines = [r for r in caplog.records if "[backend_api] domain=" in r.getMessage()]
    assert len(lines) == 1 and "operation=sign_in_check" in lines[0].getMessage()
    assert "status=503" in lines[0].getMessage() and lines[0].levelno == logging.WARNING
    assert sentry_transport.events == []
    controller.close()
