# SPDX-License-Identifier: GPL-3.0-or-later
"""A hostile HTTP server on 127.0.0.1: every answer is an attack on the reader's memory or
parser, sent as fast as the socket takes it, until the client hangs up.

Attacks (:class:`Attack`, one per path; any other path answers 404):

- ``endless``: a body that never ends (``fill`` repeated), under any status and type;
- ``gzip_bomb``: ``Content-Encoding: gzip``, ``members`` gzip members of 64 MiB of zeros each
  (64 KiB on the wire each; 160 members: 10 GiB decompressed), made once and repeated;
- ``sse_line``: an event stream whose first line is ``size`` bytes with no line end;
- ``body``: a fixed body (deep JSON, 401 shapes).

Usage::

    with HostileServer({"/auth/me": Attack("gzip_bomb")}) as server:
        ... server.url ...
"""

from __future__ import annotations

import contextlib
import gzip
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

_MEMBER_ZEROS = 64 << 20
_member: bytes | None = None
_member_lock = threading.Lock()


def gzip_member() -> bytes:
    """One gzip member of 64 MiB of zeros (about 64 KiB), made once."""
    global _member
    with _member_lock:
        if _member is None:
            _member = gzip.compress(b"\0" * _MEMBER_ZEROS, compresslevel=9)
        return _member


def wav_header(rate: int = 48_000, channels: int = 2, bits: int = 32) -> bytes:
    """A PCM WAV header whose sizes say "unknown" (a stream that never ends)."""
    block = channels * bits // 8
    return (
        b"RIFF\xff\xff\xff\xffWAVEfmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + channels.to_bytes(2, "little")
        + rate.to_bytes(4, "little")
        + (rate * block).to_bytes(4, "little")
        + block.to_bytes(2, "little")
        + bits.to_bytes(2, "little")
        + b"data\xff\xff\xff\xff"
    )


@dataclass(frozen=True)
class Attack:
    """What one path answers.

    Attributes:
        kind: ``endless``, ``gzip_bomb``, ``sse_line`` or ``body``.
        status: the HTTP status.
        content_type: the ``Content-Type``.
        fill: what an endless body repeats; ``head`` comes first.
        body: the fixed body of ``body``.
        members: gzip members of a bomb (64 MiB decompressed each).
        size: the length of the endless SSE line.
    """

    kind: str
    status: int = 200
    content_type: str = "application/json"
    head: bytes = b""
    fill: bytes = b"x" * 65536
    body: bytes = b""
    members: int = 160
    size: int = 100 << 20


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # the attack is the point, not its log

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        attack = self.server.attacks.get(path)
        self.server.hits.append(path)
        if attack is None:
            self.send_error(404)
            return
        self.send_response(attack.status)
        self.send_header("Content-Type", attack.content_type)
        if attack.kind == "gzip_bomb":
            self.send_header("Content-Encoding", "gzip")
        if attack.kind == "body":
            self.send_header("Content-Length", str(len(attack.body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self._body(attack)

    def _body(self, attack: Attack) -> None:
        out = self.wfile
        if attack.kind == "body":
            out.write(attack.body)
            return
        if attack.kind == "gzip_bomb":
            member = gzip_member()
            for _ in range(attack.members):
                out.write(member)
            return
        if attack.kind == "sse_line":
            out.write(b"data: ")
            sent = 0
            while sent < attack.size:
                out.write(attack.fill)
                sent += len(attack.fill)
            out.write(b"\n\n")
            return
        out.write(attack.head)
        while not self.server.stopping.is_set():
            out.write(attack.fill)

    do_GET = _answer
    do_POST = _answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    attacks: dict[str, Attack]
    hits: list[str]
    stopping: threading.Event


class HostileServer:
    """The server, on a free port of 127.0.0.1, in a thread of its own."""

    def __init__(self, attacks: dict[str, Attack]) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.attacks = dict(attacks)
        self._server.hits = []
        self._server.stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="hostile-server", daemon=True
        )
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"

    @property
    def hits(self) -> list[str]:
        """The paths asked for, in order."""
        return list(self._server.hits)

    def __enter__(self) -> HostileServer:
        gzip_member()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
