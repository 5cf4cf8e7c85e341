# SPDX-License-Identifier: GPL-3.0-or-later
"""The security suite's set-up: each attack runs against a real server on 127.0.0.1 (or a real
second local user), usually with the victim as a process of its own, and records the bound it
held: wall time and peak RSS, printed as one table at the end of the session.

Must hold for every attack (issue 17): it ends in under :data:`MUST_SECONDS`, the victim's peak
RSS stays under :data:`MUST_RSS_MB`, one clear line, no traceback, nothing sent to another origin
or another user, no secret in any log or report. These bounds are the contract, checked with
wide margins; the figures themselves are what the table is for.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MUST_SECONDS = 30.0
MUST_RSS_MB = 400.0
#: A run as ``nobody`` (setpriv execs in place: the process id stays the same).
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]


@dataclass(frozen=True)
class Figure:
    """One attack's row: what it was, how it ended, the time and memory it cost."""

    attack: str
    result: str
    seconds: float
    peak_rss_mb: float | None
    #: True when the figure is an in-process attack's growth above pytest's own RSS.
    growth: bool = False

    def rss_text(self) -> str:
        if self.peak_rss_mb is None:
            return "-"
        return f"+{self.peak_rss_mb:.0f}" if self.growth else f"{self.peak_rss_mb:.0f}"


FIGURES: list[Figure] = []


def record(
    attack: str,
    result: str,
    seconds: float,
    peak_rss_mb: float | None,
    *,
    growth: bool = False,
) -> None:
    """Adds a row to the table, and checks the issue's bounds.

    ``growth`` marks an in-process attack's figure (:attr:`RssWatch.growth_mb`): the pytest
    process holding it is as large as the suite run so far, so only the attack's own growth
    is the victim's.
    """
    FIGURES.append(Figure(attack, result, seconds, peak_rss_mb, growth))
    assert seconds < MUST_SECONDS, f"{attack}: {seconds:.1f} s (must be < {MUST_SECONDS:.0f} s)"
    if peak_rss_mb is not None:
        assert peak_rss_mb < MUST_RSS_MB, f"{attack}: peak RSS {peak_rss_mb:.0f} MB"


@dataclass(frozen=True)
class Victim:
    """A finished victim process: its exit code, output, wall time and peak RSS (from wait4)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float

    def lines(self) -> list[str]:
        """stderr's non-blank lines."""
        return [line for line in self.stderr.splitlines() if line.strip()]


def companion_env(config_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a Companion process: this checkout, a private config, no COMPANION_*
    from the outside (except the PulseAudio marker), ``extra`` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPANION_")}
    env.update(COMPANION_CONFIG_DIR=str(config_dir), PYTHONPATH=str(ROOT))
    if "COMPANION_TEST_PULSE" in os.environ:
        env["COMPANION_TEST_PULSE"] = os.environ["COMPANION_TEST_PULSE"]
    env.update(extra)
    return env


def run_victim(
    argv: Sequence[str],
    env: dict[str, str],
    *,
    stdin: bytes = b"",
    timeout: float = 2 * MUST_SECONDS,
    cwd: Path = ROOT,
) -> Victim:
    """Runs ``argv`` to its end (killed after ``timeout``), with its own peak RSS.

    ``argv`` usually starts with ``sys.executable, "-m", "companion"``. The peak is the
    victim's ``VmHWM`` (its memory's high-water mark, which starts afresh at ``exec``) read
    every 10 ms until it exits: ``wait4``'s ``ru_maxrss`` would carry the forked copy of this
    pytest process into the figure. It is the fallback only for a victim gone before the
    first read.
    """
    start = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True),  # type: ignore[union-attr]
        threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True),  # type: ignore[union-attr]
    ]
    for reader in readers:
        reader.start()
    assert proc.stdin is not None
    try:
        proc.stdin.write(stdin)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    hwm = _HighWater(proc.pid)
    hwm.start()
    try:
        _pid, status, usage = os.wait4(proc.pid, 0)
    finally:
        killer.cancel()
        hwm.stop.set()
        hwm.join(5)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - start
    for reader in readers:
        reader.join(10)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    return Victim(
        returncode=proc.returncode,
        stdout=b"".join(out).decode(errors="replace"),
        stderr=b"".join(err).decode(errors="replace"),
        seconds=seconds,
        peak_rss_mb=hwm.peak_kb / 1024 if hwm.peak_kb else usage.ru_maxrss / 1024,
    )


class _HighWater(threading.Thread):
    """Reads a process's ``VmHWM`` (kB) every 10 ms until told to stop or the process ends."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self._path = Path(f"/proc/{pid}/status")
        self.stop = threading.Event()
        self.peak_kb = 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                text = self._path.read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))
                    break
            self.stop.wait(0.01)


def companion_argv(*args: str) -> list[str]:
    """``python -m companion <args>`` with this interpreter."""
    return [sys.executable, "-m", "companion", *args]


class RssWatch:
    """Samples this process's RSS every 5 ms while an in-process attack runs (for attacks on the
    mascot inside pytest-qt): :attr:`growth_mb` is the peak above the RSS at the start."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.start_mb = _rss_mb()
        self.peak_mb = self.start_mb

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak_mb = max(self.peak_mb, _rss_mb())

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _rss_mb())

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.start_mb


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


@pytest.fixture
def rss_watch() -> Iterator[type[RssWatch]]:
    yield RssWatch


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The table of attacks by result with their figures (the issue's closing-note table)."""
    if not FIGURES:
        return
    write = terminalreporter.write_line
    write("")
    write("security: attack | result | seconds | peak RSS MB (+N: growth in-process)")
    for f in FIGURES:
        rss = f.rss_text()
        write(f"security: {f.attack} | {f.result} | {f.seconds:.2f} | {rss}")
    table = os.environ.get("COMPANION_SECURITY_TABLE")
    if table:
        rows = ["| attack | result | seconds | peak RSS MB |", "|---|---|---|---|"]
        for f in FIGURES:
            rss = f.rss_text()
            rows.append(f"| {f.attack} | {f.result} | {f.seconds:.2f} | {rss} |")
        Path(table).write_text("\n".join(rows) + "\n")
