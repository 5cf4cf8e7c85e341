# SPDX-License-Identifier: GPL-3.0-or-later
"""A backend that nobody answers at, or an address that is not one: the built-in voice speaks
with one notice naming the URL and no crash report; a TLS error is not papered over."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from companion.backend.client import BackendClient
from companion.backend.errors import Transient
from companion.config import Settings
from companion.speech.engines import choose_engine
from companion.speech.espeak_engine import EspeakEngine
from companion.speech.fallback import SessionFallback, take_notice
from companion.speech.remote_engine import RemoteEngine
from companion.speech.types import CancelToken
from tests.support.fixtures import RecordingTransport
from tests.support.reference_backend import ReferenceBackend

RATE = 22050
TEXT = "Nobody answers there, so I will."


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _engine(url: str) -> tuple[SessionFallback, BackendClient]:
    client = BackendClient(
        base_url=url, token=lambda: "tok", max_attempts=2, backoff_base=0.05, backoff_max=0.1
    )
    remote = RemoteEngine(client=client, sample_rate=RATE)
    engine = SessionFallback(
        primary=remote, embedded=lambda: EspeakEngine(sample_rate=RATE), url=url
    )
    return engine, client


def _speak(engine: SessionFallback) -> np.ndarray:
    chunks = list(engine.synthesize(TEXT, voice="alloy", speed=1.0, cancel=CancelToken()))
    return np.concatenate([c.samples for c in chunks])


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("refused", ["Nothing answers at http://127.0.0.1:", "connection refused", "Settings"]),
        ("dns", ["http://companion-test.invalid", "does not resolve", "Settings"]),
        ("invalid", ["\u201chttp://x..y/v1\u201d", "host name is not valid", "Settings"]),
    ],
)
def test_the_built_in_voice_speaks_and_one_notice_names_the_url(
    kind: str, words: list[str], sentry_transport: RecordingTransport
) -> None:
    url = {
        "refused": f"http://127.0.0.1:{_closed_port()}/v1",
        "dns": "http://companion-test.invalid/v1",
        "invalid": "http://x..y/v1",
    }[kind]
    engine, client = _engine(url)
    with client:
        samples = _speak(engine)
        assert float(np.max(np.abs(samples))) > 0.05  # espeak-ng said it
        assert engine.switched
        notice = take_notice(engine)
        assert notice is not None and "\n" not in notice
        assert all(w in notice for w in words), notice
        assert "Error" not in notice and "InvalidURL" not in notice
        assert take_notice(engine) is None
        _speak(engine)  # later pieces go straight to the built-in voice
        assert take_notice(engine) is None
    assert sentry_transport.events == []


def test_credentials_in_the_url_never_reach_the_notice() -> None:
    engine, client = _engine(f"http://user:secret@127.0.0.1:{_closed_port()}/v1?token=abc")
    with client:
        _speak(engine)
    notice = take_notice(engine)
    assert notice is not None and "secret" not in notice and "abc" not in notice


def test_a_tls_error_still_fails_the_reply(reference_backend: ReferenceBackend) -> None:
    engine, client = _engine(f"https://127.0.0.1:{reference_backend.port}/v1")
    with client, pytest.raises(Transient) as caught:
        _speak(engine)
    assert caught.value.reason == "tls" and not engine.switched


def test_an_invalid_url_never_builds_the_backend_voice() -> None:
    client = BackendClient(base_url="htp//127.0.0.1:8000", token=lambda: None)
    with client:
        choice = choose_engine(Settings(), client=client, sample_rate=RATE)
    assert choice.kind in ("piper", "espeak")
    assert choice.notice is not None and "\u201chtp//127.0.0.1:8000\u201d" in choice.notice
    assert "http://" in choice.notice  # how a valid one looks
