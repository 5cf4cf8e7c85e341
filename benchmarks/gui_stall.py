# SPDX-License-Identifier: GPL-3.0-or-later
"""Longest GUI event-loop stall while a long reply is synthesised. Goal: under 16 ms.

Run: ``.venv/bin/python benchmarks/gui_stall.py [--engine piper|espeak]``

A 1 ms precise timer on the GUI thread records the gap between its ticks while the mascot
speaks a long reply (synthesis in the speech thread, the player, lip-sync, subtitles: the real
app, offscreen, muted output not used). Baseline, in the same run: the same text synthesised
on the GUI thread (one piece per event-loop turn), as an app without the worker would.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["COMPANION_CONFIG_DIR"] = tempfile.mkdtemp(prefix="companion-bench-")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figure import figure
from PySide6.QtCore import QElapsedTimer, Qt, QTimer

from companion.app import AppOptions, Companion, ensure_qapp
from companion.speech.pipeline import SpeechPipeline
from companion.speech.types import CancelToken

TEXT = " ".join(
    f"Paragraph {i}: the quick brown fox jumps over the lazy dog, and then it rests a while."
    for i in range(12)
)


class StallMeter:
    def __init__(self) -> None:
        self.gaps: list[float] = []
        self._clock = QElapsedTimer()
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(1)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0

    def start(self) -> None:
        self.gaps.clear()
        self._clock.start()
        self._last = 0.0
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = self._clock.nsecsElapsed() / 1e6
        self.gaps.append(now - self._last)
        self._last = now

    def summary(self) -> str:
        g = sorted(self.gaps)
        p99 = g[int(0.99 * (len(g) - 1))] if g else 0.0
        med = statistics.median(g) if g else 0.0
        return f"longest {max(g, default=0):.1f} ms, p99 {p99:.1f} ms, median {med:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="piper", choices=["piper", "espeak"])
    args = parser.parse_args()
    cfg = Path(os.environ["COMPANION_CONFIG_DIR"])
    (cfg / "settings.json").write_text(json.dumps({"greeted": True, "engine": args.engine}))
    qapp = ensure_qapp()
    app = Companion(
        qapp=qapp,
        options=AppOptions(
            ipc=False, greet=False, save=False, signals=False, telemetry=False, embedded_voice=True
        ),
    )
    app.start()
    ready = []
    app.worker.engine_ready.connect(ready.append)
    while not ready:  # the voice loads in the speech thread; not part of the measurement
        qapp.processEvents()
        time.sleep(0.01)

    meter = StallMeter()
    meter.start()
    t0 = time.monotonic()
    app.router.say(TEXT, force=True)
    app.router.reply_finished.connect(lambda _i: qapp.exit(0))
    qapp.exec()
    meter.stop()
    worker_line = meter.summary()
    worker_max = max(meter.gaps, default=0.0)
    spoken = app.router.last_reply.total_ms / 1000 if app.router.last_reply else 0.0
    took = time.monotonic() - t0

    # Baseline: the same synthesis on the GUI thread, one piece per event-loop turn.
    from companion.speech.engines import choose_engine

    engine = choose_engine(app.settings, client=None, sample_rate=22050).engine
    pieces = SpeechPipeline(engine=engine, sample_rate=22050).utterances(
        1, TEXT, voice=None, speed=1.0, cancel=CancelToken()
    )

    def step() -> None:
        if next(pieces, None) is None:
            qapp.exit(0)
        else:
            QTimer.singleShot(0, step)

    meter.start()
    QTimer.singleShot(0, step)
    qapp.exec()
    meter.stop()
    baseline_line = meter.summary()
    baseline_max = max(meter.gaps, default=0.0)
    app.shutdown()
    print(
        f"GUI stall while speaking {len(TEXT)} chars ({spoken:.0f} s of audio, {took:.0f} s, "
        f"{args.engine}): {worker_line} (goal < 16 ms); baseline synthesis on the GUI thread: "
        f"{baseline_line}"
    )
    figure(
        "gui_stall",
        worker_max,
        "ms",
        what=f"longest GUI stall, long reply ({args.engine})",
        baseline=baseline_max,
        baseline_what="synthesis on the GUI thread",
        goal="< 16 ms",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
