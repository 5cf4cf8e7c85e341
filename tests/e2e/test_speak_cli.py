# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m companion speak`` as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile

from tests.support.reference_backend import ReferenceBackend

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120


@pytest.fixture(scope="module")
def shared_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One config dir for the module, so the prepared voice model is made only once."""
    return tmp_path_factory.mktemp("config")


def _env(config_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPANION_")}
    env.update(
        COMPANION_CONFIG_DIR=str(config_dir),
        PYTHONPATH=str(ROOT),
        PYTHONWARNINGS="error::DeprecationWarning",
    )
    for key in ("COMPANION_TEST_PULSE",):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra)
    return env


def _speak(
    config_dir: Path, *args: str, stdin: bytes | None = None, **env: str
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "companion", "speak", *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=_env(config_dir, **env),
        cwd=ROOT,
        timeout=TIMEOUT,
    )


def _err_lines(result: subprocess.CompletedProcess[bytes]) -> list[str]:
    return [line for line in result.stderr.decode().splitlines() if line.strip()]


def test_output_and_visemes(shared_config: Path, tmp_path: Path) -> None:
    wav, visemes = tmp_path / "hello.wav", tmp_path / "hello.json"
    result = _speak(
        shared_config,
        "# Hi!\n\nHello there, my friend. *waves* Dr. Smith paid $3.14 for it.",
        "--output",
        str(wav),
        "--visemes",
        str(visemes),
    )
    assert result.returncode == 0, result.stderr.decode()
    assert _err_lines(result) == [] and result.stdout == b""
    info = soundfile.info(str(wav))
    assert info.subtype == "PCM_16" and info.channels == 1 and info.duration > 2.0
    cues = json.loads(visemes.read_text())
    assert cues and all(set(c) == {"start_ms", "end_ms", "viseme"} for c in cues)
    assert cues[-1]["end_ms"] <= info.duration * 1000 + 20


def test_stdin(shared_config: Path, tmp_path: Path) -> None:
    wav = tmp_path / "stdin.wav"
    result = _speak(
        shared_config,
        "-",
        "--output",
        str(wav),
        stdin="Café time, from standard input. ☕\n".encode(),
    )
    assert result.returncode == 0, result.stderr.decode()
    assert soundfile.info(str(wav)).duration > 0.5


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00", "binary"),
        (b"\xff\xd8\xff\xe0 not utf-8 \xc3\x28", "not UTF-8"),
        (b"", "empty"),
    ],
)
def test_bad_stdin(shared_config: Path, stdin: bytes, expected: str) -> None:
    result = _speak(shared_config, "-", "--output", "never.wav", stdin=stdin)
    assert result.returncode == 1
    (line,) = _err_lines(result)
    assert line.startswith("companion speak: ") and expected in line
    assert not (ROOT / "never.wav").exists()


def test_backend_401_exits_3(shared_config: Path, reference_backend: ReferenceBackend) -> None:
    result = _speak(
        shared_config,
        "Hello.",
        COMPANION_BACKEND_URL=reference_backend.url,
        COMPANION_TOKEN="stale-token-value",
    )
    assert result.returncode == 3
    (line,) = _err_lines(result)
    assert "sign in again" in line and "stale-token-value" not in line
    assert len(reference_backend.speech_requests()) == 1


def test_backend_voice(
    shared_config: Path, reference_backend: ReferenceBackend, tmp_path: Path
) -> None:
    wav = tmp_path / "remote.wav"
    result = _speak(
        shared_config,
        "Hello from the backend.",
        "--output",
        str(wav),
        COMPANION_BACKEND_URL=reference_backend.url,
        COMPANION_TOKEN=reference_backend.token,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert soundfile.info(str(wav)).duration > 0.5


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("inherited", ["default", "ignored"])
def test_playback_and_ctrl_c(shared_config: Path, inherited: str) -> None:
    """Plays (null sink, or the silent clock), and Ctrl-C stops it cleanly with 130 — also
    when started with SIGINT ignored (a background job of a non-interactive shell), where
    Python installs no KeyboardInterrupt handler: the once-seen exit 0 after SIGINT."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "companion", "speak", "This is a long sentence. " * 12],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(shared_config, COMPANION_LOG_LEVEL="info"),
        cwd=ROOT,
        preexec_fn=_ignore_sigint if inherited == "ignored" else None,
    )
    assert proc.stderr is not None
    started = time.monotonic()
    for raw in proc.stderr:  # the first piece is in the player: it is playing now
        if b"[speak] playing" in raw:
            break
        assert time.monotonic() - started < TIMEOUT
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err.decode()[-3000:]
    assert b"Traceback" not in err
    assert b"companion speak: interrupted" in err
