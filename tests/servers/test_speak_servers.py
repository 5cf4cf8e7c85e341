# SPDX-License-Identifier: GPL-3.0-or-later
"""``companion speak`` (a real process) against real speech servers: every response-format
setting ends in speech at the server's own speed (the WAV written is within 3 % of the WAV
the server itself makes for the text), the mouth has something to do, a wrong key is exit 3
with one line, and not one crash report reaches the local Sentry ingest.

A server without a speech route (Piper's own HTTP server, an npm chat mock) hands over to the
embedded voice with one notice, still exit 0 and no report.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import soundfile

from tests.faults.ingest import Ingest
from tests.servers.conftest import (
    SPEECH_SERVERS,
    TEXT,
    VOICELESS_SERVERS,
    companion_env,
    result,
    run_companion,
    write_settings,
)
from tests.servers.servers import RIGHT_KEY, WRONG_KEY, Running

#: Speech heard at the server's own speed: the lengths agree within this.
SPEED_TOLERANCE = 0.03
FORMATS = ("auto", "wav", "pcm", "mp3", "flac", "opus")


def seconds(data: bytes) -> float:
    info = soundfile.info(io.BytesIO(data))
    return float(info.frames) / float(info.samplerate)


def mouth_open_share(visemes: Path, total_s: float) -> float:
    """The share of the reply during which the mouth is not closed (``sil``)."""
    cues = json.loads(visemes.read_text())
    open_ms = sum(c["end_ms"] - c["start_ms"] for c in cues if c["viseme"] != "sil")
    return open_ms / (1000.0 * total_s)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", SPEECH_SERVERS)
def test_speech_at_the_servers_own_speed(
    name: str, fmt: str, server: Running, ingest: Ingest, _private_config_dir: Path, tmp_path: Path
) -> None:
    own = seconds(server.own_wav(TEXT))
    write_settings(_private_config_dir, response_format=fmt)
    out, visemes = tmp_path / "out.wav", tmp_path / "visemes.json"
    env = companion_env(_private_config_dir, server, server.key, COMPANION_SENTRY_DSN=ingest.dsn)
    done = run_companion(["speak", TEXT, "--output", str(out), "--visemes", str(visemes)], env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip() == "", done.stderr
    got = seconds(out.read_bytes())
    ratio = got / own
    share = mouth_open_share(visemes, got)
    memory = _private_config_dir / "state" / "speech_formats.json"
    spoke = json.loads(memory.read_text())["servers"] if memory.exists() else {}
    result(name, f"speak_format_{fmt}", ratio=f"{ratio:.4f}", mouth_open=f"{share:.2f}",
           reports=len(ingest.events()), memory=json.dumps(spoke, sort_keys=True))  # fmt: skip
    assert abs(ratio - 1.0) <= SPEED_TOLERANCE, (got, own)
    assert share > 0.3  # the mouth moves through most of it
    assert ingest.events() == []


@pytest.mark.parametrize("name", SPEECH_SERVERS)
def test_a_wrong_key_is_exit_3_and_no_report(
    name: str, server: Running, ingest: Ingest, _private_config_dir: Path, tmp_path: Path
) -> None:
    write_settings(_private_config_dir)
    env = companion_env(_private_config_dir, server, WRONG_KEY, COMPANION_SENTRY_DSN=ingest.dsn)
    done = run_companion(["speak", TEXT, "--output", str(tmp_path / "never.wav")], env)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    result(name, "speak_wrong_key", exit=done.returncode, lines=len(lines),
           reports=len(ingest.events()))  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert len(lines) == 1 and lines[0].startswith("companion speak: signed out:"), lines
    assert "Traceback" not in done.stderr and WRONG_KEY not in done.stderr
    assert not (tmp_path / "never.wav").exists()
    assert ingest.events() == []


@pytest.mark.parametrize("name", VOICELESS_SERVERS)
def test_a_server_without_speech_hands_over_to_the_embedded_voice(
    name: str, server: Running, ingest: Ingest, _private_config_dir: Path, tmp_path: Path
) -> None:
    write_settings(_private_config_dir)
    out = tmp_path / "out.wav"
    env = companion_env(_private_config_dir, server, RIGHT_KEY, COMPANION_SENTRY_DSN=ingest.dsn)
    done = run_companion(["speak", TEXT, "--output", str(out)], env)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    result(name, "speak_no_speech_route", exit=done.returncode, notice=json.dumps(lines),
           reports=len(ingest.events()))  # fmt: skip
    assert done.returncode == 0, done.stderr
    host = server.base_url.split("//", 1)[1].split("/", 1)[0]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"companion speak: The server at http://{host}")
    assert "has no voice (HTTP 404), so the built-in voice speaks instead" in lines[0]
    assert 1.0 < seconds(out.read_bytes()) < 8.0  # the embedded voice said the sentence
    assert ingest.events() == []
