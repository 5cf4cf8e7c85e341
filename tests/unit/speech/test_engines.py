# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from companion.backend.client import BackendClient
from companion.config import Settings
from companion.speech import engines, piper_engine
from companion.speech.engines import EngineUnavailable, choose_engine, create_engine
from companion.speech.types import CancelToken, SpeechEngine


@pytest.fixture
def client() -> Iterator[BackendClient]:
    c = BackendClient(base_url="http://127.0.0.1:9", token=lambda: "t")
    yield c
    c.close()


@pytest.fixture
def broken_piper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(piper_engine, "espeak_data_dir", lambda: tmp_path / "missing")


def _says_something(engine: SpeechEngine) -> None:
    chunks = list(engine.synthesize("Hello.", voice=None, speed=1.0, cancel=CancelToken()))
    assert chunks and sum(len(c.samples) for c in chunks) > 0
    assert all(c.sample_rate == 22050 for c in chunks)
    assert np.max(np.abs(np.concatenate([c.samples for c in chunks]))) > 0.01


def test_auto_without_backend_is_piper() -> None:
    choice = choose_engine(Settings(), client=None)
    assert choice.kind == "piper" and choice.notice is None
    assert choice.engine.name == "piper"
    _says_something(choice.engine)


def test_auto_with_backend_is_remote(client: BackendClient) -> None:
    pytest.importorskip("companion.speech.remote_engine")
    choice = choose_engine(Settings(voice="nova"), client=client, sample_rate=24000)
    assert choice.kind == "remote" and choice.notice is None


def test_missing_remote_module_falls_back(
    client: BackendClient, broken_piper: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "companion.speech.remote_engine", None)
    choice = choose_engine(Settings(), client=client)
    assert choice.kind == "espeak"
    assert choice.notice is not None and "\n" not in choice.notice


def test_forced_espeak_even_with_backend(client: BackendClient) -> None:
    choice = choose_engine(Settings(engine="espeak"), client=client)
    assert choice.kind == "espeak" and choice.engine.name == "espeak-ng"
    _says_something(choice.engine)


def test_piper_failure_falls_back_to_espeak(
    broken_piper: None, client: BackendClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="companion.speech"):
        engine = create_engine(Settings(engine="piper"), client=client)
    assert engine.name == "espeak-ng"
    notices = [r for r in caplog.records if "using espeak-ng" in r.getMessage()]
    assert len(notices) == 1 and notices[0].levelno == logging.INFO
    assert "espeak-ng data folder" in notices[0].getMessage()
    _says_something(engine)


def test_no_voice_at_all(broken_piper: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "companion.speech.espeak_engine", None)
    with pytest.raises(EngineUnavailable, match="No voice available"):
        create_engine(Settings(), client=None)


def test_unknown_engine_setting_means_auto() -> None:
    settings = Settings()
    settings.engine = "bogus"
    assert engines.choose_engine(settings, client=None).kind == "piper"
