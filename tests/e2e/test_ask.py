# SPDX-License-Identifier: GPL-3.0-or-later
"""``companion ask``: the question goes to the mascot (started when none runs) over IPC, the
mascot streams the reply from the reference backend's assistant, shows and speaks it, and
with ``--print`` the reply comes back to standard output as it streams.

The reference backend runs in this process; the mascot and ``ask`` are separate processes
(waiting here is for them, not for Qt, so it polls).
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
from tests.support.reference_backend import ReferenceBackend
from tests.support.reference_chat import DEFAULT_REPLY, ReferenceChat, install_chat, tokenize

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def chat(reference_backend: ReferenceBackend) -> ReferenceChat:
    return install_chat(reference_backend)


@pytest.fixture
def mascots(_private_config_dir: Path) -> Iterator[list[int]]:
    """Mascots to stop at the end, whatever happened."""
    pids: list[int] = []
    yield pids
    name = ipc.server_name()
    if ipc.server_answers(name):
        pids.append(int(ipc.send_request({"cmd": "show"}, name=name)["pid"]))
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)


def _env(cfg: Path, backend: ReferenceBackend) -> dict[str, str]:
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "settings.json").write_text(json.dumps({"engine": "espeak", "greeted": True}))
    env = dict(os.environ)
    env.update(
        COMPANION_CONFIG_DIR=str(cfg),
        QT_QPA_PLATFORM="offscreen",
        COMPANION_BACKEND_URL=backend.url,
        COMPANION_TOKEN=backend.token,
    )
    return env


def _ask(
    cfg: Path, backend: ReferenceBackend, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "companion", "ask", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(cfg, backend),
        cwd=REPO,
        timeout=120,
    )


def _conversation(cfg: Path) -> list[dict[str, str]]:
    path = cfg / "state" / "conversation.json"
    if not path.exists():
        return []
    messages: list[dict[str, str]] = json.loads(path.read_text())["messages"]
    return messages


def test_ask_print_streams_the_reply_from_a_mascot_it_starts(
    _private_config_dir: Path,
    reference_backend: ReferenceBackend,
    chat: ReferenceChat,
    mascots: list[int],
) -> None:
    cfg = _private_config_dir
    chat.script.token_delay = 0.005
    assert not ipc.server_answers(ipc.server_name())
    result = _ask(cfg, reference_backend, "--print", "Say hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == DEFAULT_REPLY + "\n"
    assert result.stderr == ""
    assert chat.requests[-1].messages[-1] == {"role": "user", "content": "Say hello"}
    # The mascot keeps the conversation (written once the turn ended).
    deadline = time.monotonic() + 20
    while _conversation(cfg)[-1:] != [
        {"role": "assistant", "content": DEFAULT_REPLY, "state": "done"}
    ]:
        assert time.monotonic() < deadline, _conversation(cfg)
        time.sleep(0.05)
    # A second question reaches the same mascot, with the first turn as history.
    result = _ask(cfg, reference_backend, "--print", "-", stdin="And again?\n")
    assert result.returncode == 0, result.stderr
    assert [m["role"] for m in chat.requests[-1].messages] == [
        "system",
        "user",
        "assistant",
        "user",
    ]


def test_ask_without_print_returns_once_the_mascot_took_it(
    _private_config_dir: Path,
    reference_backend: ReferenceBackend,
    chat: ReferenceChat,
    mascots: list[int],
) -> None:
    cfg = _private_config_dir
    chat.script.hold_after = 5  # the reply is still streaming when ask has returned
    result = _ask(cfg, reference_backend, "What time is it?")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    deadline = time.monotonic() + 20
    while not chat.requests:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert chat.streams_done == 0
    chat.script.gate.set()
    while _conversation(cfg)[-1:] != [
        {"role": "assistant", "content": DEFAULT_REPLY, "state": "done"}
    ]:
        assert time.monotonic() < deadline + 20
        time.sleep(0.05)


def test_a_failure_mid_stream_prints_the_partial_reply_and_one_line(
    _private_config_dir: Path,
    reference_backend: ReferenceBackend,
    chat: ReferenceChat,
    mascots: list[int],
) -> None:
    cfg = _private_config_dir
    chat.inject(after=7, kind="cut")
    result = _ask(cfg, reference_backend, "--print", "Say hello")
    assert result.returncode == 1
    assert result.stdout == "".join(tokenize(DEFAULT_REPLY)[:7]) + "\n"
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("companion ask: ") and "cut short" in result.stderr


def test_nothing_to_ask(_private_config_dir: Path, reference_backend: ReferenceBackend) -> None:
    result = _ask(_private_config_dir, reference_backend, "-", stdin="  \n")
    assert result.returncode == 1
    assert result.stderr == "companion ask: nothing to ask\n"
