# SPDX-License-Identifier: GPL-3.0-or-later
"""The real-server suite's set-up: each third-party server started once per session on
127.0.0.1 (``tests/servers/servers.py``), the reference backend as LiteLLM's upstream, the
whole mascot (the fault suite's ``make_mascot``), a local Sentry ingest for processes.

Every check prints one machine-readable line, ``[servers] result server=… check=… …``, for the
table in the closing notes and the README.
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
from tests.faults.conftest import ingest, make_mascot
from tests.servers.servers import (
    REPO,
    Running,
    start_litellm,
    start_local_tts,
    start_mock_llm,
    start_piper_http,
    start_tts_daemon,
)
from tests.support.reference_backend import ReferenceBackend
from tests.support.reference_chat import ReferenceChat, install_chat

__all__ = ["ingest", "make_mascot"]

#: The speech servers every speech check runs against (LiteLLM: in front of local-tts-studio).
SPEECH_SERVERS = ("local-tts-studio", "tts-daemon", "litellm")
#: Servers with no speech route: the embedded voice speaks.
VOICELESS_SERVERS = ("piper-http", "mock-llm")
#: One sentence (no comma: one piece, one request), so its length can be compared with the
#: server's own WAV of the same text.
TEXT = "The little robot reads every reply aloud for you."


def result(server: str, check: str, **values: object) -> None:
    """One line per check tried (the closing note's table is made from them)."""
    parts = " ".join(f"{k}={v}" for k, v in values.items())
    print(f"\n[servers] result server={server} check={check} {parts}".rstrip())


@pytest.fixture(scope="package")
def server_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


def _serve(start: object, *args: object, **kwargs: object) -> Iterator[Running]:
    server: Running = start(*args, **kwargs)  # type: ignore[operator]
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def local_tts(server_tmp: Path) -> Iterator[Running]:
    yield from _serve(start_local_tts, server_tmp)


@pytest.fixture(scope="package")
def tts_daemon(server_tmp: Path) -> Iterator[Running]:
    yield from _serve(start_tts_daemon, server_tmp)


@pytest.fixture(scope="package")
def piper_http(server_tmp: Path) -> Iterator[Running]:
    yield from _serve(start_piper_http, server_tmp)


@pytest.fixture(scope="package")
def mock_llm(server_tmp: Path) -> Iterator[Running]:
    yield from _serve(start_mock_llm, server_tmp)


@pytest.fixture(scope="package")
def upstream() -> Iterator[ReferenceBackend]:
    """The reference backend's assistant, behind LiteLLM (its faults are LiteLLM's upstream's)."""
    backend = ReferenceBackend(token="sk-upstream-token-5b1e").start()
    install_chat(backend)
    try:
        yield backend
    finally:
        backend.stop()


@pytest.fixture
def upstream_chat(upstream: ReferenceBackend) -> Iterator[ReferenceChat]:
    """The upstream's assistant, with no fault left from another test."""
    chat = install_chat(upstream)
    upstream.clear_faults()
    chat._faults.clear()
    yield chat
    upstream.clear_faults()
    chat._faults.clear()


@pytest.fixture(scope="package")
def litellm(server_tmp: Path, upstream: ReferenceBackend, local_tts: Running) -> Iterator[Running]:
    yield from _serve(
        start_litellm,
        server_tmp,
        upstream_url=upstream.openai_url,
        upstream_key=upstream.token,
        speech=local_tts,
    )


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Running:
    """The server a test is parametrized with (``name``)."""
    name = request.node.callspec.params["name"]
    fixture = {"local-tts-studio": "local_tts", "tts-daemon": "tts_daemon"}.get(name, name)
    running: Running = request.getfixturevalue(fixture.replace("-", "_"))
    return running


# --- companion as processes ------------------------------------------------------------------


def companion_env(config: Path, server: Running, key: str | None, **extra: str) -> dict[str, str]:
    """The environment a user's shell would give ``companion``: this server, this key."""
    config.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPANION_")}
    if os.environ.get("COMPANION_TEST_PULSE"):
        env["COMPANION_TEST_PULSE"] = "1"
    env.update(
        COMPANION_CONFIG_DIR=str(config),
        COMPANION_BACKEND_URL=server.base_url,
        COMPANION_ENVIRONMENT="test",
        QT_QPA_PLATFORM="offscreen",
        PYTHONPATH=str(REPO),
    )
    if key is not None:
        env["COMPANION_TOKEN"] = key
    env.update(extra)
    return env


def write_settings(config: Path, **values: object) -> None:
    config.mkdir(parents=True, exist_ok=True)
    (config / "settings.json").write_text(json.dumps({"greeted": True, **values}))


def run_companion(
    args: list[str], env: dict[str, str], *, timeout: float = 180.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "companion", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def mascot_processes(_private_config_dir: Path) -> Iterator[None]:
    """Mascots started by ``companion ask``/``say`` in this test's config dir: stopped after."""
    yield
    name = ipc.server_name()
    if not ipc.server_answers(name):
        return
    pid = int(ipc.send_request({"cmd": "show"}, name=name)["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
