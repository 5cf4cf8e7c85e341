# SPDX-License-Identifier: GPL-3.0-or-later
"""The IPC wire format, shared by the mascot's server and both clients: a 4-byte big-endian
length, then that many bytes of UTF-8 JSON (see :mod:`companion.replies.ipc`)."""

from __future__ import annotations

import json
import struct
from typing import Any

from companion import bounded_json

#: Largest request accepted (a long pasted text is fine; a runaway client is not).
MAX_MESSAGE = 8 * 1024 * 1024
_HEADER = struct.Struct(">I")


class IpcError(Exception):
    """``say`` could not deliver; the message is one line for the terminal."""


def encode_message(payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return _HEADER.pack(len(body)) + body


class _Reader:
    """Collects one length-prefixed message from a socket's bytes: at most :data:`MAX_MESSAGE`
    bytes and :data:`companion.bounded_json.MAX_DEPTH` levels of nesting (else ``ValueError``)."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> dict[str, Any] | None:
        self.buffer += data
        if len(self.buffer) < _HEADER.size:
            return None
        (length,) = _HEADER.unpack_from(self.buffer)
        if length > MAX_MESSAGE:
            raise ValueError("message too large")
        if len(self.buffer) < _HEADER.size + length:
            return None
        body = bytes(self.buffer[_HEADER.size : _HEADER.size + length])
        del self.buffer[: _HEADER.size + length]
        data_obj = bounded_json.loads(body)  # nesting bounded: a ValueError, not a RecursionError
        if not isinstance(data_obj, dict):
            raise ValueError("message is not an object")
        return data_obj
