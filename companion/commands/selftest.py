# SPDX-License-Identifier: GPL-3.0-or-later
"""``companion --self-test``: open the mascot, speak one sentence, check the mouth, one line out.

Uses the embedded voice (never the backend) and the default output, or the silent clock when
there is no audio output. Checks that the mouth moved while speaking, came back to rest, the
animation timer stopped, and that nothing logged a warning (Python logging or Qt). Exits 0 with
``companion self-test: ok ...`` or 1 with ``companion self-test: FAILED: <reason>``; bounded by
:data:`TIMEOUT_S`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from PySide6.QtCore import QMessageLogContext, QTimer, QtMsgType, qInstallMessageHandler

from companion import config
from companion.config import Settings
from companion.vocab import ReplySource

log = logging.getLogger("companion.selftest")

SENTENCE = "Hello! I am Companion, and my mouth moves with my voice."
TIMEOUT_S = float(os.environ.get("COMPANION_SELFTEST_TIMEOUT", "90"))


class _WarningLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


def _needs_offscreen() -> bool:
    if os.environ.get("QT_QPA_PLATFORM"):
        return False
    no_display = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return sys.platform.startswith("linux") and no_display


def run_self_test() -> int:
    started = time.monotonic()
    if _needs_offscreen():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    warnings = _WarningLog()
    root = logging.getLogger()
    root.addHandler(warnings)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    qt_warnings: list[str] = []
    ignored: list[str] = []

    def qt_handler(mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
        if mode in (QtMsgType.QtDebugMsg, QtMsgType.QtInfoMsg):
            log.debug("[selftest] qt: %s", message)
            return
        # A headless platform saying what it cannot do (Qt raises a Tool window as it is
        # shown; the offscreen plugin cannot): counted apart, not a fault, not printed.
        if message.startswith("This plugin does not support"):
            ignored.append(message)
            return
        print(f"qt: {message}", file=sys.stderr)
        qt_warnings.append(message)

    previous = qInstallMessageHandler(qt_handler)
    try:
        ok, line = _run(started, warnings.records, qt_warnings)
        if ok and ignored:
            counted = f"0 warnings ({len(ignored)} headless-platform notice(s) ignored);"
            line = line.replace("0 warnings;", counted)
    except Exception as exc:  # the self-test reports, it does not crash
        ok, line = False, f"{type(exc).__name__}: {exc}"
    finally:
        qInstallMessageHandler(previous)
        root.removeHandler(warnings)
    print(f"companion self-test: {'ok' if ok else 'FAILED'}: {line}", flush=True)
    return 0 if ok else 1


def _run(started: float, warnings: list[str], qt_warnings: list[str]) -> tuple[bool, str]:
    from companion.app import AppOptions, Companion, ensure_qapp

    qapp = ensure_qapp()
    settings = Settings()  # defaults: the embedded voice, the default output
    options = AppOptions(
        ipc=False, greet=False, save=False, signals=False, telemetry=False, embedded_voice=True
    )
    companion = Companion(
        qapp=qapp, options=options, settings_loader=lambda: config.LoadResult(settings)
    )
    result: dict[str, Any] = {"reason": None, "done": False}
    mouths: list[tuple[str, float]] = []
    engine: list[str] = []
    spoken_ms: list[float] = []

    def fail(reason: str) -> None:
        if result["reason"] is None and not result["done"]:
            result["reason"] = reason
            qapp.exit(1)

    def on_finished(reply_id: int) -> None:
        reply = companion.router.last_reply
        if reply is not None:
            spoken_ms.append(reply.total_ms)
        # Give the mascot a moment to settle (release smoothing, timer stop), then judge.
        QTimer.singleShot(300, judge)

    def judge() -> None:
        view = companion.window.view
        if not any(openness > 0.05 for _, openness in mouths):
            fail("the mouth never moved while speaking")
            return
        mouth = view.current_mouth()
        if mouth.openness > 0.0 or mouth.viseme != "sil":
            fail(f"the mouth did not come back to rest ({mouth.viseme} {mouth.openness:.2f})")
            return
        if view.animating:
            # A blink may be running; look again shortly (bounded by the overall timeout).
            QTimer.singleShot(200, judge)
            return
        result["done"] = True
        qapp.exit(0)

    companion.window.view.mouth_changed.connect(lambda v, o: mouths.append((v, float(o))))
    companion.worker.engine_ready.connect(engine.append)
    companion.router.reply_finished.connect(on_finished)
    companion.router.reply_failed.connect(
        lambda f: fail(f"speech failed: {type(f.error).__name__}: {f.user_message}")
    )
    companion.session_flow.sign_in_needed.connect(lambda _e: fail("the voice asked for sign-in"))
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(lambda: fail(f"timed out after {TIMEOUT_S:.0f} s"))
    deadline.start(int(TIMEOUT_S * 1000))

    companion.start()
    QTimer.singleShot(
        0, lambda: companion.router.say(SENTENCE, source=ReplySource.SELF_TEST, force=True)
    )
    qapp.exec()
    deadline.stop()
    player = companion.player
    output = "silent clock (no audio output)" if player.silent else "default output"
    companion.shutdown()

    if result["reason"] is not None:
        return False, str(result["reason"])
    problems = warnings + qt_warnings
    if problems:
        return False, f"{len(problems)} warning(s) logged, first: {problems[0][:200]}"
    moves = sum(1 for _, o in mouths if o > 0.05)
    return True, (
        f"{engine[0] if engine else '?'} voice, {(spoken_ms[0] if spoken_ms else 0) / 1000:.1f} s "
        f"spoken to the {output}; mouth moved ({moves} shapes) and came back to rest; "
        f"0 warnings; {time.monotonic() - started:.1f} s"
    )
