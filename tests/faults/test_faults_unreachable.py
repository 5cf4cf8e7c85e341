# SPDX-License-Identifier: GPL-3.0-or-later
"""Speech that always finds a voice: with the default engine, a backend that nobody answers at
(connection refused, a name that does not resolve), an address that is not one, or a server
that chats but has no speech route (Ollama-like) — the built-in voice speaks the reply, ONE
notice names the URL, and no crash report is sent. Through the whole mascot (offscreen, real
sentry-sdk with a recording transport) and ``companion speak`` as a real process (a real
local Sentry ingest endpoint)."""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from tests.faults.conftest import QT_OFFSCREEN_NOISE, Mascot, bad_url
from tests.faults.ingest import Ingest
from tests.faults.test_faults_speak import run_speak
from tests.support.fixtures import RecordingTransport
from tests.support.reference_backend import ReferenceBackend

pytestmark = pytest.mark.qt_log_ignore(QT_OFFSCREEN_NOISE)

TEXT = "Capybaras wait patiently."
KINDS = ("refused", "dns", "invalid", "chat_only")


def address(kind: str, backend: ReferenceBackend) -> tuple[str, str]:
    """The backend URL for ``kind``, and what the notice must name of it."""
    if kind in ("refused", "dns"):
        url = bad_url(kind, backend)
        return url, url
    if kind == "invalid":
        return "http//127.0.0.1:8000/v1", "\u201chttp//127.0.0.1:8000/v1\u201d"
    backend.speech.route = False  # /v1/chat/completions answers, /v1/audio/speech is a 404
    return backend.openai_url, backend.openai_url


@pytest.mark.parametrize("kind", KINDS)
def test_the_mascot_speaks_with_the_built_in_voice_and_says_why_once(
    kind: str,
    qtbot: QtBot,
    make_mascot: Callable[..., Mascot],
    reference_backend: ReferenceBackend,
    sentry_transport: RecordingTransport,
) -> None:
    url, named = address(kind, reference_backend)
    m = make_mascot(token=reference_backend.token, backend_url=url)
    for n in range(2):
        count = len(m.finished)
        assert m.app.router.say(f"{TEXT} Number {n}.") is not None
        qtbot.wait_until(lambda c=count: len(m.finished) > c or bool(m.failed), timeout=30000)
        assert m.failed == []
    qtbot.wait_until(lambda: any(named in t for t, _, _ in m.bubble.messages), timeout=5000)
    notices = [t for t, _, _ in m.bubble.messages if "built-in voice" in t or "espeak" in t]
    assert len(notices) == 1, m.bubble.messages
    assert named in notices[0] and "Settings" in notices[0]
    assert m.bubble.errors() == []
    assert sentry_transport.events == []
    print(f"\n[faults] unreachable mascot {kind}: {notices[0]}")


@pytest.mark.parametrize("kind", KINDS)
def test_speak_uses_the_built_in_voice_with_one_line(
    kind: str,
    reference_backend: ReferenceBackend,
    ingest: Ingest,
    tmp_path: Path,
    _private_config_dir: Path,
) -> None:
    url, named = address(kind, reference_backend)
    out = tmp_path / "spoken.wav"
    done, took = run_speak(
        _private_config_dir, url, reference_backend.token, ingest.dsn, TEXT, "--output", str(out)
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    print(f"\n[faults] unreachable speak {kind}: exit {done.returncode} {took:.1f} s {lines}")
    assert done.returncode == 0, done.stderr
    assert len(lines) == 1 and lines[0].startswith("companion speak: "), done.stderr
    assert named in lines[0] and "Traceback" not in done.stderr
    with wave.open(str(out)) as wav:
        assert wav.getnframes() > wav.getframerate() // 2  # the built-in voice said it
    assert ingest.events() == []
