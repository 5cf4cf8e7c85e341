# SPDX-License-Identifier: GPL-3.0-or-later
"""Log redaction on the handler: every logger's lines (urllib3's debug lines of real requests
included) lose their tokens and query strings, the way crash reports do."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import requests

from companion.backend import headers
from companion.commands.log_redact import FILTERED, Redact, redact
from tests.support.reference_backend import ReferenceBackend

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLWhlcmU"


@pytest.fixture
def written() -> Iterator[tuple[io.StringIO, logging.Handler]]:
    """A handler with the filter, as ``setup_logging`` installs it, on the root logger."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    handler.addFilter(Redact())
    root = logging.getLogger()
    root.addHandler(handler)
    headers.reset()
    yield out, handler
    root.removeHandler(handler)
    headers.reset()


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("Authorization: Bearer abc.def-123", "Bearer [Filtered]", "abc.def-123"),
        (f"got {JWT} back", f"got {FILTERED} back", JWT),
        ("GET /callback?token=s3cr3t&state=x HTTP/1.1", "/callback?[Filtered] HTTP/1.1", "s3cr3t"),
        ("opening https://h.test/login?code=s3cr3t now", "/login?[Filtered] now", "s3cr3t"),
        ("plain line: nothing to see?", "plain line: nothing to see?", "[Filtered]"),
    ],
)
def test_redact(text: str, kept: str, gone: str) -> None:
    out = redact(text)
    assert kept in out and gone not in out


def test_a_known_token_of_any_shape_is_redacted(
    written: tuple[io.StringIO, logging.Handler],
) -> None:
    out, _ = written
    headers.bearer("plain-0123456789", base_url="http://127.0.0.1:9")
    headers.remember("x")  # too short to search for
    logging.getLogger("companion.test").warning("echo %s and x", "plain-0123456789")
    assert out.getvalue() == f"companion.test: echo {FILTERED} and x\n"


def test_tracebacks_and_stacks_are_redacted(written: tuple[io.StringIO, logging.Handler]) -> None:
    out, _ = written
    log = logging.getLogger("companion.test")
    try:
        raise ValueError(f"Invalid header value b'Bearer {JWT}'")
    except ValueError:
        log.warning("failed", exc_info=True, stack_info=True)
    text = out.getvalue()
    assert "ValueError: Invalid header value b'Bearer [Filtered]'" in text
    assert "Stack (most recent call last)" in text and JWT not in text


def test_urllib3_debug_lines_of_real_requests_lose_their_query(
    written: tuple[io.StringIO, logging.Handler], reference_backend: ReferenceBackend
) -> None:
    out, _ = written
    pool = logging.getLogger("urllib3.connectionpool")
    before = pool.level
    pool.setLevel(logging.DEBUG)
    try:
        url = f"{reference_backend.url}/auth/me?token=s3cr3t-query&state=q1"
        requests.get(url, headers={"Authorization": f"Bearer {reference_backend.token}"}, timeout=5)
    finally:
        pool.setLevel(before)
    text = out.getvalue()
    assert '"GET /auth/me?[Filtered] HTTP/1.1" 200' in text, text
    assert "s3cr3t-query" not in text and "state=q1" not in text


def test_a_record_without_secrets_is_left_alone() -> None:
    record = logging.LogRecord("companion.x", logging.INFO, __file__, 1, "n=%d", (3,), None)
    assert Redact().filter(record)
    assert (record.msg, record.args) == ("n=%d", (3,))
