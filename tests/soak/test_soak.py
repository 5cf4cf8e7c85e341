# SPDX-License-Identifier: GPL-3.0-or-later
"""Soak: many replies through the whole mascot with random faults, interruptions, mutes, stops,
sign-outs and chat questions; nothing may grow (memory, threads, file descriptors, Qt objects),
no Qt warning may appear, and a quit at a random moment always ends cleanly within a second.

``test_soak_short`` (30 replies) runs with the default tests; ``test_soak_full`` (1,000
replies, marker ``slow``) with ``pytest -m slow tests/soak``. Both print the before/after
figures. The app speaks with the remote engine against the reference backend (real HTTP on
127.0.0.1, a handful of replies, so the server's Piper synthesises each once), offscreen, with
the short network timeouts of the fault suite.
"""

from __future__ import annotations

import faulthandler
import gc
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QObject
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from companion.app import AppOptions, Companion, ensure_qapp
from tests.support.fixtures import RecordingTransport
from tests.support.reference_backend import Fault, ReferenceBackend, encode
from tests.support.reference_chat import install_chat

# WORKAROUND for the offscreen platform: Qt raises Tool windows when they are shown (and
# propagates size hints for dialogs), and the offscreen plugin answers each with a warning
# (QPlatformWindow defaults, qtbase src/gui/kernel/qplatformwindow.cpp). Real platforms do not.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (raise|propagateSizeHints)")

ROOT = Path(__file__).resolve().parents[2]
SPEECH = "/openai/v1/audio/speech"
TEXTS = ("Hi.", "Okay.", "Got it.", "Sure thing.", "All done.", "One moment.")
CHAT_REPLY = "Noted. Bye."
TIMEOUTS = {
    "COMPANION_CONNECT_TIMEOUT": "1",
    "COMPANION_READ_TIMEOUT": "1",
    "COMPANION_REQUEST_DEADLINE": "2",
}
#: The full soak's watchdog: a stack dump only if it hangs this long.
SOAK_WATCHDOG_S = 45 * 60
#: Faults the status table reports (HttpError, ProtocolError); the others are Transient.
REPORTED = ("500", "corrupt")
#: A speech fault for each kind the fault suite tries (a reply meets it, then it is cleared).
FAULTS: dict[str, Callable[[], Fault]] = {
    # Finite: the server's thread gives up after the client did, so it is no "growth".
    "hang": lambda: Fault(hang=3.0, path=SPEECH, times=3),
    "drip": lambda: Fault(drip=1.0, path=SPEECH, times=1),
    "reset": lambda: Fault(reset_after=512, path=SPEECH, times=1),
    "cut_short": lambda: Fault(cut_short=True, path=SPEECH, times=1),
    "corrupt": lambda: Fault(corrupt=True, path=SPEECH, times=1),
    "html_502": lambda: Fault(status=502, body="html", path=SPEECH, times=3),
    "429": lambda: Fault(status=429, retry_after="0.2", path=SPEECH, times=3),
    "500": lambda: Fault(status=500, path=SPEECH, times=1),
}
STEPS = {
    "reply": 30,
    "interrupt": 15,
    "fault": 15,
    "mute": 8,
    "stop": 8,
    "sign_out": 6,
    "chat": 8,
    "queue": 10,
}


@dataclass
class Figures:
    """What must not grow."""

    rss_mb: float
    traced_mb: float
    py_threads: int
    os_threads: int
    fds: int
    qobject_wrappers: int
    qt_children: int
    widgets: int
    thread_names: Counter[str] = field(default_factory=Counter, repr=False)
    wrapper_types: Counter[str] = field(default_factory=Counter, repr=False)
    snapshot: tracemalloc.Snapshot | None = field(default=None, repr=False)
    fd_kinds: Counter[str] = field(default_factory=Counter, repr=False)

    def numbers(self) -> dict[str, float]:
        return {
            "rss_mb": round(self.rss_mb, 1),
            "traced_mb": round(self.traced_mb, 2),
            "py_threads": self.py_threads,
            "os_threads": self.os_threads,
            "fds": self.fds,
            "qobject_wrappers": self.qobject_wrappers,
            "qt_children": self.qt_children,
            "widgets": self.widgets,
        }

    def diff(self, later: Figures) -> str:
        """What there is more of in ``later`` (threads, QObject types, the lines that
        allocated most), for diagnosis."""
        threads = later.thread_names - self.thread_names
        types = later.wrapper_types - self.wrapper_types
        grown = ""
        if self.snapshot is not None and later.snapshot is not None:
            top = later.snapshot.compare_to(self.snapshot, "lineno")[:5]
            grown = "; ".join(f"{s.traceback[0]}: {s.size_diff / 1e3:+.0f} kB" for s in top)
        fds = later.fd_kinds - self.fd_kinds
        return (
            f"more threads {dict(threads)}, more fds {dict(fds)}, more QObjects {dict(types)}; "
            f"grew: {grown}"
        )

    def row(self) -> str:
        return (
            f"RSS {self.rss_mb:.1f} MB, traced {self.traced_mb:.2f} MB, threads "
            f"{self.py_threads} Python / {self.os_threads} OS, {self.fds} fds, "
            f"{self.qobject_wrappers} QObject wrappers, {self.qt_children} Qt children, "
            f"{self.widgets} widgets"
        )


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


#: Allocations that are not the app's: the test harness and the reference server's records.
_NOT_THE_APP = (
    tracemalloc.Filter(False, "*/tests/support/*", all_frames=True),
    tracemalloc.Filter(False, "*/_pytest/*"),
    tracemalloc.Filter(False, "*/pytestqt/*"),
    tracemalloc.Filter(False, "*/logging/__init__.py"),
    tracemalloc.Filter(False, tracemalloc.__file__),
)


def _traced() -> tracemalloc.Snapshot | None:
    if not tracemalloc.is_tracing():
        return None
    return tracemalloc.take_snapshot().filter_traces(_NOT_THE_APP)


def _fd_kinds() -> Counter[str]:
    kinds: Counter[str] = Counter()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        kinds[target.split(":", 1)[0] if ":" in target else target] += 1
    return kinds


def _server_threads() -> int:
    """The reference backend's connection threads (the test's server, not the app)."""
    return sum(1 for t in threading.enumerate() if t.name.startswith("reference-backend"))


def figures(app: Companion, qtbot: QtBot) -> Figures:
    """Once the player's idle stream has closed (it stays open a few seconds after a reply,
    with its threads, pipes and socket), after a collection and the deferred deletes: what the
    process holds (the reference server's threads and records left out: they are the test's,
    not the app's)."""
    qtbot.wait_until(lambda: not app.player.stream_open, timeout=15000)
    for _ in range(3):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QCoreApplication.processEvents()
        gc.collect()
    qapp = QApplication.instance()
    assert qapp is not None
    # First: listing Qt's objects gives each a Python wrapper, which the count below would
    # otherwise see appear between the two figures.
    children = len(app.findChildren(QObject)) + len(qapp.findChildren(QObject))
    widgets = len(QApplication.allWidgets())
    gc.collect()
    wrapper_types = Counter(
        type(obj).__name__ for obj in gc.get_objects() if isinstance(obj, QObject)
    )
    names = Counter(t.name.rstrip("0123456789-") for t in threading.enumerate())
    snapshot = _traced()
    traced = sum(s.size for s in snapshot.statistics("filename")) if snapshot else 0
    server = _server_threads()
    return Figures(
        # Last: counting objects and snapshots take memory of their own, in both figures alike.
        rss_mb=_rss_mb(),
        traced_mb=traced / 1e6,
        # Not counted: the records CPython keeps of foreign threads (PortAudio's) it has seen.
        py_threads=threading.active_count() - server - names["Dummy"],
        os_threads=len(os.listdir("/proc/self/task")) - server,
        fds=len(os.listdir("/proc/self/fd")),
        qobject_wrappers=sum(wrapper_types.values()),
        qt_children=children,
        widgets=widgets,
        thread_names=names,
        wrapper_types=wrapper_types,
        snapshot=snapshot,
        fd_kinds=_fd_kinds(),
    )


@dataclass
class Soak:
    """One mascot, driven at random."""

    qtbot: QtBot
    app: Companion
    backend: ReferenceBackend
    rng: random.Random
    replies: int = 0
    expected_reports: int = 0  # what the status table says the faults met must send
    outcomes: Counter[str] = field(default_factory=Counter)
    finished: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app.router.reply_finished.connect(self.finished.append)
        self.app.router.reply_failed.connect(lambda f: self.failed.append(f.reply_id))

    # -- waiting ---------------------------------------------------------------------------

    def settled(self) -> bool:
        a = self.app
        return (
            not a.router.busy
            and not a.chat.busy
            and a.session_flow.dialog is None
            and a.worker.busy_reply is None  # no cancelled reply still in a request
            and a.chat_worker.busy_request is None
        )

    def wait_settled(self, timeout_ms: int = 30000) -> None:
        self.qtbot.wait_until(self.settled, timeout=timeout_ms)

    def say(self, text: str | None = None) -> int:
        rid = self.app.router.say(text or self.rng.choice(TEXTS), force=True)
        assert rid is not None
        self.replies += 1
        return rid

    def ended(self, rid: int) -> bool:
        return rid in self.finished or rid in self.failed

    def note(self, rid: int) -> None:
        self.outcomes["finished" if rid in self.finished else "failed"] += 1

    # -- steps -------------------------------------------------------------------------------

    def step(self, kind: str) -> None:
        getattr(self, f"_{kind}")()
        self.wait_settled()

    def _reply(self) -> None:
        rid = self.say()
        self.qtbot.wait_until(lambda: self.ended(rid), timeout=30000)
        self.note(rid)

    def _interrupt(self) -> None:
        first = self.say()
        self.qtbot.wait(self.rng.randint(0, 400))
        second = self.say()
        self.qtbot.wait_until(lambda: self.ended(second), timeout=30000)
        self.outcomes["interrupted"] += int(not self.ended(first))
        self.note(second)

    def _queue(self) -> None:
        self.app.settings.queue_mode = "queue"
        try:
            ids = [self.say() for _ in range(self.rng.randint(2, 3))]
            self.qtbot.wait_until(lambda: all(self.ended(r) for r in ids), timeout=60000)
            for rid in ids:
                self.note(rid)
        finally:
            self.app.settings.queue_mode = "interrupt"

    def _fault(self) -> None:
        name = self.rng.choice(sorted(FAULTS))
        self.backend.inject(FAULTS[name]())
        rid = self.say()
        self.qtbot.wait_until(lambda: self.ended(rid), timeout=30000)
        self.backend.clear_faults()
        self.outcomes[f"fault {name}"] += 1
        self.expected_reports += name in REPORTED
        self.note(rid)
        if rid in self.failed and self.rng.random() < 0.5:
            retried = self.app.router.retry()
            assert retried is not None
            self.replies += 1
            self.qtbot.wait_until(lambda: self.ended(retried), timeout=30000)
            self.note(retried)

    def _mute(self) -> None:
        mute = self.app.menu.actions["mute"]
        rid = self.say()
        self.qtbot.wait(self.rng.randint(0, 300))
        mute.trigger()  # muted mid-reply (or before it speaks)
        self.qtbot.wait_until(lambda: self.ended(rid), timeout=30000)
        mute.trigger()
        self.note(rid)

    def _stop(self) -> None:
        rid = self.say()
        self.qtbot.wait(self.rng.randint(0, 500))
        self.app.window.escape_pressed.emit()
        self.outcomes["stopped"] += int(not self.ended(rid))

    def _sign_out(self) -> None:
        flow = self.app.session_flow
        self.app.menu.actions["sign_out"].trigger()
        rid = self.say()  # the session is over: held, and one dialog asks
        self.qtbot.wait_until(lambda: flow.dialog is not None, timeout=20000)
        dialog = flow.dialog
        assert dialog is not None
        dialog.token_edit.setText(self.backend.token)
        dialog.token_button.click()
        self.qtbot.wait_until(lambda: flow.dialog is None, timeout=20000)
        self.qtbot.wait_until(lambda: not self.app.router.busy, timeout=30000)
        self.outcomes["signed out, held, signed in"] += 1
        assert self.app.router.last_reply is not None
        assert self.app.router.last_reply.text == self.app.router.last_reply.text.strip()
        _ = rid

    def _chat(self) -> None:
        chat = self.app.chat
        assert chat.ask(self.rng.choice(("Status?", "And now?", "Well?")))
        self.replies += 1
        self.qtbot.wait_until(lambda: not chat.busy, timeout=30000)
        self.outcomes[f"chat {chat.conversation.messages[-1].state}"] += 1
        if len(chat.conversation.messages) > 20:
            chat.clear()


def forget_requests(backend: ReferenceBackend) -> None:
    """The reference server records every request it saw (the test's memory, not the app's)."""
    with backend._lock:
        backend.requests.clear()
    install_chat(backend).requests.clear()


def build(qtbot: QtBot, backend: ReferenceBackend, config_dir: Path) -> Companion:
    config_dir.mkdir(parents=True, exist_ok=True)
    settings = {"backend_url": backend.url, "greeted": True, "queue_mode": "interrupt"}
    (config_dir / "settings.json").write_text(json.dumps(settings))
    options = AppOptions(signals=False, telemetry=False, greet=False, ipc=False)
    app = Companion(qapp=ensure_qapp(), options=options)
    qtbot.add_widget(app.window)
    assert app.start()
    qtbot.wait_until(lambda: bool(app.engine_name), timeout=30000)
    return app


@pytest.fixture
def soak_env(
    monkeypatch: pytest.MonkeyPatch, reference_backend: ReferenceBackend
) -> Iterator[None]:
    for key, value in TIMEOUTS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COMPANION_TOKEN", reference_backend.token)
    install_chat(reference_backend).script.reply = CHAT_REPLY
    reference_backend.speech.audio_format = "wav"  # corrupt bytes are no WAV (any are PCM)
    for text in TEXTS:
        encode(text, "pcm")  # the server's Piper once per text, before the clock starts
    yield


def run_soak(
    qtbot: QtBot,
    backend: ReferenceBackend,
    transport: RecordingTransport,
    config_dir: Path,
    *,
    replies: int,
    seed: int,
) -> tuple[Figures, Figures, Soak, float]:
    app = build(qtbot, backend, config_dir)
    soak = Soak(qtbot, app, backend, random.Random(seed))
    try:
        kinds = sorted(STEPS)
        weights = [STEPS[k] for k in kinds]
        for kind in kinds:  # warm-up: every path once, so first-use allocations are not growth
            soak.step(kind)
        tracemalloc.start(12)  # frames enough to tell the reference server's records apart
        forget_requests(backend)
        before = figures(app, qtbot)
        soak.replies = 0
        soak.outcomes.clear()
        started = time.monotonic()
        rss = [round(_rss_mb())]
        while soak.replies < replies:
            soak.step(soak.rng.choices(kinds, weights)[0])
            if soak.replies >= len(rss) * replies / 10:
                rss.append(round(_rss_mb()))  # the trend, every tenth of the way
        took = time.monotonic() - started
        backend.clear_faults()
        forget_requests(backend)
        after = figures(app, qtbot)
        tracemalloc.stop()
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        # A quit at a random moment: while a reply is on its way.
        soak.say()
        qtbot.wait(soak.rng.randint(0, 600))
        quit_started = time.monotonic()
        with qtbot.wait_signal(app.shut_down, timeout=5000):
            app.menu.actions["quit"].trigger()
        quit_s = time.monotonic() - quit_started
    assert not app.speech_thread.isRunning() and not app.chat_thread.isRunning()
    assert quit_s < 1.0, f"quit took {quit_s:.2f} s"
    assert len(transport.events) == soak.expected_reports  # exactly as the status table says
    print(
        f"\n[soak] {soak.replies} replies in {took:.0f} s; outcomes {dict(soak.outcomes)}; "
        f"{len(transport.events)} crash reports (the table says {soak.expected_reports}); "
        f"quit in {1000 * quit_s:.0f} ms; RSS every tenth: {rss} MB"
    )
    print(f"[soak] before: {before.row()}")
    print(f"[soak] after:  {after.row()}")
    print(f"[soak] {before.diff(after)}")
    print(
        "[soak] json "
        + json.dumps(
            {
                "replies": soak.replies,
                "seconds": round(took, 1),
                "reports": len(transport.events),
                "quit_ms": round(1000 * quit_s),
                "rss_trend_mb": rss,
                "before": before.numbers(),
                "after": after.numbers(),
            }
        )
    )
    check_rss_trend(rss)
    return before, after, soak, took


def check_rss_trend(trend: list[int]) -> None:
    """Resident memory levels off: the second half of the run adds little."""
    half = trend[len(trend) // 2 :]
    assert max(half) - half[0] <= 10, trend


def check_no_growth(before: Figures, after: Figures, replies: int) -> None:
    assert after.os_threads <= before.os_threads + 1, (before, after)
    assert after.py_threads <= before.py_threads + 1, (before, after)
    assert after.fds <= before.fds + 2, (before, after)
    assert after.widgets <= before.widgets, (before, after)
    assert after.qt_children <= before.qt_children + 2, (before, after)
    assert after.qobject_wrappers <= before.qobject_wrappers + 5, (before, after)
    # Python's own allocations: the caches in play (Sentry's 100 breadcrumbs, the reference
    # server's lru caches, the chat conversation capped at 20 messages) are bounded.
    assert after.traced_mb - before.traced_mb < 2.0 + replies * 0.002, (before, after)
    assert after.rss_mb - before.rss_mb < 30.0 + replies * 0.02, (before, after)


_IN_CHILD = "COMPANION_SOAK_IN_CHILD"


def test_soak_short() -> None:
    """The short soak, in a pytest process of its own.

    Its memory figures are the mascot's growth: in the suite's own process, the 1,200 tests
    before it leave 1.7 GB resident and that process's allocator moves by more than the whole
    budget (RSS +210 MB with Python's own allocations flat, seen in a full run), which says
    nothing about the mascot, a process of its own. The child runs the same checks.
    """
    env = {**os.environ, _IN_CHILD: "1"}
    node = f"{Path(__file__).relative_to(ROOT)}::test_soak_short_in_its_own_process"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            node,
            "-q",
            "-s",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    print("\n".join(line for line in done.stdout.splitlines() if line.startswith("[soak]")))
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout, done.stdout[-3000:]


@pytest.mark.skipif(
    not os.environ.get(_IN_CHILD), reason="run by test_soak_short in its own process"
)
def test_soak_short_in_its_own_process(
    qtbot: QtBot,
    reference_backend: ReferenceBackend,
    sentry_transport: RecordingTransport,
    soak_env: None,
    _private_config_dir: Path,
) -> None:
    replies = int(os.environ.get("COMPANION_SOAK_SHORT", "30"))
    before, after, soak, _ = run_soak(
        qtbot, reference_backend, sentry_transport, _private_config_dir, replies=replies, seed=7
    )
    check_no_growth(before, after, soak.replies)


@pytest.mark.slow
def test_soak_full(
    qtbot: QtBot,
    reference_backend: ReferenceBackend,
    sentry_transport: RecordingTransport,
    soak_env: None,
    _private_config_dir: Path,
) -> None:
    # The run takes about 15 minutes by design: pytest's faulthandler_timeout (120 s) would
    # dump every thread's stack mid-run, and faulthandler reading the frames of running
    # threads can crash the process (it did, in scrub_text). A longer watchdog instead.
    faulthandler.cancel_dump_traceback_later()
    faulthandler.dump_traceback_later(SOAK_WATCHDOG_S, exit=False)
    seed = int(os.environ.get("COMPANION_SOAK_SEED", "2026"))
    before, after, soak, _ = run_soak(
        qtbot, reference_backend, sentry_transport, _private_config_dir, replies=1000, seed=seed
    )
    check_no_growth(before, after, soak.replies)


# -- quitting at a random moment, as a process ---------------------------------------------------


def _wait_line(log: Path, needle: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while needle not in log.read_text():
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.02)  # another process: no Qt event loop to wait on here


@pytest.mark.parametrize("round_no", range(3))
def test_sigterm_at_a_random_moment_ends_cleanly_within_a_second(
    round_no: int,
    reference_backend: ReferenceBackend,
    soak_env: None,
    _private_config_dir: Path,
    tmp_path: Path,
) -> None:
    rng = random.Random(round_no)
    cfg = _private_config_dir
    cfg.mkdir(parents=True, exist_ok=True)
    settings = {"backend_url": reference_backend.url, "greeted": True}
    (cfg / "settings.json").write_text(json.dumps(settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPANION_")}
    env.update(
        COMPANION_CONFIG_DIR=str(cfg),
        COMPANION_TOKEN=reference_backend.token,
        QT_QPA_PLATFORM="offscreen",
        COMPANION_LOG_LEVEL="info",  # the soak reads the mascot's info lines
        PYTHONPATH=str(ROOT),
        **TIMEOUTS,
    )
    log = tmp_path / "mascot.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "companion"], env=env, cwd=ROOT,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:
        _wait_line(log, "[app] speech engine:", proc, 30)
        for _ in range(rng.randint(1, 3)):
            subprocess.run(
                [sys.executable, "-m", "companion", "say", rng.choice(TEXTS)],
                env=env, cwd=ROOT, check=True, timeout=30, capture_output=True,
            )  # fmt: skip
        time.sleep(rng.uniform(0.0, 1.0))  # a random moment: speaking, between, or idle
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    print(f"\n[soak] SIGTERM round {round_no}: exit {code} in {1000 * took:.0f} ms")
    assert code == 0, text[-3000:]
    assert took < 1.0
    assert "Traceback" not in text and "QThread: Destroyed" not in text
    assert "[app] shut down in" in text
