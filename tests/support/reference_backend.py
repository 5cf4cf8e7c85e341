# SPDX-License-Identifier: GPL-3.0-or-later
"""A reference backend: a real HTTP server on 127.0.0.1 that speaks the Companion contract and,
on its ``/v1`` face, behaves like OpenAI's API (the ``openai`` SDK is its client in
``tests/unit/support/test_reference_openai.py``).

Speech (:mod:`tests.support.reference_speech`, :mod:`tests.support.reference_audio`): Piper's
``joe`` voice in every ``response_format`` the SDK lists, raw PCM labelled as real servers
label it, formats refused or no speech route on request, raw or JSON with visemes. Errors on
``/v1`` paths are OpenAI's ``{"error": {…}}`` (:mod:`tests.support.reference_errors`);
``GET /v1/models`` lists models; a speech 429 carries ``Retry-After``.

Faults are queued with :meth:`ReferenceBackend.inject` and consumed by the next matching
requests: any status, a hang, a stall mid-body, a slow drip, a body cut short, a connection
reset, corrupt audio. Usage::

    with ReferenceBackend() as backend:
        client = BackendClient(base_url=backend.url, token=lambda: backend.token)

:meth:`stop` shuts every open connection and joins every thread it started.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import secrets
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Any

from tests.support.reference_audio import FORMATS as FORMATS
from tests.support.reference_audio import OPENAI_FORMATS as OPENAI_FORMATS
from tests.support.reference_audio import PCM_RATE as PCM_RATE
from tests.support.reference_audio import PCM_STYLES as PCM_STYLES
from tests.support.reference_audio import PIPER_RATE as PIPER_RATE
from tests.support.reference_audio import corrupt as corrupt
from tests.support.reference_audio import encode as encode
from tests.support.reference_audio import synthesize as synthesize
from tests.support.reference_errors import BUDGET_MESSAGE as BUDGET_MESSAGE
from tests.support.reference_errors import HTML_ERROR_PAGE as HTML_ERROR_PAGE
from tests.support.reference_errors import (
    Fault,
    fault_body,
    fault_headers,
    is_openai_path,
    openai_status_error,
)
from tests.support.reference_speech import (
    MODELS_PATHS,
    SpeechConfig,
    answer_models,
    answer_speech,
    unknown_model,
)
from tests.support.reference_speech import JsonStyle as JsonStyle

_MESSAGE_PATH = re.compile(r"^/channels/([^/]+)/messages/([^/]+)/?$")
SPEECH_PATHS = ("/openai/v1/audio/speech", "/v1/audio/speech")
#: What ``GET /v1/models`` lists by default (speech and chat models).
DEFAULT_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini", "reference")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    at: float = field(default_factory=time.monotonic)  # when it arrived


# --- server ----------------------------------------------------------------------------
class _Server(ThreadingMixIn, HTTPServer):
    daemon_threads = False  # server_close() joins every handler thread
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, backend: ReferenceBackend) -> None:
        self.backend = backend
        self.handlers: list[threading.Thread] = []
        super().__init__((backend.host, 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """One named thread per connection, remembered so :meth:`stop` can join it."""
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="reference-backend-conn",
        )
        self.handlers = [t for t in self.handlers if t.is_alive()]
        self.handlers.append(thread)
        thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up or reset are part of the tests; anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Abort(Exception):
    """The handler gave up on this connection (reset, stop, client gone)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    fault: Fault | None = None  # the fault applied to the request being answered

    def setup(self) -> None:
        super().setup()
        self.server.backend._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.backend._closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # base signature
        """Quiet: tests read ``backend.requests`` instead."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # --- dispatch ----------------------------------------------------------------------
    def _dispatch(self) -> None:
        backend = self.server.backend
        try:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                doc = json.loads(raw) if raw else None
            except ValueError:
                doc = None
            path = self.path.split("?", 1)[0]
            backend._record(
                RecordedRequest(self.command, path, {k: v for k, v in self.headers.items()}, doc)
            )
            fault = backend._take_fault(path, raw)
            self.fault = fault
            if fault is not None and self._pre_fault(fault):
                return
            if backend.auth is not None and backend.auth.handle(self, path, doc):
                return  # sign-in routes (tests/support/reference_auth.py)
            if path != "/auth/login-token/consume" and not backend._authorized(
                self.headers.get("Authorization")
            ):
                self._unauthorized(path)
                return
            route = backend.routes.get((self.command, path))
            if route is not None:
                if not unknown_model(self, doc):
                    route(self, doc, fault)
            elif path in SPEECH_PATHS and self.command == "POST":
                answer_speech(self, doc if isinstance(doc, dict) else {}, fault)
            elif self.command == "GET" and (
                path in MODELS_PATHS or path.rstrip("/").rsplit("/", 1)[0] in MODELS_PATHS
            ):
                answer_models(self, path)
            elif path == "/auth/me":
                self._json(200, {"success": True, "data": dict(backend.user)})
            elif path == "/auth/login-token/consume":
                self._consume(doc)
            elif m := _MESSAGE_PATH.match(path):
                message = backend.messages.get((m[1], m[2]))
                if message is None:
                    self._json(404, {"success": False, "message": "Message not found"})
                else:
                    self._json(200, {"success": True, "data": message})
            else:
                data = {"method": self.command, "path": path}
                self._json(200, {"success": True, "data": data})
        except (_Abort, OSError):
            self.close_connection = True

    def _pre_fault(self, fault: Fault) -> bool:
        """Apply the parts of a fault that replace the answer; True when handled."""
        backend = self.server.backend
        if fault.hang is not None:
            backend._wait(fault.hang)
            if backend.stopping or math.isinf(fault.hang):
                raise _Abort()
        if fault.reset:
            self._reset()
        if fault.status is not None:
            path = self.path.split("?", 1)[0]
            body, ctype = fault_body(fault, path)
            self._send(fault.status, body, ctype, fault_headers(fault, path), fault=fault)
            return True
        return False

    def _unauthorized(self, path: str) -> None:
        if is_openai_path(path):
            self._json(401, openai_status_error(401))
        else:
            self._json(401, {"success": False, "message": "Unauthorized"})

    def _reset(self) -> None:
        """Close with SO_LINGER 0: the client sees ECONNRESET."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        raise _Abort()

    def _consume(self, doc: Any) -> None:
        backend = self.server.backend
        token = doc.get("token") if isinstance(doc, dict) else None
        if isinstance(token, str) and backend.login_tokens.pop(token, None) is not None:
            self._json(200, {"success": True, "data": {"jwt": backend.token}})
        else:
            self._json(401, {"success": False, "message": "Unknown or used login token"})

    def _json(self, status: int, doc: Any) -> None:
        self._send(status, json.dumps(doc).encode(), "application/json", {}, fault=self.fault)

    # --- writing -------------------------------------------------------------------------
    def _send(
        self,
        status: int,
        body: bytes,
        ctype: str,
        headers: dict[str, str],
        *,
        fault: Fault | None,
        chunked: bool = False,
    ) -> None:
        backend = self.server.backend
        cfg = backend.speech
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for key, value in headers.items():
            self.send_header(key, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        if fault is not None and fault.cut_short:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if fault is not None and fault.reset_after is not None:
            self._write(body[: fault.reset_after], chunked)
            self._reset()
        if fault is not None and fault.stall_after is not None:
            self._write(body[: fault.stall_after], chunked)
            backend._wait(math.inf)
            raise _Abort()
        if fault is not None and fault.drip is not None:
            for i in range(len(body)):
                self._write(body[i : i + 1], chunked)
                if backend._wait(fault.drip):
                    raise _Abort()
        else:
            size = max(1, cfg.chunk_size)
            for i, start in enumerate(range(0, len(body), size)):
                self._write(body[start : start + size], chunked)
                if i == 0 and cfg.gate is not None:
                    while not cfg.gate.wait(0.05):
                        if backend.stopping:
                            raise _Abort()
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _write(self, data: bytes, chunked: bool) -> None:
        if not data:
            return
        if chunked:
            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        else:
            self.wfile.write(data)
        self.wfile.flush()


class ReferenceBackend:
    """The server and its knobs.

    Attributes:
        url: base URL of the Companion backend (``http://127.0.0.1:<port>``).
        host: the address it listens on (127.0.0.1 unless another is asked for).
        openai_url: base URL of the OpenAI-compatible face (``…/v1``).
        token: the bearer token it accepts.
        require_auth: when False, any (or no) token is accepted.
        speech: how speech is answered (:class:`SpeechConfig`).
        user: what ``/auth/me`` returns.
        messages: ``(provider, id) → message`` for ``/channels/<p>/messages/<id>``.
        login_tokens: one-time tokens ``/auth/login-token/consume`` accepts.
        requests: every request received (method, path, headers, JSON body).
        connections: how many TCP connections were accepted.
        routes: ``(method, path) → handler(request_handler, json, fault)`` answering extra
            paths after the token check (``tests/support/reference_chat.py`` adds chat).
        auth: sign-in, token lifetimes, revocation, rotation when a ``ReferenceAuth``
            (``tests/support/reference_auth.py``) is installed; None: ``token`` only.
        models: what ``GET /v1/models`` lists.
        strict_models: a request naming a model not in ``models`` is a 404
            ``model_not_found`` (off by default: tests name models freely).
    """

    def __init__(self, *, token: str | None = None, host: str = "127.0.0.1") -> None:
        self.token = token or f"tok-{secrets.token_hex(12)}"
        self.host = host
        self.require_auth = True
        self.speech = SpeechConfig()
        self.user: dict[str, Any] = {"id": "u-1", "name": "Test User"}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.login_tokens: dict[str, bool] = {}
        self.requests: list[RecordedRequest] = []
        self.connections = 0
        self.routes: dict[tuple[str, str], Any] = {}
        self.auth: Any = None  # a ReferenceAuth (tests/support/reference_auth.py), if installed
        self.models: list[str] = list(DEFAULT_MODELS)
        self.strict_models = False
        self.created = int(time.time())
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._open: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifetime ------------------------------------------------------------------------
    def start(self) -> ReferenceBackend:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="reference-backend",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut every open connection, join every thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stop.set()
        server.shutdown()
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        thread.join()
        for handler in server.handlers:
            handler.join()
        self._server = self._thread = None

    def __enter__(self) -> ReferenceBackend:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # --- knobs ---------------------------------------------------------------------------
    def inject(self, fault: Fault | None = None, /, **kwargs: Any) -> Fault:
        """Queue a fault (or build one from keyword arguments) for the next request(s)."""
        fault = fault or Fault(**kwargs)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def speech_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/audio/speech")]

    # --- used by the handler ---------------------------------------------------------------
    def _take_fault(self, path: str, body: bytes = b"") -> Fault | None:
        text = body.decode("utf-8", "replace")
        with self._lock:
            for fault in self._faults:
                if fault.path not in (None, path):
                    continue
                if fault.body_contains is None or fault.body_contains in text:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _authorized(self, header: str | None) -> bool:
        if self.require_auth and self.auth is not None:
            return bool(self.auth.authorized(header))
        return not self.require_auth or header == f"Bearer {self.token}"

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.add(conn)
            self.connections += 1

    def _closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.discard(conn)

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` (inf: until stop); True when stopping."""
        return self._stop.wait(None if math.isinf(seconds) else seconds)
