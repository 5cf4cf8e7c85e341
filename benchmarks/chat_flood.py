# SPDX-License-Identifier: GPL-3.0-or-later
"""A fast server floods the chat: the streaming chunker's CPU time, new against old, and the
mascot's longest event-loop stall under the flood. Goal: stall under 50 ms.

Run: ``. scripts/pulse.sh; .venv/bin/python benchmarks/chat_flood.py [--chars 31000]``

1. CPU time (this thread's) of cutting a reply that arrives in one-character deltas into
   speakable pieces: the incremental :class:`~companion.speech.chunking.StreamChunker` against
   the chunker it replaced (``tests/support/legacy_chunker.py``, which re-read the whole
   markdown block at each delta), for ordinary prose and for one block with no sentence end.
   The prose is one block (no blank line), as in issue 17's measurement.
2. The mascot as a process (offscreen, espeak) asked a question that a server on 127.0.0.1
   answers with the prose in one-character deltas as fast as the socket takes them; its
   ``COMPANION_LOOP_WATCH`` heartbeat gives the longest stall while the reply streams.
   Baseline: how far the old GUI thread, running the old chunker on every delta, fell
   behind (its chunker time less the stream's time): how long a click or SIGTERM waited.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figure import figure

from companion.speech.chunking import StreamChunker, split_sentences
from tests.security.flood_server import FloodServer, no_sentence_end, prose
from tests.support.legacy_chunker import LegacyStreamChunker

ROOT = Path(__file__).resolve().parents[1]
_STALL = re.compile(r"event-loop stall: ([0-9.]+) ms")


def cut(make: Callable[[], object], text: str) -> tuple[float, float, int]:
    """(CPU seconds, longest single feed in ms, pieces) of ``text`` in 1-char deltas."""
    chunker = make()
    feed = chunker.feed  # type: ignore[attr-defined]
    pieces = 0
    longest = 0.0
    start = time.thread_time()
    for ch in text:
        t = time.thread_time()
        pieces += len(feed(ch))
        longest = max(longest, time.thread_time() - t)
    pieces += len(chunker.flush())  # type: ignore[attr-defined]
    return time.thread_time() - start, 1000 * longest, pieces


def mascot_stall(text: str) -> tuple[float, float]:
    """(longest stall in ms while the reply streamed, seconds from question to its end)."""
    config = Path(tempfile.mkdtemp(prefix="companion-flood-"))
    (config / "settings.json").write_text(json.dumps({"engine": "espeak", "greeted": True}))
    with FloodServer(text) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPANION_")}
        env.update(
            COMPANION_CONFIG_DIR=str(config),
            PYTHONPATH=str(ROOT),
            QT_QPA_PLATFORM="offscreen",
            COMPANION_BACKEND_URL=server.url,
            COMPANION_TOKEN="bench-token",
            COMPANION_LOOP_WATCH="1",
            COMPANION_LOG_LEVEL="info",
        )
        argv = [sys.executable, "-m", "companion"]
        proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
        reader.start()

        def wait_for(needle: str, after: int = 0) -> int:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                for i, line in enumerate(list(lines)[after:], start=after):
                    if needle in line:
                        return i
                time.sleep(0.02)
            raise SystemExit(f"chat_flood: no {needle!r} from the mascot")

        try:
            wait_for("[app] mascot shown")
            start = time.monotonic()
            subprocess.run([*argv, "ask", "Tell me everything."], env=env, check=True, timeout=30)
            asked = wait_for("[chat] question")
            done = wait_for("[chat] request 1")
            seconds = time.monotonic() - start
            wait_for("event-loop stall", done + 1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            reader.join(5)
    stalls = [float(m.group(1)) for line in lines[asked:] if (m := _STALL.search(line))]
    return max(stalls), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=31_000, help="reply length (31,000)")
    args = parser.parse_args()
    texts = {
        "prose": prose(args.chars, paragraphs=False),
        "no sentence end": no_sentence_end(args.chars),
    }
    split_sentences("Warm up. The segmenter is imported here.")
    worst_old = 0.0
    for kind, text in texts.items():
        new_s, new_feed, new_pieces = cut(StreamChunker, text)
        old_s, old_feed, old_pieces = cut(LegacyStreamChunker, text)
        worst_old = max(worst_old, old_s)
        print(
            f"{kind}, {len(text)} chars in 1-char deltas: new {new_s:.2f} s CPU"
            f" ({new_pieces} pieces, longest feed {new_feed:.1f} ms), old {old_s:.2f} s"
            f" ({old_pieces} pieces, longest feed {old_feed:.0f} ms): {old_s / new_s:.0f}x"
        )
        name = "chunker_cpu_prose" if kind == "prose" else "chunker_cpu_no_sentence_end"
        figure(
            name,
            new_s,
            "s",
            what=f"cutting {len(text)} chars of {kind} in 1-char deltas",
            baseline=old_s,
            baseline_what="the old chunker (whole block re-read at each delta)",
        )
    stall, seconds = mascot_stall(texts["prose"])
    # The old GUI thread ran the old chunker on every delta: once its work passed the time the
    # stream took, the events waiting behind it (a click, Quit, SIGTERM) waited the rest.
    behind_ms = 1000 * max(0.0, worst_old - seconds)
    print(
        f"mascot under the flood: longest stall {stall:.1f} ms, reply streamed in {seconds:.2f} s;"
        f" the old chunker on the GUI thread would have left it {behind_ms / 1000:.1f} s behind"
        f" ({behind_ms / stall:.0f}x)"
    )
    figure(
        "chat_flood_stall",
        stall,
        "ms",
        what="longest event-loop stall, 31 KB in 1-char deltas as fast as the socket takes",
        baseline=behind_ms,
        baseline_what="the old chunker's work on the GUI thread past the stream's time",
        goal="< 50 ms",
    )


if __name__ == "__main__":
    main()
