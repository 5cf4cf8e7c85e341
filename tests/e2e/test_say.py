# SPDX-License-Identifier: GPL-3.0-or-later
"""``companion say`` and the mascot as separate processes; SIGTERM shuts the mascot down cleanly.

Each test has its own COMPANION_CONFIG_DIR (so its own single-instance name) and kills every
mascot it started. Waiting here is for other processes, not for Qt, so it polls.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from companion.replies import ipc

REPO = Path(__file__).resolve().parents[2]


def _env(cfg: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # The tests read the mascot's info lines (the terminal shows warnings only by default).
    env.update(COMPANION_CONFIG_DIR=str(cfg), QT_QPA_PLATFORM="offscreen")
    env.update(COMPANION_LOG_LEVEL="info")
    env.update(extra)
    env.pop("COMPANION_BACKEND_URL", None)
    return env


def _settings(cfg: Path) -> None:
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "settings.json").write_text(json.dumps({"engine": "espeak", "greeted": True}))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for_server(name: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not ipc.server_answers(name):
        assert time.monotonic() < deadline, "the mascot never answered"
        time.sleep(0.05)


@pytest.fixture
def pids() -> Iterator[list[int]]:
    """Mascots to kill at the end, whatever happened."""
    started: list[int] = []
    yield started
    for pid in started:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _say(
    cfg: Path, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "companion", "say", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(cfg, **env),
        cwd=REPO,
        timeout=60,
    )


def test_say_starts_a_mascot_when_none_runs(_private_config_dir: Path, pids: list[int]) -> None:
    cfg = _private_config_dir
    _settings(cfg)
    name = ipc.server_name()  # same config dir as the child's: the same name
    assert not ipc.server_answers(name)
    result = _say(cfg, "Hello, nobody was here.")
    assert result.returncode == 0, result.stderr
    answer = ipc.send_request({"cmd": "show"}, name=name)
    pids.append(int(answer["pid"]))
    assert answer["ok"] is True
    # A second say goes to the same mascot, not a new one.
    result = _say(cfg, "-", stdin="And once more from standard input.\n")
    assert result.returncode == 0, result.stderr
    assert ipc.send_request({"cmd": "show"}, name=name)["pid"] == pids[0]


def test_say_reaches_a_running_mascot(_private_config_dir: Path, pids: list[int]) -> None:
    cfg = _private_config_dir
    _settings(cfg)
    log = cfg / "mascot.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "companion"], env=_env(cfg), cwd=REPO,
            stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    pids.append(proc.pid)
    _wait_for_server(ipc.server_name())
    text = "A megabyte would be fine too. " * 3
    result = _say(cfg, "-", stdin=text)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert f"[ipc] say: {len(text)} chars" in log.read_text()


def test_say_fails_with_one_line(_private_config_dir: Path) -> None:
    cfg = _private_config_dir
    _settings(cfg)
    # A mascot that cannot start (no such Qt platform): say reports it and exits 1.
    result = _say(cfg, "Hello", QT_QPA_PLATFORM="no-such-platform")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("companion say: ")
    empty = _say(cfg, "   ")
    assert empty.returncode == 1 and "nothing to say" in empty.stderr


@pytest.mark.parametrize("speaking", [False, True], ids=["idle", "speaking"])
def test_sigterm_shuts_down_cleanly_within_a_second(
    _private_config_dir: Path, pids: list[int], speaking: bool
) -> None:
    cfg = _private_config_dir
    _settings(cfg)
    log = cfg / "mascot.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "companion"], env=_env(cfg), cwd=REPO,
            stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    pids.append(proc.pid)
    _wait_for_server(ipc.server_name())
    if speaking:
        assert _say(cfg, "A long reply that is still being spoken. " * 30).returncode == 0
        deadline = time.monotonic() + 20
        while "[router] reply 1 speaking" not in log.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=10)
    took = time.monotonic() - sent
    text = log.read_text()
    assert code == 0, text
    assert took < 1.0, f"shut-down took {took:.2f} s"
    assert "QThread: Destroyed while thread" not in text
    assert "[app] shut down in" in text
    assert "Traceback" not in text
