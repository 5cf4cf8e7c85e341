# SPDX-License-Identifier: GPL-3.0-or-later
"""Body ceilings, against a real server on 127.0.0.1: a JSON answer past 1 MiB (plain or a
gzip bomb, counted decoded) is ``ProtocolError("answer too large")``; an error body is cut
and classified by its status; a body within the ceiling is read whole."""

from __future__ import annotations

import time

import pytest
import requests

from companion.backend import bounded_body, policy
from companion.backend.errors import ProtocolError, Unauthorized
from tests.security.hostile_server import Attack, HostileServer


def _get(url: str) -> requests.Response:
    return requests.get(url, stream=True, timeout=10)


def _read(resp: requests.Response, **kw: object) -> bytes:
    return bounded_body.read_capped(
        resp,
        "GET",
        "/x",
        time.monotonic() + 20,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("kind", ["endless", "gzip_bomb"])
def test_a_2xx_past_the_ceiling_is_a_protocol_error(kind: str) -> None:
    with (
        HostileServer({"/x": Attack(kind)}) as server,
        _get(server.url + "/x") as resp,
        pytest.raises(ProtocolError) as caught,
    ):
        _read(resp)
    err = caught.value
    assert err.reason == bounded_body.TOO_LARGE and err.status == 200
    assert bounded_body.JSON_LIMIT < err.body_chars <= bounded_body.JSON_LIMIT + bounded_body.PIECE
    assert policy.should_report(err)


def test_an_error_body_is_cut_and_classified_by_status() -> None:
    with (
        HostileServer({"/x": Attack("gzip_bomb", status=401)}) as server,
        _get(server.url + "/x") as resp,
    ):
        body = _read(resp, truncate=True)
    assert len(body) == bounded_body.JSON_LIMIT and set(body) == {0}
    assert isinstance(policy.classify("GET", "/x", 401, body.decode()), Unauthorized)


def test_a_body_within_the_ceiling_is_read_whole() -> None:
    doc = b'{"ok": true}' * 1000
    with HostileServer({"/x": Attack("body", body=doc)}) as server, _get(server.url + "/x") as r:
        assert _read(r) == doc


def test_capped_and_read_all() -> None:
    chunks = [b"ab", b"cd", b"ef"]
    assert bounded_body.read_all(iter(chunks), 6, ValueError) == b"abcdef"
    with pytest.raises(ValueError, match="6"):
        bounded_body.read_all(iter(chunks), 5, lambda n: ValueError(str(n)))
