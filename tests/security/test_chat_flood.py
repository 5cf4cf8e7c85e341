# SPDX-License-Identifier: GPL-3.0-or-later
"""A fast server floods the chat (issue 17): the mascot runs as a process of its own
(offscreen Qt, espeak, the test PulseAudio server), ``companion ask`` puts the question, and a
server on 127.0.0.1 answers with a streamed reply in one-character deltas as fast as the
socket takes them: 31 KB of prose, 31 KB with no sentence end, an endless reply. Each reply
ends (the endless one cut at ``MAX_REPLY_CHARS`` with its note) in well under the suite's
30 s, the mascot's peak RSS stays under 400 MB, its event loop keeps answering (the longest
stall its ``COMPANION_LOOP_WATCH`` heartbeat saw while the reply streamed, median of
:data:`RUNS` runs, stays under :data:`MAX_STALL_MS`), and SIGTERM ends it in under a
second, during the flood too.
"""

from __future__ import annotations

import json
import re
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from companion.replies.chat import MAX_REPLY_CHARS
from tests.security.conftest import ROOT, _HighWater, companion_argv, companion_env, record
from tests.security.flood_server import FloodServer, no_sentence_end, prose

pytestmark = pytest.mark.usefixtures("pulse")

MAX_STALL_MS = 50.0
#: Runs of each flood case (their median stall is the figure).
RUNS = 3
MAX_EXIT_S = 1.0
SIZE = 31_000
_STALL = re.compile(r"event-loop stall: ([0-9.]+) ms")


class Mascot:
    """The mascot as a process, its standard error read line by line as it comes."""

    def __init__(self, config: Path, url: str) -> None:
        config.mkdir(parents=True, exist_ok=True)
        settings = {"engine": "espeak", "greeted": True}
        (config / "settings.json").write_text(json.dumps(settings))
        self.env = companion_env(
            config,
            QT_QPA_PLATFORM="offscreen",
            COMPANION_BACKEND_URL=url,
            COMPANION_TOKEN="flood-token",
            COMPANION_LOOP_WATCH="1",
            COMPANION_LOG_LEVEL="info",
        )
        self.proc = subprocess.Popen(
            companion_argv(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd=ROOT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._hwm = _HighWater(self.proc.pid)
        self._hwm.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, needle: str, timeout: float) -> int:
        """The index of the first line holding ``needle`` (fails after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, line in enumerate(list(self.lines)):
                if needle in line:
                    return i
            assert self.proc.poll() is None, "\n".join(self.lines[-20:])
            time.sleep(0.02)
        raise AssertionError(f"no {needle!r} in:\n" + "\n".join(self.lines[-20:]))

    def ask(self, text: str) -> None:
        done = subprocess.run(
            companion_argv("ask", text),
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr

    def stall_ms(self, start: int, end: int) -> float:
        """The longest stall the heartbeat logged from line ``start`` to the report after
        line ``end``."""
        stalls = []
        for i, line in enumerate(self.lines[start:], start=start):
            found = _STALL.search(line)
            if found:
                stalls.append(float(found.group(1)))
                if i > end:
                    break
        assert stalls, "the heartbeat logged nothing"
        return max(stalls)

    def terminate(self) -> float:
        """SIGTERM; the seconds until the process is gone."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        seconds = time.monotonic() - start
        self._hwm.stop.set()
        self._hwm.join(5)
        self._reader.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return seconds

    @property
    def peak_rss_mb(self) -> float:
        return self._hwm.peak_kb / 1024

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._hwm.stop.set()
        self._reader.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture
def mascot(tmp_path: Path) -> Iterator[Callable[[str], Mascot]]:
    started: list[Mascot] = []

    def start(url: str) -> Mascot:
        m = Mascot(tmp_path / f"config{len(started)}", url)  # each run its own, no history
        started.append(m)
        m.wait_for("[app] mascot shown", 30)  # after the IPC server listens
        return m

    yield start
    for m in started:
        m.kill()


def _no_traceback(m: Mascot) -> None:
    text = "\n".join(m.lines)
    assert "Traceback" not in text and "ERROR" not in text, text[-3000:]
    assert "flood-token" not in text


CASES: dict[str, tuple[Callable[[], str], bool, int]] = {
    "chat flood: 31 KB prose, 1-char deltas": (lambda: prose(SIZE), False, SIZE),
    "chat flood: 31 KB, no sentence end": (lambda: no_sentence_end(SIZE), False, SIZE),
    "chat flood: endless deltas, past the cap": (lambda: prose(SIZE), True, MAX_REPLY_CHARS),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_flood_is_shown_and_spoken_with_the_loop_answering(
    name: str, mascot: Callable[[str], Mascot]
) -> None:
    """Each case runs :data:`RUNS` times with a fresh mascot; the figure held to
    :data:`MAX_STALL_MS` is the median of the runs' longest stalls (this 2-core machine also
    runs the server, ``ask`` and pytest beside the victim: one run's spike is its noise; a
    regression moves the median). Every run must end, be spoken and exit in time."""
    make, endless, chars = CASES[name]
    runs = [_flood_once(make(), endless, chars, mascot) for _ in range(RUNS)]
    stalls = sorted(stall for _seconds, stall, _exit_s, _rss in runs)
    median = statistics.median(stalls)
    seconds = max(r[0] for r in runs)
    exit_s = max(r[2] for r in runs)
    rss = max(r[3] for r in runs)
    shown = ", ".join(f"{stall:.0f}" for stall in stalls)
    result = (
        f"{chars} chars shown, spoken; stall median {median:.0f} ms (runs {shown});"
        f" SIGTERM {exit_s:.2f} s"
    )
    record(name, result, seconds, rss)
    assert median < MAX_STALL_MS, result
    assert exit_s < MAX_EXIT_S, result


def _flood_once(
    text: str, endless: bool, chars: int, mascot: Callable[[str], Mascot]
) -> tuple[float, float, float, float]:
    """One flood against a fresh mascot: (seconds to the reply's end, longest stall in ms,
    seconds from SIGTERM to exit, peak RSS MB)."""
    with FloodServer(text, endless=endless) as server:
        m = mascot(server.url)
        start = time.monotonic()
        m.ask("Tell me everything.")
        asked = m.wait_for("[chat] question", 30)
        done = m.wait_for("[chat] request 1 done", 60)
        seconds = time.monotonic() - start
        assert f"({chars} chars)" in m.lines[done]
        if endless:
            assert any(f"cut at {MAX_REPLY_CHARS} chars" in line for line in m.lines)
        m.wait_for("[router] reply 1 speaking", 10)  # spoken, too
        # One more heartbeat report after the end (the reply's last redraw included).
        reports = sum(1 for line in m.lines if _STALL.search(line))
        deadline = time.monotonic() + 3
        while sum(1 for line in m.lines if _STALL.search(line)) <= reports + 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        stall = m.stall_ms(asked, done)
        exit_s = m.terminate()
    _no_traceback(m)
    assert m.proc.returncode == 0
    assert server.posts == 1  # no retry of a reply that was cut on purpose
    return seconds, stall, exit_s, m.peak_rss_mb


def test_sigterm_during_a_flood_ends_the_mascot_at_once(mascot: Callable[[str], Mascot]) -> None:
    with FloodServer(prose(SIZE), endless=True) as server:
        m = mascot(server.url)
        m.ask("Tell me everything.")
        m.wait_for("[router] reply 1 speaking", 30)
        assert not any("[chat] request 1" in line for line in m.lines)  # still streaming
        exit_s = m.terminate()
    _no_traceback(m)
    assert m.proc.returncode == 0
    result = f"exit {m.proc.returncode} in {exit_s:.2f} s, mid-stream"
    record("chat flood: SIGTERM mid-flood", result, exit_s, m.peak_rss_mb)
    assert exit_s < MAX_EXIT_S, result
