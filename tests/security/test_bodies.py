# SPDX-License-Identifier: GPL-3.0-or-later
"""Every body has a ceiling: endless bodies, gzip bombs and a 100 MB SSE line from a hostile
server on 127.0.0.1, met by real victim processes (``companion speak``; the sign-in exchange,
``/auth/me`` and a chat reply through :mod:`tests.security.victims`). Each ends in under
30 s with peak RSS under 400 MB (:func:`record`), one clear line on stderr, no traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.security.conftest import Victim, companion_argv, companion_env, record, run_victim
from tests.security.hostile_server import Attack, HostileServer, wav_header

SPEECH = "/openai/v1/audio/speech"
CHAT = "/openai/v1/chat/completions"
CONSUME = "/auth/login-token/consume"
ME = "/auth/me"
ENV = {"COMPANION_REQUEST_DEADLINE": "25", "COMPANION_READ_TIMEOUT": "10"}


def _victim(kind: str, url: str, config: Path) -> Victim:
    argv = [sys.executable, "-m", "tests.security.victims", kind, url]
    return run_victim(argv, companion_env(config, **ENV))


def _speak(url: str, config: Path, out: Path) -> Victim:
    env = companion_env(config, COMPANION_BACKEND_URL=url, COMPANION_TOKEN="speak-token", **ENV)
    return run_victim(companion_argv("speak", "Walrus umbrellas.", "--output", str(out)), env)


def _one_clear_line(victim: Victim, prefix: str) -> str:
    lines = victim.lines()
    assert "Traceback" not in victim.stderr, victim.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith(prefix), victim.stderr[-3000:]
    return lines[0]


JSON_ATTACKS = {
    "endless 200": Attack("endless"),
    "gzip bomb 200": Attack("gzip_bomb"),
    "endless 500": Attack("endless", status=500, content_type="text/html"),
    "gzip bomb 401": Attack("gzip_bomb", status=401),
}


@pytest.mark.parametrize("name", list(JSON_ATTACKS))
@pytest.mark.parametrize(("kind", "path"), [("exchange", CONSUME), ("me", ME)])
def test_json_answers_have_a_ceiling(kind: str, path: str, name: str, tmp_path: Path) -> None:
    with HostileServer({path: JSON_ATTACKS[name]}) as server:
        victim = _victim(kind, server.url, tmp_path)
    line = _one_clear_line(victim, "sign-in: ")
    print(f"\n[security] {kind} {name}: {line} {victim.seconds:.1f} s {victim.peak_rss_mb:.0f} MB")
    assert victim.returncode == 1
    if name.endswith("401"):
        assert "Unauthorized" in line  # an endless 401 is still the sign-in path
    elif name.endswith("500"):
        assert "HttpError" in line
    else:
        assert "ProtocolError answer too large" in line
    record(
        f"{kind}: {name} body",
        line.split("[", 1)[1].rstrip("]"),
        victim.seconds,
        victim.peak_rss_mb,
    )


SPEECH_ATTACKS = {
    # 48 kHz stereo 32-bit PCM forever: the decoded-length ceiling (65 s) or 25 MB stop it.
    "endless WAV": Attack("endless", content_type="audio/wav", head=wav_header()),
    "endless JSON speech": Attack("endless"),
    "endless error body": Attack("endless", status=500, content_type="text/plain"),
    "gzip bomb speech": Attack("gzip_bomb", content_type="audio/wav"),
}


@pytest.mark.parametrize("name", list(SPEECH_ATTACKS))
def test_speech_answers_have_a_ceiling(name: str, tmp_path: Path) -> None:
    out = tmp_path / "never.wav"
    with HostileServer({SPEECH: SPEECH_ATTACKS[name]}) as server:
        victim = _speak(server.url, tmp_path / "config", out)
    line = _one_clear_line(victim, "companion speak: ")
    print(f"\n[security] speak {name}: {line} {victim.seconds:.1f} s {victim.peak_rss_mb:.0f} MB")
    assert victim.returncode == 1
    assert not out.exists()
    record(
        f"speak: {name}", line.removeprefix("companion speak: "), victim.seconds, victim.peak_rss_mb
    )


CHAT_ATTACKS = {
    "100 MB SSE line": Attack("sse_line", content_type="text/event-stream"),
    "endless SSE line": Attack("endless", content_type="text/event-stream", head=b"data: "),
    "endless SSE event": Attack(
        "endless", content_type="text/event-stream", fill=b'data: {"choices": []}\n' * 1000
    ),
    "endless JSON completion": Attack("endless"),
}


@pytest.mark.parametrize("name", list(CHAT_ATTACKS))
def test_chat_streams_have_a_ceiling(name: str, tmp_path: Path) -> None:
    with HostileServer({CHAT: CHAT_ATTACKS[name]}) as server:
        victim = _victim("chat", server.url, tmp_path)
    line = _one_clear_line(victim, "chat: ")
    print(f"\n[security] chat {name}: {line} {victim.seconds:.1f} s {victim.peak_rss_mb:.0f} MB")
    assert victim.returncode == 1
    assert "ProtocolError answer too large" in line
    record(f"chat: {name}", line.split("[", 1)[1].rstrip("]"), victim.seconds, victim.peak_rss_mb)


@pytest.mark.parametrize(
    ("name", "reports"), [("endless JSON speech", 1), ("endless error body", 1)]
)
def test_an_oversized_answer_is_reported_once_without_its_body(
    name: str, reports: int, tmp_path: Path
) -> None:
    """The table's word on a server fault: one crash report (``failure=protocol`` for a 2xx
    past its ceiling, ``non_2xx`` for the 500), carrying counts, never a byte of the body."""
    from tests.faults.ingest import Ingest

    ingest = Ingest()
    try:
        with HostileServer({SPEECH: SPEECH_ATTACKS[name]}) as server:
            env = companion_env(
                tmp_path / "config",
                COMPANION_BACKEND_URL=server.url,
                COMPANION_TOKEN="speak-token",
                COMPANION_SENTRY_DSN=ingest.dsn,
                COMPANION_ENVIRONMENT="test",
                **ENV,
            )
            out = str(tmp_path / "never.wav")
            victim = run_victim(companion_argv("speak", "Walrus umbrellas.", "--output", out), env)
        _one_clear_line(victim, "companion speak: ")
        events = ingest.events()
        dump = ingest.dump()
    finally:
        ingest.close()
    assert len(events) == reports, dump[:2000]
    want = "protocol" if name == "endless JSON speech" else "non_2xx"
    assert events[0]["tags"]["failure"] == want
    assert "xxxxxxxx" not in dump and "speak-token" not in dump
