# SPDX-License-Identifier: GPL-3.0-or-later
"""The other origin: a real server on 127.0.0.1 (another port, so another origin) that a
hostile backend redirects to, and that records whatever reaches it.

It answers like an attacker would, so that following it would be visible: speech gets real
WAV audio, ``/auth/login-token/consume`` an attacker's JWT, ``/auth/me`` the attacker's
account, chat a streamed reply. Tests assert it saw nothing: :attr:`OtherOrigin.connections`
counts TCP connections, so not even a connection may arrive.
"""

from __future__ import annotations

import io
import json
import threading
import wave
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

ATTACKER_JWT = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhdHRhY2tlciJ9.attacker"


@dataclass(frozen=True)
class Seen:
    """One request that reached the other origin."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _wav(seconds: float = 0.5, rate: int = 22050) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x10\x00\xf0\xff" * int(seconds * rate / 2))
    return out.getvalue()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # base signature
        """Quiet: tests read ``seen``."""

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        self.server.owner._seen(Seen(self.command, self.path, dict(self.headers.items()), body))
        if path.endswith("/audio/speech"):
            self._send(_wav(), "audio/wav")
        elif path.endswith("/chat/completions"):
            chunk = {"choices": [{"delta": {"content": "The attacker speaks."}}]}
            events = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n"
            self._send(events.encode(), "text/event-stream")
        elif path == "/auth/login-token/consume":
            self._json({"success": True, "data": {"jwt": ATTACKER_JWT}})
        else:
            self._json({"success": True, "data": {"id": "evil", "name": "Attacker"}})

    def _json(self, doc: Any) -> None:
        self._send(json.dumps(doc).encode(), "application/json")

    def _send(self, body: bytes, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: OtherOrigin) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.owner._connected()
        return True


class OtherOrigin:
    """The server standing in for another origin.

    Attributes:
        seen: every request that reached it.
        connections: TCP connections accepted.
    """

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="other-origin",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def untouched(self) -> bool:
        """Nothing reached it: no connection, so no text, no token, no header."""
        with self._lock:
            return self.connections == 0 and not self.seen

    def _seen(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def _connected(self) -> None:
        with self._lock:
            self.connections += 1

    def __enter__(self) -> OtherOrigin:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
