# SPDX-License-Identifier: GPL-3.0-or-later
"""Run ``companion`` with time stamps at each step of a reply: where the time goes.

Run: ``COMPANION_TRACE_FILE=/tmp/t.log python benchmarks/_trace.py [companion arguments]``

The program itself runs unchanged (``companion.cli.main``); this only wraps a few of its
functions, before anything is built, so each appends ``<event> <time.monotonic()>`` to the trace
file (the monotonic clock is the system's: the benchmark reads the same clock). Events are kept
in memory and written by a thread every 20 ms, so the audio callback never does file I/O.

Events (the first of each after the command is what counts):

- ``process_start``: the interpreter has started and runs this file (before any import);
- ``cli_send``: ``say``/``ask`` sends its request (companion.replies.ipc_client.send_request);
- ``ipc_request``: the mascot received it (IpcServer._handle / _handle_ask);
- ``chat_first_delta``: the mascot's chat client got the reply's first token;
- ``voice_load_start`` / ``voice_load_done``: PiperEngine.load;
- ``pipeline_start``: the speech thread starts on the text (SpeechPipeline.utterances /
  piece_utterance); ``text_prepared``: markdown prepared and cut into pieces;
- ``synth_start`` / ``synth_first_chunk``: the engine starts on the first piece / yields audio;
- ``utterance_ready``: the first piece with its visemes and word timings is ready;
- ``player_enqueue``: the GUI thread hands it to the player;
- ``stream_start`` / ``stream_started``: the player starts (or opens) the output stream;
- ``first_callback``: the audio callback copies the first frame of the reply; ``device_time``:
  when PortAudio says that frame reaches the speaker.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

_START = time.monotonic()
_EVENTS: list[tuple[str, float]] = [("process_start", _START)]
_PATH = os.environ.get("COMPANION_TRACE_FILE", "")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def mark(name: str, at: float | None = None) -> None:
    _EVENTS.append((name, time.monotonic() if at is None else at))


def _writer() -> None:
    written = 0
    with open(_PATH, "a", encoding="utf-8") as fh:
        while True:
            time.sleep(0.02)
            pending = _EVENTS[written:]
            if pending:
                fh.write("".join(f"{name} {at:.6f}\n" for name, at in pending))
                fh.flush()
                written += len(pending)


def _wrap(owner: Any, attr: str, before: str = "", after: str = "") -> None:
    original = getattr(owner, attr)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if before:
            mark(before)
        result = original(*args, **kwargs)
        if after:
            mark(after)
        return result

    setattr(owner, attr, wrapper)


def _wrap_generator(owner: Any, attr: str, before: str, first: str) -> None:
    original = getattr(owner, attr)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        mark(before)
        seen = False
        for item in original(*args, **kwargs):
            if not seen:
                mark(first)
                seen = True
            yield item

    setattr(owner, attr, wrapper)


def _trace_cli() -> None:
    from companion.replies import ipc_client

    _wrap(ipc_client, "send_request", before="cli_send")


def _trace_speech() -> None:
    from companion.audio import player, utterance
    from companion.speech import pipeline, piper_engine

    _wrap(piper_engine.PiperEngine, "load", before="voice_load_start", after="voice_load_done")
    _wrap_generator(piper_engine.PiperEngine, "synthesize", "synth_start", "synth_first_chunk")
    _wrap_generator(pipeline.SpeechPipeline, "utterances", "pipeline_start", "utterance_ready")
    _wrap(pipeline.SpeechPipeline, "pieces", after="text_prepared")
    _wrap(
        pipeline.SpeechPipeline, "piece_utterance", before="pipeline_start", after="utterance_ready"
    )
    _wrap(player.Player, "enqueue", before="player_enqueue")
    for name in ("_start_stream", "_ensure_stream"):
        if hasattr(player.Player, name):
            _wrap(player.Player, name, before="stream_start", after="stream_started")
    read_into: Callable[..., int] = utterance.UtteranceState.read_into

    def traced_read_into(self: Any, out: Any, volume: float, first_frame_time: float) -> int:
        before = self.consumed
        taken = read_into(self, out, volume, first_frame_time)
        if taken and before == 0:
            mark("first_callback")
            mark("device_time", first_frame_time)
        return taken

    utterance.UtteranceState.read_into = traced_read_into  # type: ignore[method-assign]


def _trace_mascot() -> None:
    from companion.replies import chat, ipc

    _wrap(ipc.IpcServer, "_handle", before="ipc_request")
    _wrap(ipc.IpcServer, "_handle_ask", before="ipc_request")
    _wrap_generator(chat, "stream_chat", "chat_request", "chat_first_delta")


def main() -> int:
    if os.environ.get("COMPANION_UNDO"):  # benchmarks/_variant.py: one change undone
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _variant import undo

        undo({c.strip() for c in os.environ["COMPANION_UNDO"].split(",") if c.strip()})
    if _PATH:
        threading.Thread(target=_writer, name="trace-writer", daemon=True).start()
    argv = sys.argv[1:]
    command = argv[0] if argv and not argv[0].startswith("-") else ""
    if command in ("say", "ask"):
        _trace_cli()
    elif command == "speak":
        _trace_speech()
    else:
        _trace_speech()
        _trace_mascot()
    from companion.cli import main as companion_main

    try:
        return companion_main(argv)
    finally:
        time.sleep(0.05)  # let the writer catch up


if __name__ == "__main__":
    sys.exit(main())
