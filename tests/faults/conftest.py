# SPDX-License-Identifier: GPL-3.0-or-later
"""The fault suite's set-up: the whole mascot against the reference backend, a watch on the
GUI event loop, short network timeouts, and the evidence every test leaves behind.

Every test here runs with ``COMPANION_CONNECT_TIMEOUT``/``COMPANION_READ_TIMEOUT`` of 1 s and a
``COMPANION_REQUEST_DEADLINE`` of 2 s (see ``companion/backend/client.py``), so a server that
hangs or drips costs seconds, not minutes. Every log line (the app's threads, DEBUG and up),
every recorded crash-report envelope, every file left in the test's config dir and every
secret it used (the token, the reply texts) is kept in :data:`EVIDENCE`, which
:mod:`tests.faults.secrets_check` searches at the end of the session.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QElapsedTimer, QObject, Qt, QTimer, Slot
from pytestqt.qtbot import QtBot

from companion.app import AppOptions, Companion, ensure_qapp
from companion.backend.errors import BackendApiError, ProtocolError, Transient
from tests.faults.ingest import Ingest
from tests.support.fixtures import RecordingTransport
from tests.support.reference_backend import ReferenceBackend, encode

# WORKAROUND for the offscreen platform: Qt raises Tool windows when they are shown (and
# propagates size hints for dialogs), and the offscreen plugin answers each with a warning
# (QPlatformWindow defaults, qtbase src/gui/kernel/qplatformwindow.cpp). Real platforms do not.
QT_OFFSCREEN_NOISE = r"This plugin does not support (raise|propagateSizeHints)"

SPEECH = "/openai/v1/audio/speech"
CHAT = "/openai/v1/chat/completions"
SHORT_TIMEOUTS = {
    "COMPANION_CONNECT_TIMEOUT": "1",
    "COMPANION_READ_TIMEOUT": "1",
    "COMPANION_REQUEST_DEADLINE": "2",
}
#: The longest the GUI event loop may stall while a fault plays out (a frame is 16 ms; this
#: is a generous bound for a loaded two-core CI machine, and the figure is printed).
MAX_LOOP_GAP_MS = 250.0

#: Every fault, by name. The status table (companion/backend/policy.py) decides what each
#: becomes: all are ``Transient`` (logged as warnings, never reported) except undecodable or
#: unparseable 2xx bodies, which are ``ProtocolError`` (one crash report each).
FAULTS = (
    "hang",
    "drip",
    "reset",
    "cut_short",
    "corrupt",
    "html_502",
    "429",
    "refused",
    "dns",
    "tls",
)
CONNECTION_FAULTS = ("refused", "dns", "tls")
#: Nobody answers at the address: speech hands over to the built-in voice (speech/fallback.py),
#: so these fail chat and sign-in only; ``test_faults_unreachable.py`` covers speech.
UNREACHABLE_FAULTS = ("refused", "dns")
SPEECH_FAULTS = tuple(f for f in FAULTS if f not in UNREACHABLE_FAULTS)
EXPECTED_ERROR: dict[str, type[BackendApiError]] = {
    name: ProtocolError if name == "corrupt" else Transient for name in FAULTS
}


def expected_reports(fault: str) -> int:
    return 1 if EXPECTED_ERROR[fault] is ProtocolError else 0


def result_line(place: str, fault: str, *, reports: int, gap_ms: float | None = None) -> None:
    """One machine-readable line per fault tried (``benchmarks/reliability.py`` sums them)."""
    gap = "" if gap_ms is None else f" gap_ms={gap_ms:.0f}"
    print(
        f"\n[faults] result place={place} fault={fault} reports={reports} "
        f"expected={expected_reports(fault)}{gap}"
    )


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then closed: connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bad_url(fault: str, backend: ReferenceBackend) -> str:
    """The backend address that produces a connection fault."""
    if fault == "refused":
        return f"http://127.0.0.1:{closed_port()}"
    if fault == "dns":
        return "http://companion-test.invalid"
    if fault == "tls":
        return f"https://127.0.0.1:{backend.port}"  # TLS to a plain-HTTP port
    raise ValueError(fault)


# --- evidence -------------------------------------------------------------------------------


@dataclass
class Evidence:
    """What the fault suite produced, for the secrets test.

    Attributes:
        secrets: tokens and reply texts used (none may appear in ``items``).
        items: ``(where, text)``: log lines, envelopes, files, process output.
        chat_texts: chat questions and replies (kept in conversation.json by design).
        tests: how many tests contributed.
    """

    secrets: set[str] = field(default_factory=set)
    chat_texts: set[str] = field(default_factory=set)
    items: list[tuple[str, str]] = field(default_factory=list)
    tests: int = 0
    envelopes: int = 0

    def secret(self, text: str) -> str:
        self.secrets.add(text)
        return text

    def add(self, where: str, text: str) -> None:
        self.items.append((where, text))


EVIDENCE = Evidence()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The secrets check, after the last test whatever the order."""
    from tests.faults.secrets_check import finish

    finish(session, EVIDENCE)


_SERVER_SIDE = threading.local()
#: What every log record has; anything else was passed with ``extra=`` (and is kept).
_STANDARD = {*logging.makeLogRecord({}).__dict__, "message", "asctime", "taskName"}


def presynthesize(text: str, fmt: str) -> str:
    """Have the reference backend make ``text``'s speech now (the tests' deadlines are short);
    its Piper logs the text it speaks, which is the server's doing, not the app's: those
    lines stay out of the evidence. Returns ``text``, a secret from now on."""
    EVIDENCE.secret(text)
    _SERVER_SIDE.active = True
    try:
        encode(text, fmt)
    finally:
        _SERVER_SIDE.active = False
    return text


class _AllLines(logging.Handler):
    """Every record of the app's threads (not the reference server's, whose Piper logs)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(threadName)s %(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if (record.threadName or "").startswith(("reference-backend", "test-browser")):
            return
        if getattr(_SERVER_SIDE, "active", False):
            return  # presynthesize(): the reference server's work, in this thread
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        self.lines.append(f"{self.format(record)} {extra!r}" if extra else self.format(record))

    def records_at(self, level: int) -> list[str]:
        return [line for line in self.lines if f" {logging.getLevelName(level)} " in line]


@pytest.fixture
def all_lines() -> Iterator[_AllLines]:
    root = logging.getLogger()
    handler = _AllLines()
    old = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


@pytest.fixture(autouse=True)
def _evidence(
    request: pytest.FixtureRequest,
    all_lines: _AllLines,
    _private_config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Evidence]:
    """Short timeouts for every client; afterwards, keep what the test produced."""
    for key, value in SHORT_TIMEOUTS.items():
        monkeypatch.setenv(key, value)
    yield EVIDENCE
    EVIDENCE.tests += 1
    values: dict[str, Any] = getattr(request.node, "funcargs", None) or {}
    backend = values.get("reference_backend")
    if isinstance(backend, ReferenceBackend):
        EVIDENCE.secret(backend.token)
        if backend.auth is not None:
            EVIDENCE.secrets.update(backend.auth.issued)
    ingest = values.get("ingest")
    if isinstance(ingest, Ingest):
        EVIDENCE.envelopes += len(ingest.envelopes())
        EVIDENCE.add(f"{request.node.nodeid} ingest", ingest.dump())
    transport = values.get("sentry_transport")
    if isinstance(transport, RecordingTransport):
        EVIDENCE.envelopes += len(transport.envelopes)
        EVIDENCE.add(f"{request.node.nodeid} envelopes", transport.dump())
    EVIDENCE.add(f"{request.node.nodeid} log", "\n".join(all_lines.lines))
    for path in sorted(_private_config_dir.rglob("*")) if _private_config_dir.exists() else []:
        relative = path.relative_to(_private_config_dir)
        if relative.parts[0] == "cache":
            continue  # derived data (the prepared voice model), not settings or state
        if path.is_file() and not path.is_symlink():
            EVIDENCE.add(f"file {relative}", _read(path))


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        return f"<unreadable: {type(exc).__name__}>"


@pytest.fixture
def ingest() -> Iterator[Ingest]:
    """A local Sentry ingest endpoint for processes under test (``ingest.dsn``)."""
    server = Ingest()
    yield server
    server.close()


# --- the event loop -------------------------------------------------------------------------


class LoopWatch(QObject):
    """The longest gap between the GUI event loop's turns, from a 5 ms precise timer."""

    def __init__(self) -> None:
        super().__init__()
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._tick)
        self._clock = QElapsedTimer()
        self.max_gap_ms = 0.0
        self.ticks = 0

    def start(self) -> LoopWatch:
        self._clock.start()
        self._timer.start()
        return self

    @Slot()
    def _tick(self) -> None:
        gap = float(self._clock.restart())
        self.ticks += 1
        self.max_gap_ms = max(self.max_gap_ms, gap)

    def stop(self) -> float:
        self._timer.stop()
        return self.max_gap_ms


@pytest.fixture
def loop_watch() -> Iterator[LoopWatch]:
    """Started by the test once the app is built (building it blocks the loop by design)."""
    watch = LoopWatch()
    yield watch
    watch.stop()


# --- the mascot -----------------------------------------------------------------------------


class BubbleSpy:
    """Every message the mascot's bubble was asked to show (text, kind, action)."""

    def __init__(self, app: Companion) -> None:
        self.messages: list[tuple[str, str, str | None]] = []
        bubble = app.window.bubble
        real = bubble.show_message

        def show_message(text: str, *, kind: str = "info", action: str | None = None) -> None:
            self.messages.append((text, kind, action))
            real(text, kind=kind, action=action)

        bubble.show_message = show_message  # type: ignore[method-assign]

    def errors(self) -> list[tuple[str, str | None]]:
        return [(text, action) for text, kind, action in self.messages if kind == "error"]


@dataclass
class Mascot:
    app: Companion
    bubble: BubbleSpy
    finished: list[int] = field(default_factory=list)
    failed: list[Any] = field(default_factory=list)
    started: list[int] = field(default_factory=list)


@pytest.fixture
def make_mascot(
    qtbot: QtBot, _private_config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Mascot]]:
    """The whole app (menu, window, router, worker threads, player, session, chat), built as
    ``companion`` builds it, offscreen, with no IPC, signal handlers or greeting."""
    made: list[Companion] = []

    def make(
        *, token: str | None = None, wait_engine: bool = True, ipc: bool = False, **settings: Any
    ) -> Mascot:
        _private_config_dir.mkdir(parents=True, exist_ok=True)
        values = {"greeted": True, "queue_mode": "queue", **settings}
        (_private_config_dir / "settings.json").write_text(json.dumps(values))
        if token is not None:
            monkeypatch.setenv("COMPANION_TOKEN", token)
        options = AppOptions(signals=False, telemetry=False, greet=False, ipc=ipc)
        app = Companion(qapp=ensure_qapp(), options=options)
        qtbot.add_widget(app.window)
        made.append(app)
        mascot = Mascot(app, BubbleSpy(app))
        app.router.reply_finished.connect(mascot.finished.append)
        app.router.reply_failed.connect(mascot.failed.append)
        app.router.reply_started.connect(mascot.started.append)
        assert app.start()
        if wait_engine:
            qtbot.wait_until(lambda: bool(app.engine_name), timeout=30000)
        return mascot

    yield make
    for app in made:
        app.shutdown()
        assert not app.speech_thread.isRunning() and not app.chat_thread.isRunning()


def no_thread_crashed() -> None:
    """Threads the app started are all still alive or ended cleanly (checked by pytest's
    threadexception plugin as an error); here: none is stuck in a request."""
    stuck = [t.name for t in threading.enumerate() if t.name.startswith("companion-backend")]
    assert len(stuck) <= 4, stuck


def envelopes_events(transport: RecordingTransport) -> list[dict[str, Any]]:
    return transport.events


def env_without_companion(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPANION_")}
    for key in ("COMPANION_TEST_PULSE", *SHORT_TIMEOUTS):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra)
    return env
