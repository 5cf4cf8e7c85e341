# SPDX-License-Identifier: GPL-3.0-or-later
"""Secrets stay out of errors, logs and crash reports (issue 17).

A token with CR/LF, a colon or a space used to end in the text of urllib3's ``InvalidHeader``
(the whole header value), and so in a crash report; debug logging printed request lines with
their query strings. Here each is tried on real processes: ``companion speak`` and ``companion
ask`` (through a mascot process of its own) against the reference backend on 127.0.0.1, crash
reports going to a real local Sentry ingest. Each ends in one clear line and a non-zero exit,
no traceback, no request made, and the token's value (even its first part, before the bad
character) appears in no output, log line or envelope. With debug logging on, a request line
whose query carries a token shows ``?[Filtered]``.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from companion.replies import ipc
from tests.faults.ingest import Ingest
from tests.security.conftest import companion_argv, companion_env, record, run_victim
from tests.support.reference_backend import ReferenceBackend
from tests.support.reference_chat import install_chat

SPEECH = "/openai/v1/audio/speech"
TEXT = "Walrus umbrellas drift north at midnight."
SHORT = {"COMPANION_CONNECT_TIMEOUT": "2", "COMPANION_READ_TIMEOUT": "5"}
#: What follows the token's first part, and what the line says of it.
BAD = {
    "CR/LF": ("\r\nX-Injected: 1", "it contains a line break"),
    "colon": (":x", "it contains a colon"),
    "space": (" x", "it contains a space"),
}


@pytest.fixture
def backend() -> Iterator[ReferenceBackend]:
    with ReferenceBackend() as server:
        yield server


@pytest.fixture
def ingest() -> Iterator[Ingest]:
    server = Ingest()
    yield server
    server.close()


def _head() -> str:
    """The token's first part: unique, so a hit anywhere is this test's token."""
    return f"tok-{secrets.token_hex(10)}"


def _env(
    cfg: Path, backend: ReferenceBackend, ingest: Ingest, token: str, **extra: str
) -> dict[str, str]:
    return companion_env(
        cfg,
        COMPANION_BACKEND_URL=backend.url,
        COMPANION_TOKEN=token,
        COMPANION_SENTRY_DSN=ingest.dsn,
        COMPANION_ENVIRONMENT="test",
        **SHORT,
        **extra,
    )


@pytest.mark.parametrize("kind", list(BAD))
@pytest.mark.parametrize("level", ["", "debug"])
def test_speak_with_a_token_no_header_can_carry(
    kind: str, level: str, tmp_path: Path, backend: ReferenceBackend, ingest: Ingest
) -> None:
    head = _head()
    tail, problem = BAD[kind]
    extra = {"COMPANION_LOG_LEVEL": level} if level else {}
    env = _env(tmp_path / "config", backend, ingest, head + tail, **extra)
    wav = tmp_path / "out.wav"
    victim = run_victim(companion_argv("speak", TEXT, "--output", str(wav)), env)
    assert victim.returncode == 1, victim.stderr
    assert "Traceback" not in victim.stderr
    want = f"companion speak: COMPANION_TOKEN cannot be used ({problem}), so it was not sent"
    lines = victim.lines()
    if not level:
        assert len(lines) == 1 and lines[0].startswith(want), victim.stderr
    else:
        assert sum(line.startswith(want) for line in lines) == 1, victim.stderr
    assert backend.connections == 0 and backend.requests == []  # nothing was sent
    assert not wav.exists()
    time.sleep(0.2)  # the ingest's handler threads finish storing what they received
    assert ingest.events() == []  # an expected state: no crash report
    files = [p.read_text(errors="replace") for p in (tmp_path / "config").rglob("*") if p.is_file()]
    for where in (victim.stdout, victim.stderr, ingest.dump(), *files):
        assert head not in where
    mode = "debug log" if level else "default log"
    record(
        f"token with {kind} (speak, {mode})",
        "not sent, one line, exit 1, token in no output/report",
        victim.seconds,
        victim.peak_rss_mb,
    )


def test_debug_logging_filters_query_strings(
    tmp_path: Path, backend: ReferenceBackend, ingest: Ingest
) -> None:
    """The server moves speech to a same-origin address whose query carries a token; with
    debug logging on, urllib3's request line for it shows ``?[Filtered]``."""
    secret = f"q-{secrets.token_hex(10)}"
    backend.inject(status=307, location=f"{SPEECH}?token={secret}&sig={secret}", path=SPEECH)
    env = _env(tmp_path / "config", backend, ingest, backend.token, COMPANION_LOG_LEVEL="debug")
    wav = tmp_path / "out.wav"
    victim = run_victim(companion_argv("speak", TEXT, "--output", str(wav)), env)
    assert victim.returncode == 0, victim.stderr
    assert wav.stat().st_size > 1000
    assert f'"POST {SPEECH}?[Filtered] HTTP/1.1" 200' in victim.stderr, victim.stderr
    assert "Bearer" not in victim.stderr or "Bearer [Filtered]" in victim.stderr
    for where in (victim.stdout, victim.stderr, ingest.dump()):
        assert secret not in where and backend.token not in where
    record(
        "token in a URL query (speak, debug log)",
        "request line shows ?[Filtered], spoken",
        victim.seconds,
        victim.peak_rss_mb,
    )


def _peak_mb(pid: int) -> float:
    """A live process's peak RSS (``VmHWM``), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.mark.parametrize("kind", list(BAD))
def test_ask_with_a_token_no_header_can_carry(
    kind: str, _private_config_dir: Path, backend: ReferenceBackend, ingest: Ingest
) -> None:
    """``ask --print`` through a mascot process started here (its standard error kept, debug
    logging on): the reply ends in the mascot's line, nothing reaches the chat route."""
    install_chat(backend)
    cfg = _private_config_dir  # this process's IPC name is the mascot's
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "settings.json").write_text(json.dumps({"engine": "espeak", "greeted": True}))
    head = _head()
    tail, problem = BAD[kind]
    env = _env(cfg, backend, ingest, head + tail, QT_QPA_PLATFORM="offscreen")
    mascot_log = cfg.parent / "mascot.log"
    with mascot_log.open("wb") as log_file:
        mascot = subprocess.Popen(
            companion_argv(),
            env={**env, "COMPANION_LOG_LEVEL": "debug"},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
        )
    try:
        deadline = time.monotonic() + 30
        while not ipc.server_answers(ipc.server_name()):
            assert mascot.poll() is None, mascot_log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the mascot did not listen in 30 s"
            time.sleep(0.05)
        victim = run_victim(companion_argv("ask", "--print", "Say hello"), env)
        mascot_mb = _peak_mb(mascot.pid)
    finally:
        _stop(mascot)
    assert victim.returncode == 1, victim.stderr
    (line,) = victim.lines()
    assert line.startswith(f"companion ask: COMPANION_TOKEN cannot be used ({problem})"), line
    assert victim.stdout == "" and "Traceback" not in victim.stderr
    assert backend.requests == []
    time.sleep(0.2)
    assert ingest.events() == []
    mascot_text = mascot_log.read_text(errors="replace")
    assert "Traceback" not in mascot_text
    files = [p.read_text(errors="replace") for p in cfg.rglob("*") if p.is_file()]
    for where in (victim.stdout, victim.stderr, mascot_text, ingest.dump(), *files):
        assert head not in where
    record(
        f"token with {kind} (ask via the mascot, debug log)",
        "not sent, one line, exit 1, token in no output/log/report",
        victim.seconds,
        max(victim.peak_rss_mb, mascot_mb),  # the mascot made (did not make) the request
    )
