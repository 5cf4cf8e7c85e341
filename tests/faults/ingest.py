# SPDX-License-Identifier: GPL-3.0-or-later
"""A local Sentry ingest endpoint: a real HTTP server on 127.0.0.1 that keeps every envelope
a real sentry-sdk in another process sends it (``COMPANION_SENTRY_DSN=ingest.dsn``)."""

from __future__ import annotations

import gzip
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sentry_sdk.envelope import Envelope


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # base signature
        """Quiet."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            import brotli  # type: ignore[import-not-found]  # only if sentry-sdk chose it

            body = brotli.decompress(body)
        with self.server.lock:
            self.server.raw.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.raw: list[bytes] = []


class Ingest:
    """Envelopes received, as text and parsed.

    Attributes:
        dsn: the DSN that points a sentry-sdk here.
    """

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sentry-ingest", daemon=True
        )
        self._thread.start()
        self.dsn = f"http://public@127.0.0.1:{self._server.server_address[1]}/1"

    def envelopes(self) -> list[Envelope]:
        with self._server.lock:
            raw = list(self._server.raw)
        return [Envelope.deserialize(body) for body in raw]

    def events(self) -> list[dict[str, Any]]:
        return [
            item.payload.json
            for env in self.envelopes()
            for item in env.items
            if item.type == "event" and item.payload.json is not None
        ]

    def dump(self) -> str:
        with self._server.lock:
            return "\n".join(body.decode("utf-8", "replace") for body in self._server.raw)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
