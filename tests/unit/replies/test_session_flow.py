# SPDX-License-Identifier: GPL-3.0-or-later
"""The unauthorized path, end to end: the whole mascot (remote engine, real worker thread,
real player) against the reference backend over real HTTP, crash reports recorded by the
real sentry-sdk.

With scripts/pulse.sh running, the audio goes to the PulseAudio null sink; without it the
player's silent clock runs in real time and the same assertions hold.
"""

from __future__ import annotations

import json
import logging
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from PySide6.QtCore import QObject, Slot
from pytestqt.qtbot import QtBot

from companion.app import AppOptions, Companion, ensure_qapp
from companion.backend.auth import CREDENTIALS_FILE, EXPIRY_MARGIN_S, SessionStore
from companion.backend.client import BackendClient
from companion.backend.errors import Unauthorized
from tests.support.fixtures import RecordingTransport
from tests.support.reference_auth import ReferenceAuth
from tests.support.reference_backend import ReferenceBackend

# WORKAROUND for the offscreen platform: Qt raises Tool windows when they are shown (and
# propagates size hints for dialogs), and the offscreen plugin answers each with a warning
# (QPlatformWindow defaults, qtbase src/gui/kernel/qplatformwindow.cpp). Real platforms do not.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (raise|propagateSizeHints)")

SPEECH = "/openai/v1/audio/speech"
REPLY = "The kettle is on. Tea in five minutes. Milk is in the fridge. See you soon."
SHORT = "Hello again."


class Browser:
    """Plays the system browser: GETs the sign-in address and follows the redirect."""

    def __init__(self) -> None:
        self.pages: list[requests.Response] = []
        self._threads: list[threading.Thread] = []

    def open(self, url: str) -> bool:
        thread = threading.Thread(
            target=lambda: self.pages.append(requests.get(url, timeout=10)), name="test-browser"
        )
        self._threads.append(thread)
        thread.start()
        return True

    def join(self) -> None:
        for thread in self._threads:
            thread.join(10)


class _WorkerDone(QObject):
    """The worker's ``finished`` on the GUI thread: everything it sent before has arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[int] = []

    @Slot(int)
    def relay(self, reply_id: int) -> None:
        self.ids.append(reply_id)


class Lines(logging.Handler):
    """Every log record of the app (not the server's threads, not the test's browser)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        name = record.threadName or ""
        if name.startswith(("reference-backend", "test-browser")):
            return
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in self.records)


@pytest.fixture
def lines() -> Iterator[Lines]:
    root = logging.getLogger()
    handler = Lines()
    old = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


@pytest.fixture
def auth(reference_backend: ReferenceBackend) -> ReferenceAuth:
    return ReferenceAuth.install(reference_backend)


@pytest.fixture
def make_app(
    qtbot: QtBot, reference_backend: ReferenceBackend, _private_config_dir: Path
) -> Iterator[Callable[..., Companion]]:
    apps: list[Companion] = []

    def make(*, token: str | None) -> Companion:
        _private_config_dir.mkdir(parents=True, exist_ok=True)
        settings = {"backend_url": reference_backend.url, "greeted": True, "engine": "auto"}
        (_private_config_dir / "settings.json").write_text(json.dumps(settings))
        if token is not None:
            SessionStore(base_url=reference_backend.url, env={}).store(token)
        options = AppOptions(signals=False, telemetry=False, greet=False, ipc=False)
        app = Companion(qapp=ensure_qapp(), options=options)
        qtbot.add_widget(app.window)
        apps.append(app)
        assert app.start()
        return app

    yield make
    for app in apps:
        app.shutdown()


def _signed_in(app: Companion) -> bool:
    return app.menu.actions["account"].text().startswith("Signed in as Test User")


def _inputs(backend: ReferenceBackend) -> list[str]:
    return [str(r.json["input"]) for r in backend.speech_requests()]


def test_token_expires_while_speaking_then_the_reply_plays_from_its_start(
    qtbot: QtBot,
    make_app: Callable[..., Companion],
    reference_backend: ReferenceBackend,
    auth: ReferenceAuth,
    sentry_transport: RecordingTransport,
    lines: Lines,
    _private_config_dir: Path,
) -> None:
    old_token = reference_backend.token
    app = make_app(token=old_token)
    qtbot.wait_until(lambda: _signed_in(app), timeout=10000)  # /auth/me named the account
    browser = Browser()
    app.session_flow.open_url = browser.open
    order: list[str] = []
    app.router.reply_started.connect(lambda rid: order.append(f"started {rid}"))
    app.session_flow.dialog_opened.connect(lambda: order.append("dialog"))

    auth.expire(after=2)  # two more pieces, then the server answers 401
    with qtbot.wait_signal(app.session_flow.dialog_opened, timeout=30000):
        rid = app.router.say(REPLY)
    assert order == [f"started {rid}", "dialog"]  # it was speaking when the 401 came
    view = app.window.view
    assert not app.player.playing
    assert not view.lipsync_active and view.current_mouth().openness == 0.0
    assert view.expression == "signed_out"
    assert app.window.bubble.action == "sign_in"
    dialog = app.session_flow.dialog
    assert dialog is not None and dialog.isVisible() and dialog.windowTitle().startswith("Sign in")
    assert app.session_flow.held_reply is not None and app.session_flow.held_reply.text == REPLY
    before = _inputs(reference_backend)
    assert len(before) == 3  # two answered, the third refused
    assert sentry_transport.envelopes == []
    info_401 = [
        r
        for r in lines.records
        if r.levelno >= logging.INFO
        and "method=POST" in r.getMessage()
        and SPEECH in r.getMessage()
    ]
    assert len(info_401) == 1 and info_401[0].levelno == logging.INFO
    assert "status=401" in info_401[0].getMessage()

    # Sign in with the browser: the same reply plays again, from its first piece.
    finished: list[int] = []
    app.router.reply_finished.connect(finished.append)
    with qtbot.wait_signal(app.session_flow.signed_in, timeout=20000):
        dialog.browser_button.click()
    browser.join()
    qtbot.wait_until(lambda: bool(finished), timeout=60000)
    assert app.session_flow.dialog is None
    last = app.router.last_reply
    assert last is not None and last.id == finished[0] and last.text == REPLY
    assert last.utterances[0].index == 0
    after = _inputs(reference_backend)[len(before) :]
    assert after[:3] == before and len(after) == len(last.utterances)
    new_token = app.session.token()
    assert new_token and new_token != old_token
    assert reference_backend.speech_requests()[-1].headers["Authorization"] == f"Bearer {new_token}"
    assert _signed_in(app)
    assert sentry_transport.events == []
    # No keyring on this machine: the one-line notice says where the sign-in went.
    assert app.window.bubble.text().startswith("No system keyring: your sign-in is saved in")

    # The tokens are nowhere but the credentials file (0600: this machine has no keyring).
    app.save()
    settings_text = (_private_config_dir / "settings.json").read_text()
    logged = lines.text()
    recorded = sentry_transport.dump()
    login_token = parse_qs(urlsplit(browser.pages[0].url).query)["token"][0]  # the callback's
    assert len(login_token) > 16
    for secret in [old_token, new_token, login_token]:
        assert secret not in settings_text
        assert secret not in logged
        assert secret not in recorded
    credentials = _private_config_dir / CREDENTIALS_FILE
    assert new_token in credentials.read_text()
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600


class _Reported(QObject):
    """401s reported to the coordinator's ``unauthorized`` signal, seen on the GUI thread."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[object] = []

    @Slot(object)
    def take(self, error: object) -> None:
        self.errors.append(error)


def test_ten_401s_at_once_open_one_dialog(
    qtbot: QtBot,
    make_app: Callable[..., Companion],
    reference_backend: ReferenceBackend,
    auth: ReferenceAuth,
    sentry_transport: RecordingTransport,
) -> None:
    app = make_app(token=reference_backend.token)
    qtbot.wait_until(lambda: _signed_in(app), timeout=10000)
    auth.revoke()
    dialogs: list[int] = []
    app.session_flow.dialog_opened.connect(lambda: dialogs.append(1))
    asks: list[object] = []
    app.session_flow.sign_in_needed.connect(asks.append)
    # Every reported 401, received on the GUI thread after the coordinator's own slot (queued
    # connections run in the order they were made).
    reported = _Reported()
    app.session_flow.unauthorized.connect(reported.take)
    worker_done = _WorkerDone()
    app.worker.finished.connect(worker_done.relay)
    token = reference_backend.token
    barrier = threading.Barrier(10)

    def other_call() -> None:  # e.g. a chat request: real HTTP, a real 401, reported
        with BackendClient(base_url=reference_backend.url, token=lambda: token) as client:
            barrier.wait(5)
            try:
                client.authed_json("GET", "/auth/me")
            except Unauthorized as err:
                app.session_flow.unauthorized.emit(err)

    threads = [threading.Thread(target=other_call, name=f"other-{i}") for i in range(10)]
    for thread in threads:
        thread.start()
    rid = app.router.say(SHORT)  # and the speech worker meets one too
    for thread in threads:
        thread.join(10)
    # All ten reported, and the worker's last word on the reply arrived (its 401 may come
    # before the reports, or after them for a reply they already held).
    qtbot.wait_until(
        lambda: (
            sum(1 for e in reported.errors if getattr(e, "path", "") == "/auth/me") == 10
            and rid in worker_done.ids
        ),
        timeout=30000,
    )
    assert len(dialogs) == 1 and len(asks) == 1
    assert app.session_flow.dialog is not None
    assert sum(1 for r in reference_backend.requests if r.path == "/auth/me") >= 10
    assert sentry_transport.events == []
    with qtbot.wait_signal(app.session_flow.sign_in_cancelled, timeout=5000):
        app.session_flow.dialog.reject()
    assert app.router.last_reply is not None and app.router.last_reply.text == SHORT
    assert app.session_flow.dialog is None


def test_cancel_keeps_the_reply_for_replay_after_a_later_sign_in(
    qtbot: QtBot,
    make_app: Callable[..., Companion],
    reference_backend: ReferenceBackend,
    auth: ReferenceAuth,
) -> None:
    app = make_app(token=reference_backend.token)
    qtbot.wait_until(lambda: _signed_in(app), timeout=10000)
    auth.rotate()  # the stored token is now the old one: 401
    with qtbot.wait_signal(app.session_flow.dialog_opened, timeout=30000):
        app.router.say(SHORT)
    dialog = app.session_flow.dialog
    assert dialog is not None
    with qtbot.wait_signal(app.session_flow.sign_in_cancelled, timeout=5000):
        dialog.cancel_button.click()
    assert app.session_flow.dialog is None and app.session_flow.held_reply is None
    assert app.router.last_reply is not None and app.router.last_reply.text == SHORT
    assert app.window.view.expression == "signed_out"
    assert app.window.bubble.action == "sign_in"
    assert app.menu.actions["account"].text() == "Signed out (session ended)"
    requests_before = len(reference_backend.speech_requests())

    # Later: Sign in… from the menu, with a pasted token; then Replay last.
    app.menu.actions["sign_in"].trigger()
    dialog = app.session_flow.dialog
    assert dialog is not None
    dialog.token_edit.setText(reference_backend.token)  # the rotated, valid one
    with qtbot.wait_signal(app.session_flow.signed_in, timeout=10000):
        dialog.token_button.click()
    assert len(reference_backend.speech_requests()) == requests_before  # nothing held
    with qtbot.wait_signal(app.router.reply_finished, timeout=30000):
        app.menu.actions["replay"].trigger()
    assert app.router.last_reply is not None and app.router.last_reply.text == SHORT
    assert _inputs(reference_backend)[requests_before:] == [SHORT]


def test_403_shows_the_reason_and_sends_one_report(
    qtbot: QtBot,
    make_app: Callable[..., Companion],
    reference_backend: ReferenceBackend,
    auth: ReferenceAuth,
    sentry_transport: RecordingTransport,
) -> None:
    app = make_app(token=reference_backend.token)
    qtbot.wait_until(lambda: _signed_in(app), timeout=10000)
    reference_backend.inject(status=403, path=SPEECH)
    with (
        qtbot.assert_not_emitted(app.session_flow.dialog_opened),
        qtbot.wait_signal(app.router.reply_failed, timeout=30000),
    ):
        app.router.say(SHORT)
    assert app.window.view.expression == "concerned"
    bubble = app.window.bubble
    assert bubble.kind == "error" and "HTTP 403" in bubble.text() and "refused" in bubble.text()
    (event,) = sentry_transport.events
    assert event["tags"]["status"] == "403" and event["tags"]["path"] == SPEECH
    assert reference_backend.token not in sentry_transport.dump()


def test_an_expired_token_at_start_prompts_without_a_request(
    qtbot: QtBot,
    make_app: Callable[..., Companion],
    reference_backend: ReferenceBackend,
    auth: ReferenceAuth,
    sentry_transport: RecordingTransport,
) -> None:
    app = make_app(token=auth.issue(lifetime_s=-60))
    qtbot.wait_until(lambda: bool(app.engine_name), timeout=30000)
    assert app.window.view.expression == "signed_out"
    assert app.window.bubble.action == "sign_in" and "expired" in app.window.bubble.text()
    assert app.menu.actions["account"].text() == "Signed out (session ended)"
    assert app.session_flow.dialog is None  # a prompt, not a dialog, at start
    # A reply now is held at once: still no request (no 401 round trip), one dialog.
    with qtbot.wait_signal(app.session_flow.dialog_opened, timeout=30000):
        app.router.say(SHORT)
    assert reference_backend.requests == []
    assert sentry_transport.events == []
    # The bubble's Sign in button raises the same dialog, not a second one.
    with qtbot.assert_not_emitted(app.session_flow.dialog_opened):
        app.window.bubble.action_clicked.emit("sign_in")


def test_sign_out_from_the_menu(
    qtbot: QtBot,
    make_app: Callable[..., Companion],
    reference_backend: ReferenceBackend,
    auth: ReferenceAuth,
    _private_config_dir: Path,
) -> None:
    app = make_app(token=reference_backend.token)
    qtbot.wait_until(lambda: _signed_in(app), timeout=10000)
    assert app.menu.actions["sign_out"].isEnabled()
    app.menu.actions["sign_out"].trigger()
    assert app.menu.actions["account"].text() == "Not signed in"
    assert not app.menu.actions["sign_out"].isEnabled()
    assert reference_backend.token not in (_private_config_dir / CREDENTIALS_FILE).read_text()
    count = len(reference_backend.requests)
    with qtbot.wait_signal(app.session_flow.dialog_opened, timeout=30000):
        app.router.say(SHORT)
    assert len(reference_backend.requests) == count  # signed out: no request is made


def test_a_token_that_expires_while_idle_turns_the_mascot_signed_out(
    qtbot: QtBot,
    make_app: Callable[..., Companion],
    reference_backend: ReferenceBackend,
    auth: ReferenceAuth,
) -> None:
    # exp about 12 s away; with the 10 s margin it counts as expired about 2 s from now.
    app = make_app(token=auth.issue(lifetime_s=EXPIRY_MARGIN_S + 2))
    qtbot.wait_until(lambda: _signed_in(app), timeout=10000)
    qtbot.wait_until(
        lambda: app.menu.actions["account"].text() == "Signed out (session ended)", timeout=15000
    )
    assert app.window.view.expression == "signed_out"
    assert app.window.bubble.action == "sign_in" and "expired" in app.window.bubble.text()
    assert app.session_flow.dialog is None
    assert [r.path for r in reference_backend.requests] == ["/auth/me"]


def test_a_revoked_token_at_start_prompts_after_auth_me(
    qtbot: QtBot,
    make_app: Callable[..., Companion],
    reference_backend: ReferenceBackend,
    auth: ReferenceAuth,
    sentry_transport: RecordingTransport,
) -> None:
    token = reference_backend.token
    auth.revoke(token)
    app = make_app(token=token)
    qtbot.wait_until(lambda: app.window.view.expression == "signed_out", timeout=10000)
    assert app.window.bubble.action == "sign_in"
    assert app.menu.actions["account"].text() == "Signed out (session ended)"
    assert app.session_flow.dialog is None  # at start: a prompt, not a dialog
    assert [(r.path, r.method) for r in reference_backend.requests] == [("/auth/me", "GET")]
    assert sentry_transport.events == []
