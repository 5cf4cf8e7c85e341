# SPDX-License-Identifier: GPL-3.0-or-later
"""Across a run full of faults, no token and no reply text reaches a log line or a report."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

import pytest

from companion import telemetry
from companion.backend.client import BackendClient
from companion.backend.errors import BackendApiError
from companion.speech.remote_engine import RemoteEngine
from companion.speech.types import CancelToken
from tests.support.fixtures import RecordingTransport
from tests.support.reference_backend import ReferenceBackend, SpeechConfig, encode

REPLY = "The purple elephant dances at midnight under seven moons."
NEEDLES = ("purple elephant", "seven moons")
TIMING = {"stall_after", "hang", "drip"}


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.threadName and record.threadName.startswith("reference-backend"):
            return  # the server side (its Piper logs the text it speaks) is not the app
        self.lines.append(self.format(record))
        self.lines.append(repr(record.__dict__))


@pytest.fixture
def every_log_line() -> Iterator[_Everything]:
    encode(REPLY, "wav")  # synthesised beforehand: the deadlines below are short
    root = logging.getLogger()
    handler = _Everything()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    old = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def test_faulty_run_leaks_nothing(
    reference_backend: ReferenceBackend,
    sentry_transport: RecordingTransport,
    every_log_line: _Everything,
) -> None:
    token = reference_backend.token
    faults: list[dict[str, Any]] = [
        {"status": 401, "body": f"bad token {token} for {REPLY}"},
        {"status": 403, "body": f"<h1>{token}</h1><p>{REPLY}</p>", "content_type": "text/html"},
        {
            "status": 500,
            "body": f'{{"error": "{REPLY}", "auth": "Bearer {token}"}}',
            "content_type": "application/json",
        },
        {"status": 402, "body": f"budget exhausted for {REPLY} ({token})"},
        {"status": 418, "body": REPLY},
        {"status": 503, "retry_after": "0", "body": f"{REPLY} {token}", "times": 3},
        {
            "status": 200,
            "body": f'{{"success": false, "message": "{REPLY} {token}"}}',
            "content_type": "application/json",
        },
        {
            "status": 200,
            "body": f'{{"success": true, "data": {{"audio": "{token}"}}}}',
            "content_type": "application/json",
        },
        {"status": 200, "body": f"{REPLY} {token}", "content_type": "audio/wav"},
        {"cut_short": True},
        {"reset": True, "times": 3},
        {"stall_after": 64},
        {"hang": math.inf, "times": 3},
        {"drip": 0.01},
        {"corrupt": True},
    ]
    client = BackendClient(
        base_url=reference_backend.url,
        token=lambda: token,
        read_timeout=0.3,
        backoff_base=0.01,
        poll_interval=0.01,
    )
    engine = RemoteEngine(client=client, sample_rate=22050, response_format="wav", deadline_s=0.8)
    errors: list[BackendApiError] = []
    with client:
        for fault in faults:
            reference_backend.clear_faults()
            reference_backend.inject(**fault)
            try:
                list(engine.synthesize(REPLY, voice=None, speed=1.0, cancel=CancelToken()))
            except BackendApiError as err:  # what the speech worker does with them
                telemetry.log_backend_error(err, operation="speech")
                errors.append(err)
            else:
                # On a loaded machine a slow first answer can be retried past a timing
                # fault; every other fault must fail.
                assert TIMING & set(fault), f"no error for {sorted(fault)}"
        for path in ("/auth/me", "/referral/stats", "/channels/slack/messages/9"):
            reference_backend.inject(status=401, body=f"{token} {REPLY}")
            try:
                client.authed_json("POST", path, {"text": REPLY, "token": token})
            except BackendApiError as err:
                telemetry.log_backend_error(err, operation="json")
                errors.append(err)
    reference_backend.clear_faults()
    reference_backend.speech = SpeechConfig(shape="json")
    with BackendClient(base_url=reference_backend.url, token=lambda: token) as patient:
        engine = RemoteEngine(client=patient, sample_rate=22050)
        assert list(engine.synthesize(REPLY, voice=None, speed=1.0, cancel=CancelToken()))
    telemetry.flush(1.0)

    assert len(errors) >= len(faults) + 3 - len([f for f in faults if TIMING & set(f)])
    assert len(sentry_transport.events) >= 6  # 403, 500, 418, protocol errors were reported
    assert len(every_log_line.lines) > 40
    # Crash reporting adds nothing to what the backend receives (no trace headers).
    assert not any({"sentry-trace", "baggage"} & set(r.headers) for r in reference_backend.requests)
    haystacks = {
        "log lines": "\n".join(every_log_line.lines),
        "reports": sentry_transport.dump(),
        "errors": "\n".join(f"{e}\n{e!r}\n{e.user_message}\n{vars(e)}" for e in errors),
    }
    for where, text in haystacks.items():
        assert token not in text, f"token found in {where}"
        for needle in NEEDLES:
            assert needle not in text, f"reply text found in {where}"
