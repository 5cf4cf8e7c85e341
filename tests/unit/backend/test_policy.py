# SPDX-License-Identifier: GPL-3.0-or-later
"""The status table, checked over statuses 100-599, methods and paths with the real sentry-sdk."""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import ssl
from collections.abc import Iterator

import pytest
import requests
import urllib3.exceptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from companion import telemetry
from companion.backend import policy
from companion.backend.errors import (
    BackendApiError,
    BudgetExhausted,
    FormatRefused,
    HttpError,
    MessageNotFound,
    ModelNotFound,
    NoChatRoute,
    NoModelsRoute,
    NoSpeechRoute,
    ProtocolError,
    Transient,
    Unauthorized,
)
from tests.support.fixtures import RecordingTransport

SECRET = "tok-policy-secret-5f2a9c"
HTML = "<html><body><h1>Bad Gateway</h1><p>nginx</p></body></html>"
BODIES = [
    "",
    "{}",
    HTML,
    '{"success": false, "message": "Insufficient balance"}',
    "You are out of credits",
    '{"error": {"message": "monthly budget exceeded"}}',
    f'{{"success": false, "message": "bad token {SECRET}"}}',
    f"Authorization: Bearer {SECRET}",
]
# Real servers' error bodies (tests/unit/backend/test_openai_errors.py has more).
AUTH_BODY = (
    '{"error":{"message":"No connected db.","type":"no_db_connection","param":null,"code":"400"}}'
)
MODEL_BODY = (
    '{"error":{"message":"The model `tts-9` does not exist or you do not have access to it.",'
    '"type":"invalid_request_error","param":null,"code":"model_not_found"}}'
)
FORMAT_BODY = (
    '{"error":{"message":"response_format \'pcm\' is not supported.","type":'
    '"invalid_request_error","param":"response_format","code":"unsupported_response_format"}}'
)
QUOTA_BODY = (
    '{"error":{"message":"You exceeded your current quota, please check your plan.",'
    '"type":"insufficient_quota","param":null,"code":"insufficient_quota"}}'
)
#: 401 in other shapes: the original backend's envelope, FastAPI's security classes.
ENVELOPE_401 = '{"success": false, "message": "Unauthorized"}'
FASTAPI_401 = '{"detail":"Not authenticated"}'
AUTH_BODIES = (AUTH_BODY, ENVELOPE_401, FASTAPI_401)
BODIES += [AUTH_BODY, ENVELOPE_401, FASTAPI_401, MODEL_BODY, FORMAT_BODY, QUOTA_BODY]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "post", "get"]
KNOWN_PATHS = [
    "/openai/v1/audio/speech",
    "/v1/audio/speech",
    "/audio/speech",
    "/openai/v1/chat/completions",
    "/v1/chat/completions",
    "/referral/stats",
    "/v1/models",
    "/auth/me",
    "/auth/login-token/consume",
    "/channels/discord/messages/",
    "/channels/discord/messages/1/reactions",
]
_segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=10)
_message_path = st.builds(
    lambda p, i, slash: f"/channels/{p}/messages/{i}{slash}",
    _segment,
    _segment,
    st.sampled_from(["", "/"]),
)
_other_path = st.builds(lambda parts: "/" + "/".join(parts), st.lists(_segment, max_size=4))
_path = st.builds(
    lambda p, q: p + q,
    st.one_of(st.sampled_from(KNOWN_PATHS), _message_path, _other_path),
    st.sampled_from(["", f"?token={SECRET}", "?page=2"]),
)
_MESSAGE = re.compile(r"^/channels/([^/]+)/messages/([^/]+)/?$")
_BUDGET = re.compile(r"budget|credit|balance", re.I)


def expected(
    status: int, path: str, body: str, method: str = "POST"
) -> tuple[type[BackendApiError], int, bool]:
    """The table of ARCHITECTURE.md, written out independently of policy.py."""
    path = path.split("?")[0]
    speech = path.endswith("/audio/speech")
    chat = path.endswith("/chat/completions")
    ok = 200 <= status < 300
    if status == 401 or ((status in (400, 403) or ok) and body in AUTH_BODIES):
        return Unauthorized, logging.INFO, False
    if status == 404 and _MESSAGE.match(path):
        return MessageNotFound, logging.INFO, False
    if status in (400, 415, 422) and speech and body == FORMAT_BODY:
        return FormatRefused, logging.INFO, False
    if status in (400, 404) and body == MODEL_BODY:
        return ModelNotFound, logging.INFO, False
    if body == QUOTA_BODY and (status in (400, 402, 429) or ok):
        return BudgetExhausted, logging.INFO, False
    if (status in (400, 402) or ok) and _BUDGET.search(body):
        return BudgetExhausted, logging.INFO, False
    if status in (404, 405, 501) and (speech or chat):
        return (NoSpeechRoute if speech else NoChatRoute), logging.INFO, False
    if status in (404, 405, 501) and method.upper() == "GET" and path.endswith("/models"):
        return NoModelsRoute, logging.INFO, False
    if status in (408, 429, 502, 503, 504, 520):
        return Transient, logging.WARNING, False
    if 200 <= status < 300:
        return ProtocolError, logging.ERROR, True
    return HttpError, logging.ERROR, True


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def backend_records() -> Iterator[_Records]:
    logger = logging.getLogger("companion.backend")
    handler = _Records()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    status=st.integers(100, 599),
    method=st.sampled_from(METHODS),
    path=_path,
    body=st.sampled_from(BODIES),
)
def test_table(
    sentry_transport: RecordingTransport,
    backend_records: _Records,
    status: int,
    method: str,
    path: str,
    body: str,
) -> None:
    sentry_transport.clear()
    backend_records.records.clear()
    kind, level, report = expected(status, path, body, method)

    err = policy.classify(method, path, status, body, retry_after=1.5)

    assert type(err) is kind
    assert err.method == method.upper()
    assert err.path == path.split("?")[0]
    assert err.status == status
    assert err.body_chars == len(body)
    if isinstance(err, MessageNotFound):
        m = _MESSAGE.match(err.path)
        assert m and (err.provider, err.message_id) == (m[1], m[2])
    if isinstance(err, Transient):
        assert (err.reason, err.retry_after) == ("status", 1.5)
    assert policy.log_level(err) == level
    assert policy.should_report(err) is report

    telemetry.log_backend_error(err, operation="test_op")

    # One log line at the table's level, with the stable prefix and fields, no secrets.
    (record,) = backend_records.records
    assert record.levelno == level
    line = record.getMessage()
    assert line.startswith("[backend_api] domain=backend operation=test_op ")
    assert f"method={method.upper()} " in line
    assert f"status={status} " in line
    assert f" body_chars={len(body)}" in line
    assert SECRET not in line and (len(body) < 3 or body not in line)

    # A crash report exactly when the table says so (and never a second one from logging).
    events = sentry_transport.events
    assert len(events) == (1 if report else 0)
    if report:
        (event,) = events
        tags = event["tags"]
        assert tags["domain"] == "backend"
        assert tags["operation"] == "test_op"
        assert tags["method"] == method.upper()
        assert tags["path"] == policy.path_template(path)
        assert tags["status"] == str(status)
        assert tags["failure"] == ("non_2xx" if kind is HttpError else "protocol")
        assert event["extra"]["body_chars"] == len(body)
        assert event["level"] == "error"
        assert event["release"].startswith("companion@")
        text = json.dumps(event)
        assert SECRET not in text
        assert len(body) < 3 or body not in text


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/openai/v1/audio/speech"), ("GET", "/referral/stats")]
)
def test_401_is_unauthorized_with_method_and_path(
    sentry_transport: RecordingTransport, method: str, path: str
) -> None:
    err = policy.classify(method, path, 401, '{"success": false, "message": "jwt expired"}')
    assert isinstance(err, Unauthorized)
    assert (err.method, err.path, err.status) == (method, path, 401)
    assert policy.log_level(err) == logging.INFO
    telemetry.log_backend_error(err, operation="x")
    assert sentry_transport.events == []


def test_403_is_not_demoted(sentry_transport: RecordingTransport) -> None:
    err = policy.classify("GET", "/referral/stats", 403, "Forbidden")
    assert type(err) is HttpError
    assert policy.log_level(err) == logging.ERROR and policy.should_report(err)
    telemetry.log_backend_error(err, operation="referral")
    (event,) = sentry_transport.events
    assert event["tags"]["status"] == "403"
    assert event["tags"]["failure"] == "non_2xx"


def test_success_false_is_budget_or_protocol() -> None:
    budget = policy.classify("POST", "/x", 200, "No credits left", reason="success: false")
    assert isinstance(budget, BudgetExhausted) and budget.status == 200
    proto = policy.classify("POST", "/x", 200, "Something else", reason="success: false")
    assert isinstance(proto, ProtocolError) and proto.reason == "success: false"


def _chain(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (requests.exceptions.ConnectTimeout("t"), "timeout"),
        (requests.exceptions.ReadTimeout("t"), "timeout"),
        (_chain(requests.exceptions.ConnectionError("c"), ConnectionRefusedError()), "refused"),
        (_chain(requests.exceptions.ConnectionError("c"), ConnectionResetError()), "reset"),
        (http.client.RemoteDisconnected("closed"), "reset"),
        (_chain(requests.exceptions.ConnectionError("c"), socket.gaierror(-2, "dns")), "dns"),
        (requests.exceptions.SSLError(ssl.SSLEOFError(8, "EOF")), "tls"),
        (requests.exceptions.ChunkedEncodingError("broken"), "cut_short"),
        (
            urllib3.exceptions.ProtocolError("broken", http.client.IncompleteRead(b"", 10)),
            "cut_short",
        ),
        (requests.exceptions.ConnectionError("other"), "connection"),
    ],
)
def test_connection_failures_are_transient(exc: BaseException, reason: str) -> None:
    err = policy.classify_exception("get", "/auth/me?token=x", exc)
    assert isinstance(err, Transient)
    assert (err.method, err.path, err.status, err.reason) == ("GET", "/auth/me", None, reason)
    assert policy.log_level(err) == logging.WARNING and not policy.should_report(err)


def test_a_refused_redirect_is_its_own_row(sentry_transport: RecordingTransport) -> None:
    from companion.backend.errors import RedirectRefused
    from companion.backend.origin import RedirectBlocked

    blocked = RedirectBlocked(307, "other_origin", origin="http://a", target="http://b")
    wrapped = requests.exceptions.ConnectionError("wrapped")
    wrapped.__cause__ = blocked
    for exc in (blocked, wrapped):
        err = policy.classify_exception("post", "/v1/audio/speech?token=x", exc)
        assert isinstance(err, RedirectRefused)
        assert (err.method, err.path, err.status, err.reason) == (
            "POST",
            "/v1/audio/speech",
            307,
            "other_origin",
        )
        assert (err.origin, err.target) == ("http://a", "http://b")
    assert policy.log_level(err) == logging.WARNING and not policy.should_report(err)
    assert policy.fields(err, "speech")["failure"] == "redirect_refused"
    assert policy.fields(err, "speech")["reason"] == "other_origin"
    telemetry.log_backend_error(err, operation="speech")
    assert sentry_transport.events == []


def test_bugs_are_not_transient() -> None:
    assert policy.classify_exception("GET", "/x", ValueError("bug")) is None
    assert policy.classify_exception("GET", "/x", KeyError("k")) is None


def test_path_template_is_low_cardinality() -> None:
    assert policy.path_template("/channels/slack/messages/9f8e7d") == "/channels/slack/messages/:id"
    assert policy.path_template("/users/12345/stats?token=x") == "/users/:id/stats"
    assert policy.path_template("/openai/v1/audio/speech") == "/openai/v1/audio/speech"


@pytest.mark.parametrize(
    ("status", "path", "body", "kind"),
    [
        (400, "/v1/chat/completions", AUTH_BODY, Unauthorized),  # LiteLLM without its DB
        (403, "/v1/audio/speech", AUTH_BODY, Unauthorized),
        (403, "/v1/audio/speech", '{"error": {"type": "permission_error"}}', HttpError),
        (404, "/v1/audio/speech", MODEL_BODY, ModelNotFound),
        (400, "/v1/chat/completions", MODEL_BODY, ModelNotFound),
        (404, "/v1/audio/speech", '{"detail":"Not Found"}', NoSpeechRoute),
        (405, "/openai/v1/audio/speech", "", NoSpeechRoute),
        (501, "/v1/audio/speech", "Not Implemented", NoSpeechRoute),
        (404, "/v1/chat/completions", "<h1>Cannot POST</h1>", NoChatRoute),
        (404, "/referral/stats", "", HttpError),
        (404, "/v1/models", '{"detail":"Not Found"}', NoModelsRoute),  # as GET (tts-daemon)
        (400, "/v1/audio/speech", FORMAT_BODY, FormatRefused),
        (
            422,
            "/v1/audio/speech",
            '{"detail":"response_format \'pcm\' cannot be served"}',
            FormatRefused,
        ),
        (415, "/v1/audio/speech", "Unsupported format: opus", FormatRefused),
        (400, "/v1/chat/completions", FORMAT_BODY, HttpError),
        (429, "/v1/chat/completions", QUOTA_BODY, BudgetExhausted),
        (429, "/v1/chat/completions", '{"error": {"code": "rate_limit_exceeded"}}', Transient),
    ],
)
def test_the_rows_real_servers_need(
    sentry_transport: RecordingTransport,
    status: int,
    path: str,
    body: str,
    kind: type[BackendApiError],
) -> None:
    method = "GET" if path.endswith("/models") else "POST"
    err = policy.classify(method, path, status, body, model="tts-9")
    assert type(err) is kind
    assert err.status == status
    telemetry.log_backend_error(err, operation="x")
    assert len(sentry_transport.events) == (1 if kind is HttpError else 0)
    if isinstance(err, ModelNotFound):
        assert err.model == "tts-9" and "tts-9" in err.user_message and err.action == "settings"
    if isinstance(err, Unauthorized):
        assert err.status == status and policy.log_level(err) == logging.INFO
