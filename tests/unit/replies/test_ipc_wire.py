# SPDX-License-Identifier: GPL-3.0-or-later
"""The length-prefixed JSON wire format shared by the mascot and its clients."""

from __future__ import annotations

import pytest

from companion.replies import ipc_wire


def test_messages_round_trip_and_split_reads() -> None:
    data = ipc_wire.encode_message({"cmd": "say", "text": "héllo"})
    reader = ipc_wire._Reader()
    assert reader.feed(data[:3]) is None
    assert reader.feed(data[3:]) == {"cmd": "say", "text": "héllo"}


def test_a_message_over_the_limit_is_refused() -> None:
    reader = ipc_wire._Reader()
    with pytest.raises(ValueError):
        reader.feed(ipc_wire._HEADER.pack(ipc_wire.MAX_MESSAGE + 1))


def test_deep_nesting_is_a_value_error_not_a_recursion_error() -> None:
    """A hostile peer's 200,000 brackets: ``ValueError`` (the server answers "bad request")."""
    reader = ipc_wire._Reader()
    body = b'{"cmd": "say", "text": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(ValueError):
        reader.feed(ipc_wire._HEADER.pack(len(body)) + body)
