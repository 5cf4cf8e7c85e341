# SPDX-License-Identifier: GPL-3.0-or-later
"""A chat server on 127.0.0.1 that floods: every ``POST`` is answered with a streamed chat
completion of ``text`` in deltas of ``delta_chars`` characters, written as fast as the socket
takes them (the events made once, sent in 64 KiB writes), then ``[DONE]``; with ``endless``
the text is sent again and again until the client hangs up. Any ``GET`` answers an empty
JSON object (a server that knows nothing else).

Usage::

    with FloodServer(prose(31_000)) as server:
        ... server.url ...
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

_PHRASE = "the voice reads what the model writes while a long answer keeps arriving"
_WORDS = _PHRASE.split(" ")


def prose(size: int, *, seed: int = 17, paragraphs: bool = True) -> str:
    """``size`` characters of ordinary sentences (6 to 22 words), in paragraphs now and then
    (else one block, as a model that never breaks a line writes)."""
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < size:
        words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 22))]
        sentence = " ".join(words).capitalize() + rng.choice(".!?.") + " "
        if paragraphs and rng.random() < 0.08:
            sentence += "\n\n"
        parts.append(sentence)
        total += len(sentence)
    return "".join(parts)[:size]


def no_sentence_end(size: int, *, seed: int = 17) -> str:
    """``size`` characters of words with no full stop, no line break: one endless sentence."""
    rng = random.Random(seed)
    return " ".join(rng.choice(_WORDS) for _ in range(size // 3))[:size]


def events(text: str, delta_chars: int = 1) -> bytes:
    """``text`` as ``chat.completion.chunk`` events of ``delta_chars`` characters each."""
    out = []
    for i in range(0, len(text), delta_chars):
        doc = {"choices": [{"index": 0, "delta": {"content": text[i : i + delta_chars]}}]}
        out.append(f"data: {json.dumps(doc, separators=(',', ':'))}\n\n")
    return "".join(out).encode()


_DONE = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.posts += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        payload = self.server.payload
        with contextlib.suppress(OSError):
            while True:
                for i in range(0, len(payload), 65536):
                    self.wfile.write(payload[i : i + 65536])
                if not self.server.endless or self.server.stopping.is_set():
                    break
            self.wfile.write(_DONE)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    payload: bytes
    endless: bool
    posts: int
    stopping: threading.Event


class FloodServer:
    """The server, on a free port of 127.0.0.1, in a thread of its own.

    Attributes:
        url: its base URL.
    """

    def __init__(self, text: str, *, delta_chars: int = 1, endless: bool = False) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.payload = events(text, delta_chars)
        self._server.endless = endless
        self._server.posts = 0
        self._server.stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="flood-server", daemon=True
        )
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"

    @property
    def posts(self) -> int:
        """Chat requests answered so far."""
        return self._server.posts

    def __enter__(self) -> FloodServer:
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
