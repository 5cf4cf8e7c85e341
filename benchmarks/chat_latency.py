# SPDX-License-Identifier: GPL-3.0-or-later
"""Speak while streaming: first token → first sample at the device, and gaps between pieces.

Run: ``. scripts/pulse.sh && .venv/bin/python benchmarks/chat_latency.py [--runs 3]
[--engine piper|espeak] [--token-ms 30]``

The reference backend's scripted assistant streams a six-sentence reply at a fixed pace
(``--token-ms`` per token, about four characters each: a brisk hosted model). The real parts
run as in the app: chat worker thread, chunker, router, speech worker thread, player on a real
output stream (the PulseAudio null sink of scripts/pulse.sh). Interleaved in one run, on the
same paced stream:

- figure: speak while streaming (the chat controller: pieces to the voice as they complete);
- baseline: wait for the whole reply, then speak it (``router.say``, which still synthesises
  piece by piece and plays the first piece while the next is made).

Latency is from the first token's arrival (in the chat thread) to the first sample of the reply
reaching the device (the audio callback's own timing: buffer DAC time). Gaps are measured in the
player's frame stream: the audio callback records every frame of silence it had to insert
because the next piece was not queued yet (zeros written while the utterance had not ended).
Pauses that are part of the text (the silence a voice puts after a sentence) are inside the
pieces and are reported separately. Goal: no inserted gap over 20 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["COMPANION_CONFIG_DIR"] = tempfile.mkdtemp(prefix="companion-bench-")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from _figure import figure
from PySide6.QtCore import QEventLoop, QObject, QThread, Signal

from companion.app import ensure_qapp, sign_in_dialog
from companion.audio.player import Player
from companion.backend.auth import SessionStore
from companion.backend.client import BackendClient
from companion.config import Settings
from companion.replies.chat import ChatResult, ChatWorker, build_request
from companion.replies.chat_controller import ChatController
from companion.replies.conversation import Conversation
from companion.replies.presenter import ReplyPresenter
from companion.replies.reply import Reply
from companion.replies.router import ReplyRouter
from companion.replies.session import SessionCoordinator
from companion.speech.engines import choose_engine
from companion.speech.worker import SpeechWorker
from companion.ui.window import MascotWindow
from tests.support.reference_backend import ReferenceBackend
from tests.support.reference_chat import install_chat, tokenize

RATE = 22050
REPLY = (
    "Good morning, it is lovely to hear from you again. "
    "The forecast says sunshine until the evening, with a light breeze from the west. "
    "If you go out, a thin jacket should be plenty. "
    "I noticed you have two meetings this afternoon, one at two and one at four. "
    "Would you like me to remind you ten minutes before each of them? "
    "Otherwise, enjoy the quiet morning."
)
SILENCE = 0.01  # |sample| below this counts as the text's own pause


class ProbePlayer(Player):
    """The real player; its audio callback also notes the first frame's device time and
    every frame of silence it inserted while an utterance was waiting for more audio."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first_at: float | None = None
        self.inserted: list[tuple[int, int]] = []  # (frame index in the reply, frames)
        self._probe_lock = threading.Lock()

    def reset_probe(self) -> None:
        with self._probe_lock:
            self.first_at = None
            self.inserted = []

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        utt = self._utt
        before = utt.consumed
        now = time.monotonic()
        super()._callback(outdata, frames, time_info, status)
        written = utt.consumed - before
        if written and before == 0 and self.first_at is None:
            self.first_at = now + self.output_delay
        if before > 0 and written < frames and not utt.ended and not utt.stopped:
            self.inserted.append((before + written, frames - written))


@dataclass
class Run:
    latency_ms: float
    gaps_ms: list[float] = field(default_factory=list)  # inserted silence per piece boundary
    pauses_ms: list[float] = field(default_factory=list)  # the text's own pause per boundary
    stray_ms: float = 0.0  # inserted silence not at a boundary (underflow mid-piece)
    pieces: int = 0


class _Sender(QObject):
    """Sends the baseline's requests to the chat worker (queued, like the controller's)."""

    request = Signal(object)


def spin_until(pred: Callable[[], bool], timeout: float) -> None:
    qapp = ensure_qapp()
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step timed out")
        qapp.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
        time.sleep(0.001)


def _edge_silence(x: np.ndarray, *, leading: bool) -> int:
    loud = np.flatnonzero(np.abs(x) >= SILENCE)
    if not len(loud):
        return len(x)
    return int(loud[0]) if leading else int(len(x) - 1 - loud[-1])


def analyse(player: ProbePlayer, reply: Reply, first_token: float) -> Run:
    assert player.first_at is not None, "no audio reached the device"
    run = Run(latency_ms=1000.0 * (player.first_at - first_token), pieces=len(reply.utterances))
    bounds: list[int] = []
    total = 0
    for utt in reply.utterances:
        total += len(utt.samples)
        bounds.append(total)
    at_bound = dict.fromkeys(bounds[:-1], 0)
    for index, frames in player.inserted:
        if index in at_bound:
            at_bound[index] += frames
        elif index < bounds[-1]:
            run.stray_ms += 1000.0 * frames / RATE
    run.gaps_ms = [1000.0 * at_bound[b] / RATE for b in bounds[:-1]]
    for a, b in zip(reply.utterances, reply.utterances[1:], strict=False):
        pause = _edge_silence(a.samples, leading=False) + _edge_silence(b.samples, leading=True)
        run.pauses_ms.append(1000.0 * pause / RATE)
    return run


class Bench:
    def __init__(self, engine: str, token_ms: float) -> None:
        self.qapp = ensure_qapp()
        self.backend = ReferenceBackend().start()
        self.chat = install_chat(self.backend)
        self.chat.script.reply = REPLY
        self.chat.script.token_delay = token_ms / 1000.0
        self.settings = Settings(engine=engine)
        self.player = ProbePlayer(sample_rate=RATE)
        if self.player.silent:
            raise SystemExit(f"no audio device ({self.player.notice}); run . scripts/pulse.sh")
        self.speech_thread = QThread()
        self.worker = SpeechWorker(engine_factory=self._engine, sample_rate=RATE)
        self.worker.moveToThread(self.speech_thread)
        self.window = MascotWindow(settings=self.settings)
        self.router = ReplyRouter(settings=self.settings, player=self.player, worker=self.worker)
        self.presenter = ReplyPresenter(
            router=self.router, clock=self.player, view=self.window.view, bubble=self.window.bubble
        )
        backend = self.backend
        self.session = SessionCoordinator(
            session=SessionStore(base_url=backend.url, env={}),
            router=self.router,
            presenter=self.presenter,
            dialog_factory=sign_in_dialog,
        )
        self.chat_thread = QThread()
        self.chat_worker = ChatWorker(
            client_factory=lambda: BackendClient(base_url=backend.url, token=lambda: backend.token)
        )
        self.chat_worker.moveToThread(self.chat_thread)
        self.controller = ChatController(
            settings=self.settings,
            worker=self.chat_worker,
            router=self.router,
            presenter=self.presenter,
            session=self.session,
            conversation=Conversation(),
        )
        self.first_token: float | None = None
        self.text: list[str] = []
        self.results: list[ChatResult] = []
        # Runs in the chat thread the moment a delta is read off the socket.
        self.chat_worker.on_delta = self._on_delta
        self.chat_worker.finished.connect(self.results.append)
        self._sender = _Sender()
        self._sender.request.connect(self.chat_worker.send)
        self._baseline_ids = 1_000_000
        self.speech_thread.start()
        self.chat_thread.start()
        self.engine_name = ""

    def _engine(self) -> Any:
        choice = choose_engine(self.settings, client=None, sample_rate=RATE)
        self.engine_name = choice.kind
        return choice.engine

    def _on_delta(self, request_id: int, text: str) -> None:
        if self.first_token is None:
            self.first_token = time.monotonic()
        self.text.append(text)

    def _reset(self) -> None:
        spin_until(lambda: not self.router.busy and self.player.finished, 60)
        self.player.reset_probe()
        self.first_token = None
        self.text = []
        self.results.clear()

    def warm_up(self) -> None:
        done: list[int] = []
        self.router.reply_finished.connect(done.append)
        self.router.say("Warming up, one two three.", force=True)
        spin_until(lambda: bool(done), 120)
        self.router.reply_finished.disconnect(done.append)

    def streamed(self) -> Run:
        self._reset()
        done: list[int] = []
        self.router.reply_finished.connect(done.append)
        self.controller.ask("What is the plan for today?")
        spin_until(lambda: bool(done), 120)
        self.router.reply_finished.disconnect(done.append)
        reply = self.router.last_reply
        assert reply is not None and reply.source == "chat" and self.first_token is not None
        return analyse(self.player, reply, self.first_token)

    def whole_first(self) -> Run:
        self._reset()
        self._baseline_ids += 1
        request = build_request(
            self._baseline_ids, system_prompt="", history=[("user", "Plan?")], model="m"
        )
        done: list[int] = []
        self.router.reply_finished.connect(done.append)
        self._sender.request.emit(request)
        spin_until(lambda: bool(self.results), 120)  # the whole reply has arrived
        self.router.say("".join(self.text), source="chat", force=True)
        spin_until(lambda: bool(done), 120)
        self.router.reply_finished.disconnect(done.append)
        reply = self.router.last_reply
        assert reply is not None and self.first_token is not None
        return analyse(self.player, reply, self.first_token)

    def close(self) -> None:
        self.controller.close()
        self.chat_worker.cancel_all()
        self.router.close()
        self.player.stop()
        self.worker.cancel_all()
        for thread in (self.chat_thread, self.speech_thread):
            thread.quit()
            thread.wait()
        self.chat_worker.close()
        self.player.close()
        self.backend.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engine", choices=("piper", "espeak"), default="piper")
    parser.add_argument("--token-ms", type=float, default=30.0)
    args = parser.parse_args()

    bench = Bench(args.engine, args.token_ms)
    try:
        bench.warm_up()
        streamed: list[Run] = []
        whole: list[Run] = []
        for _ in range(args.runs):
            streamed.append(bench.streamed())
            whole.append(bench.whole_first())
    finally:
        underflows = bench.player.underflows
        bench.close()

    tokens = len(tokenize(REPLY))
    print(
        f"chat_latency: engine={bench.engine_name} runs={args.runs} reply={len(REPLY)} chars "
        f"in {tokens} tokens at {args.token_ms:g} ms/token "
        f"(stream ~{tokens * args.token_ms / 1000:.1f} s), "
        f"output latency {1000 * bench.player.output_latency:.0f} ms"
    )
    s_lat = statistics.median(r.latency_ms for r in streamed)
    w_lat = statistics.median(r.latency_ms for r in whole)
    print(
        f"  first token -> first sample at the device, speak while streaming: {s_lat:7.0f} ms "
        f"(runs: {', '.join(f'{r.latency_ms:.0f}' for r in streamed)})"
    )
    print(
        f"  baseline, whole reply first, then speak:                         {w_lat:7.0f} ms "
        f"(runs: {', '.join(f'{r.latency_ms:.0f}' for r in whole)})"
    )
    print(f"  ratio baseline/streaming: {w_lat / s_lat:.1f}x sooner")
    for label, runs in (("streaming", streamed), ("baseline", whole)):
        gaps = [g for r in runs for g in r.gaps_ms]
        pauses = [p for r in runs for p in r.pauses_ms]
        stray = max(r.stray_ms for r in runs)
        worst = max(gaps) if gaps else 0.0
        print(
            f"  {label}: {sum(r.pieces for r in runs)} pieces; silence inserted between pieces: "
            f"max {worst:.1f} ms, total {sum(gaps):.1f} ms over {len(gaps)} joins "
            f"(goal: none over 20 ms); the text's own pause at joins: median "
            f"{statistics.median(pauses) if pauses else 0:.0f} ms; "
            f"silence inserted inside pieces {stray:.1f} ms"
        )
    print(f"  PortAudio output underflows during the run: {underflows}")
    worst_gap = max((g for r in streamed for g in r.gaps_ms), default=0.0)
    figure(
        "chat_first_sample",
        s_lat,
        "ms",
        what="chat: first token to first sample",
        baseline=w_lat,
        baseline_what="whole reply first, then speak",
    )
    figure(
        "chat_gap", worst_gap, "ms", what="longest silence inserted between pieces", goal="< 20 ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
