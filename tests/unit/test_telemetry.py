# SPDX-License-Identifier: GPL-3.0-or-later
"""Telemetry with the real sentry-sdk and a recording transport."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator

import pytest
import sentry_sdk
from PySide6.QtCore import QThread, QTimer, qCritical, qWarning
from pytestqt.qtbot import QtBot

from companion import __version__, telemetry
from companion.backend.errors import HttpError, Transient, Unauthorized
from tests.support.fixtures import TEST_DSN, RecordingTransport

SECRET = "tok-telemetry-7c1e0b"
SK_KEY = "sk-proj-AbCdEf0123456789"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEiLCJleHAiOjE3MDB9.c2lnbmF0dXJlLXZhbHVl"
SECRETS = (SECRET, SK_KEY, JWT)


def assert_clean(transport: RecordingTransport) -> None:
    dump = transport.dump()
    for secret in SECRETS:
        assert secret not in dump


@pytest.fixture
def hooks() -> Iterator[None]:
    restore = telemetry.install_qt_hooks()
    try:
        yield
    finally:
        restore()


def test_off_without_dsn_or_when_turned_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "companion.telemetry")
    assert not telemetry.init_telemetry(dsn=None, enabled=True, environment="test")
    assert not telemetry.init_telemetry(dsn="https://k@127.0.0.1/1", enabled=False, environment="t")
    assert not telemetry.is_enabled()
    telemetry.report_error("nothing happens", {"domain": "x"})
    telemetry.log_backend_error(HttpError("GET", "/x", 500), operation="x")
    telemetry.flush(0.1)
    assert "crash reports off" in caplog.text


def test_malformed_dsn_does_not_start(caplog: pytest.LogCaptureFixture) -> None:
    assert not telemetry.init_telemetry(dsn="not a dsn", enabled=True, environment="test")
    assert not telemetry.is_enabled()
    assert "cannot start Sentry" in caplog.text


def test_release_environment_no_pii(sentry_transport: RecordingTransport) -> None:
    options = sentry_sdk.get_client().options
    assert options["send_default_pii"] is False
    telemetry.report_error("something broke", {"domain": "test", "status": 500})
    (event,) = sentry_transport.events
    assert event["release"] == f"companion@{__version__}"
    assert event["environment"] == "test"
    assert event["tags"] == {"domain": "test", "status": "500"}
    assert not event.get("server_name")
    assert "user" not in event or not event["user"].get("ip_address")


def test_session_for_release_health(sentry_transport: RecordingTransport) -> None:
    telemetry.flush(1.0)
    (session,) = sentry_transport.sessions
    assert session["attrs"]["release"] == f"companion@{__version__}"
    assert session["status"] == "exited"


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        (f"Authorization: Bearer {SECRET}", "Bearer [Filtered]", SECRET),
        (f"key {SK_KEY} rejected", "key [Filtered] rejected", SK_KEY),
        (f"GET /cb?state=1&token={SECRET}&x=2 HTTP/1.1", "GET /cb?[Filtered] HTTP/1.1", SECRET),
        (f"see https://h.test/p?code={SECRET}.", "https://h.test/p?[Filtered]", SECRET),
        (f"access_token={SECRET}", "access_token=[Filtered]", SECRET),
        (f"jwt {JWT} expired", "jwt [Filtered] expired", JWT),
        (f'{{"token": "{SECRET}", "n": 1}}', '"token": "[Filtered]"', SECRET),
        ("a plain line with companion.backend.client in it", "companion.backend.client", "§"),
    ],
)
def test_scrub_text(text: str, kept: str, gone: str) -> None:
    scrubbed = telemetry.scrub_text(text)
    assert kept in scrubbed
    assert gone not in scrubbed


def test_secrets_scrubbed_everywhere(
    sentry_transport: RecordingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["companion", "speak", f"Bearer {SECRET}"])
    noisy = logging.getLogger("companion.test")
    noisy.warning("calling with token=%s and %s", SECRET, SK_KEY)  # a breadcrumb
    telemetry.report_error(f"failed with Bearer {SECRET}", {"domain": "test"})
    with sentry_sdk.new_scope() as scope:
        scope.set_extra("authorization", f"Bearer {SECRET}")
        scope.set_extra("note", f"url?token={SECRET}")
        scope.set_context("auth", {"jwt": JWT, "hint": f"key {SK_KEY}", "nested": [{"t": JWT}]})
        scope.set_tag("detail", f"sk {SK_KEY}")
        try:
            reply_text = f"local {SECRET}"  # locals are never sent
            raise ValueError(f"bad key {SK_KEY} and {JWT} ({len(reply_text)})")
        except ValueError as exc:
            telemetry.report_exception(exc, tags={"domain": "test"})
    assert len(sentry_transport.events) == 2
    assert "[Filtered]" in sentry_transport.dump()
    assert_clean(sentry_transport)
    crumbs = sentry_transport.events[0]["breadcrumbs"]["values"]
    assert any("calling with token=[Filtered]" in (c.get("message") or "") for c in crumbs)


def test_info_and_warning_lines_are_not_events(sentry_transport: RecordingTransport) -> None:
    for name in ("companion.backend", "companion.speech", "companion"):
        logger = logging.getLogger(name)
        logger.info("[x] expected state")
        logger.warning("[x] transient state")
        logger.error("[x] already reported", extra=telemetry.NO_EVENT)
    telemetry.log_backend_error(Unauthorized("POST", "/openai/v1/audio/speech"), operation="s")
    telemetry.log_backend_error(Transient("POST", "/v1/audio/speech", None, "reset"), operation="s")
    assert sentry_transport.events == []
    logging.getLogger("companion.test").error("[x] a bug")
    (event,) = sentry_transport.events
    assert event["logentry"]["message"] == "[x] a bug"
    messages = [c.get("message") for c in event["breadcrumbs"]["values"]]
    assert "[x] transient state" in messages and "[x] already reported" in messages


def test_backend_error_reported_once(sentry_transport: RecordingTransport) -> None:
    telemetry.log_backend_error(HttpError("GET", "/users/12345/stats", 500), operation="stats")
    (event,) = sentry_transport.events
    assert event["tags"]["path"] == "/users/:id/stats"
    assert event["fingerprint"] == ["backend_api", "HttpError", "GET", "/users/:id/stats", "500"]


def test_thread_exception_reaches_transport(
    sentry_transport: RecordingTransport, hooks: None, caplog: pytest.LogCaptureFixture
) -> None:
    def boom() -> None:
        raise RuntimeError(f"worker failed with Bearer {SECRET}")

    thread = threading.Thread(target=boom, name="worker-1")
    thread.start()
    thread.join()
    (event,) = sentry_transport.events
    (exc,) = event["exception"]["values"]
    assert exc["type"] == "RuntimeError"
    assert exc["mechanism"] == {"type": "threading", "handled": False}
    assert_clean(sentry_transport)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "companion.crash"]
    assert line.startswith("[crash] unhandled RuntimeError in thread worker-1 at ")
    telemetry.flush(1.0)
    assert sentry_transport.sessions[-1]["status"] == "crashed"


class _Failing(QThread):
    def run(self) -> None:
        raise KeyError("in a QThread")


def test_qthread_exception_reaches_transport(
    sentry_transport: RecordingTransport, hooks: None, qapp: object
) -> None:
    thread = _Failing()
    thread.start()
    assert thread.wait(5000)
    (event,) = sentry_transport.events
    assert event["exception"]["values"][0]["type"] == "KeyError"
    assert event["exception"]["values"][0]["mechanism"]["handled"] is False


def test_qt_slot_exception_reaches_transport(
    sentry_transport: RecordingTransport, hooks: None, qtbot: QtBot
) -> None:
    def slot() -> None:
        raise ZeroDivisionError("in a slot")

    QTimer.singleShot(0, slot)
    qtbot.wait_until(lambda: len(sentry_transport.events) == 1)
    assert sentry_transport.events[0]["exception"]["values"][0]["type"] == "ZeroDivisionError"


@pytest.mark.qt_log_ignore("companion-test")
def test_qt_critical_is_reported_warning_is_not(
    sentry_transport: RecordingTransport, hooks: None, qapp: object
) -> None:
    qWarning("companion-test: a warning")
    assert sentry_transport.events == []
    qCritical(f"companion-test: a critical Bearer {SECRET}")
    (event,) = sentry_transport.events
    assert event["tags"] == {"domain": "qt", "qt_level": "critical"}
    assert "companion-test: a critical Bearer [Filtered]" in event["message"]
    assert_clean(sentry_transport)


def test_hooks_restore(qapp: object) -> None:
    before = (sys.excepthook, threading.excepthook)
    restore = telemetry.install_qt_hooks()
    assert sys.excepthook is not before[0] and threading.excepthook is not before[1]
    again = telemetry.install_qt_hooks()  # a second call changes nothing
    again()
    assert sys.excepthook is not before[0]
    restore()
    assert (sys.excepthook, threading.excepthook) == before


def test_no_stderr_is_fine(
    sentry_transport: RecordingTransport, hooks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stderr", None)
    thread = threading.Thread(target=lambda: 1 / 0)
    thread.start()
    thread.join()
    sys.excepthook(ValueError, ValueError("main"), None)
    telemetry.flush(1.0)
    assert len(sentry_transport.events) == 2


def test_turning_reports_off_stops_them() -> None:
    transport = RecordingTransport()
    assert telemetry.init_telemetry(
        dsn=TEST_DSN, enabled=True, environment="test", transport=transport
    )
    try:
        assert not telemetry.init_telemetry(dsn=TEST_DSN, enabled=False, environment="test")
        assert not telemetry.is_enabled()
        telemetry.report_error("after turning off", {"domain": "test"})
        logging.getLogger("companion.test").error("[x] after turning off")
        assert transport.events == []
        assert [s["status"] for s in transport.sessions] == ["exited"]
    finally:
        telemetry.shutdown()


def test_a_token_in_use_is_scrubbed_whatever_its_shape(
    sentry_transport: RecordingTransport,
) -> None:
    from companion.backend import headers

    odd = "odd_shape_token~42"  # matches no pattern: only knowing it finds it
    headers.bearer(odd, base_url="http://127.0.0.1:9")
    try:
        assert telemetry.scrub_text(f"a {odd} b") == "a [Filtered] b"
        telemetry.report_error(f"echoed {odd}", {"domain": "test"})
        assert odd not in sentry_transport.dump() and "echoed [Filtered]" in sentry_transport.dump()
    finally:
        headers.reset()
