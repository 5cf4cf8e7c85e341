# SPDX-License-Identifier: GPL-3.0-or-later
"""Server-sent events cut into bounded blocks: the same events as sseclient-py gives for a
well-formed stream, whatever the pieces, and ``over`` past each bound."""

from __future__ import annotations

import itertools

import pytest
import sseclient
from hypothesis import given
from hypothesis import strategies as st

from companion.backend import bounded_sse


class Over(Exception):
    pass


def _over(size: int) -> Over:
    return Over(size)


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


STREAM = (
    b": keep-alive\n\n"
    b'data: {"a": 1}\n\n'
    b"event: error\r\ndata: line one\r\ndata: line two\r\n\r\n"
    b"id: 7\rdata: cr only\r\r"
    b"data: [DONE]\n\n"
)


@given(st.lists(st.integers(0, 10_000), max_size=12))
def test_same_events_as_sseclient_whatever_the_pieces(cuts: list[int]) -> None:
    got = [(e.event, e.data, e.id) for e in bounded_sse.events(iter(_pieces(STREAM, cuts)), _over)]
    want = [(e.event, e.data, e.id) for e in sseclient.SSEClient(iter([STREAM])).events()]
    assert got == want
    assert got[-1] == ("message", "[DONE]", None)


def test_an_unterminated_rest_comes_last() -> None:
    blocks = list(bounded_sse.event_blocks(iter([b"data: a\n\ndata: cut"]), _over))
    assert blocks == [b"data: a\n\n", b"data: cut"]


def test_a_line_past_its_bound_stops_as_it_arrives() -> None:
    fed = 0

    def endless() -> object:
        nonlocal fed
        while True:
            fed += 4096
            yield b"x" * 4096

    with pytest.raises(Over):
        list(bounded_sse.event_blocks(endless(), _over, line_limit=65536))  # type: ignore[arg-type]
    assert fed <= 65536 + 4096


def test_an_event_past_its_size_or_line_count() -> None:
    many = iter([b"data: x\n" * 100])
    with pytest.raises(Over):
        list(bounded_sse.event_blocks(many, _over, max_lines=64))
    big = iter([b"data: " + b"y" * 100 + b"\n"] * 20)
    with pytest.raises(Over):
        list(bounded_sse.event_blocks(big, _over, event_limit=1000))
    ok = iter([b"data: x\n" * 64 + b"\n"])
    assert len(list(bounded_sse.event_blocks(ok, _over, max_lines=64))) == 1
