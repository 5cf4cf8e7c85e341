# SPDX-License-Identifier: GPL-3.0-or-later
"""Deeply nested JSON wherever it crosses a trust boundary: HTTP answers (speech, the sign-in
exchange, ``/auth/me``, an error body, a chat event) from a hostile server, and the settings
and credentials files. Each is one clear line (or a file set aside), never a RecursionError.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.security.conftest import Victim, companion_argv, companion_env, record, run_victim
from tests.security.hostile_server import Attack, HostileServer

DEEP = b"[" * 200_000 + b"]" * 200_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
ENV = {"COMPANION_REQUEST_DEADLINE": "25", "COMPANION_READ_TIMEOUT": "10"}


def _clear(victim: Victim, prefix: str) -> str:
    assert "Traceback" not in victim.stderr and "RecursionError" not in victim.stderr, (
        victim.stderr[-3000:]
    )
    lines = victim.lines()
    assert len(lines) == 1 and lines[0].startswith(prefix), victim.stderr[-3000:]
    return lines[0]


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_speak_meets_deep_json(body: bytes, tmp_path: Path) -> None:
    attack = Attack("body", body=body)
    with HostileServer({"/openai/v1/audio/speech": attack}) as server:
        env = companion_env(tmp_path, COMPANION_BACKEND_URL=server.url, COMPANION_TOKEN="t", **ENV)
        out = str(tmp_path / "never.wav")
        victim = run_victim(companion_argv("speak", "Walrus umbrellas.", "--output", out), env)
    line = _clear(victim, "companion speak: ")
    assert victim.returncode == 1 and "could not understand" in line
    shape = "array" if body == DEEP else "object"
    record(
        f"speak: deep JSON speech answer ({shape})",
        "ProtocolError",
        victim.seconds,
        victim.peak_rss_mb,
    )


@pytest.mark.parametrize(
    ("kind", "path", "status"),
    [
        ("exchange", "/auth/login-token/consume", 200),
        ("me", "/auth/me", 200),
        ("exchange", "/auth/login-token/consume", 400),  # a deep error body
        ("chat", "/openai/v1/chat/completions", 200),
    ],
)
def test_calls_meet_deep_json(kind: str, path: str, status: int, tmp_path: Path) -> None:
    body = DEEP if kind != "chat" else b"data: " + DEEP + b"\n\n"
    content_type = "text/event-stream" if kind == "chat" else "application/json"
    attack = Attack("body", status=status, body=body, content_type=content_type)
    with HostileServer({path: attack}) as server:
        argv = [sys.executable, "-m", "tests.security.victims", kind, server.url]
        victim = run_victim(argv, companion_env(tmp_path, **ENV))
    line = _clear(victim, f"{'chat' if kind == 'chat' else 'sign-in'}: ")
    assert victim.returncode == 1
    expected = "HttpError" if status == 400 else "ProtocolError"
    assert expected in line
    record(f"{kind}: deep JSON ({status})", expected, victim.seconds, victim.peak_rss_mb)


def test_a_deep_settings_file_is_set_aside(tmp_path: Path) -> None:
    """``speak`` reads the settings: a deep settings file is damaged (set aside), the command
    goes on with the defaults (here to a server whose answer is deep JSON too)."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_bytes(DEEP)
    attack = Attack("body", body=DEEP)
    with HostileServer({"/openai/v1/audio/speech": attack}) as server:
        env = companion_env(config, COMPANION_BACKEND_URL=server.url, COMPANION_TOKEN="t", **ENV)
        out = str(tmp_path / "never.wav")
        victim = run_victim(companion_argv("speak", "Walrus umbrellas.", "--output", out), env)
    assert "Traceback" not in victim.stderr and "RecursionError" not in victim.stderr, (
        victim.stderr[-3000:]
    )
    assert not (config / "settings.json").exists()
    assert list(config.glob("settings.json.corrupt-*"))
    record(
        "settings: deep JSON file", f"exit {victim.returncode}", victim.seconds, victim.peak_rss_mb
    )
