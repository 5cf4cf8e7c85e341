# SPDX-License-Identifier: GPL-3.0-or-later
"""Every body has a ceiling: a hostile or broken server cannot make Companion hold more of an
answer than it could ever use.

=====================================  ==========================  ==============================
body                                   ceiling                     past it
=====================================  ==========================  ==============================
a JSON answer (``authed_json``)        :data:`JSON_LIMIT` (1 MiB)  ``ProtocolError("answer too
                                       decoded, and as much on     large")``: a 2xx that cannot
                                       the wire                    be used (reported, once)
an error answer (non-2xx)              :data:`JSON_LIMIT`          classified by its status on
                                                                   its first 1 MiB (a 401 with an
                                                                   endless body is still a 401)
speech audio, a JSON speech answer     :mod:`companion.speech.     ``ProtocolError("answer too
                                       remote_engine`             large")``
                                       (``AUDIO_LIMIT``)
a line / an event of the chat stream   :mod:`companion.backend.    ``ProtocolError("answer too
                                       bounded_sse`                large")``
=====================================  ==========================  ==============================

The decoded size is what counts: a ``Content-Encoding: gzip`` (or ``deflate``, or a chain of
them) bomb is read in pieces of :data:`PIECE` bytes, each decompressed at most that far
(urllib3 ≥ 2.6 bounds each decompression step by the amount asked for), so a 10 GB body of
zeros compressed to 10 MB stops after 1 MiB of output. The bytes on the wire are counted too
(as ``tell()``), so a body that decompresses to nothing (empty gzip members, forever) stops at
the same ceiling. The streamed bodies (speech, chat) are read undecoded, as the server sent
them: their count is the wire's.

Why a 2xx past its ceiling is a ``ProtocolError`` and not ``Transient``: the status table says
a 2xx that cannot be parsed or decoded is the server's bug and worth one report; a JSON answer
of more than a megabyte is not one any Companion backend sends, and trying again would fetch
the same thing. The error carries the count, never a byte of the body.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

import requests
import urllib3.exceptions

from companion.backend import policy
from companion.backend.errors import BackendApiError, Transient

#: The most a JSON answer or an error body may hold, decoded (1 MiB: a sign-in answer is a
#: few hundred bytes, a model list a few tens of kilobytes).
JSON_LIMIT = 1 << 20
#: Bytes asked for (and, for compressed bodies, decompressed) per read.
PIECE = 16 * 1024
#: What a body past its ceiling is, as ``ProtocolError.reason``.
TOO_LARGE = "answer too large"


def too_large(method: str, path: str, status: int | None, size: int) -> BackendApiError:
    """The typed error for a 2xx body past its ceiling, through the status table
    (``ProtocolError(reason="answer too large")``; ``size`` is the count read, never a byte)."""
    err = policy.classify(method, path, status or 200, "", reason=TOO_LARGE)
    err.body_chars = size
    return err


def read_capped(
    resp: requests.Response,
    method: str,
    path: str,
    deadline: float,
    *,
    limit: int = JSON_LIMIT,
    truncate: bool = False,
) -> bytes:
    """The whole (decoded) body of a streamed response, read in pieces within ``deadline``
    (``time.monotonic()``), at most ``limit`` bytes decoded and on the wire.

    Past ``limit``: with ``truncate`` (an error body, classified by its status) the first
    ``limit`` bytes; else :func:`too_large`. The connection is then closed, not reused.
    Connection failures become ``Transient``.
    """
    parts: list[bytes] = []
    size = 0
    raw = resp.raw
    try:
        while True:
            if time.monotonic() >= deadline:
                raise Transient(method, path, resp.status_code, "deadline")
            data = raw.read1(min(PIECE, limit + 1 - size), decode_content=True)
            if not data:
                raw.release_conn()  # read to its end: the connection can be reused
                return b"".join(parts)
            parts.append(data)
            size += len(data)
            if size > limit or raw.tell() > limit:
                resp.close()
                if truncate:
                    return b"".join(parts)[:limit]
                raise too_large(method, path, resp.status_code, size)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        err = policy.classify_exception(method, path, exc)
        if err is None:
            raise
        raise err from None


def capped(
    chunks: Iterable[bytes], limit: int, over: Callable[[int], BaseException]
) -> Iterator[bytes]:
    """``chunks`` as they come, until more than ``limit`` bytes arrived: then ``over(count)``
    is raised (the piece that crossed the ceiling is not yielded)."""
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise over(size)
        yield chunk


def read_all(chunks: Iterable[bytes], limit: int, over: Callable[[int], BaseException]) -> bytes:
    """All of ``chunks`` joined, at most ``limit`` bytes (else ``over(count)`` is raised)."""
    return b"".join(capped(chunks, limit, over))
