# SPDX-License-Identifier: GPL-3.0-or-later
"""Every network fault met by ``companion speak`` as a real process: it ends within its bound
with one line on standard error and the documented exit status (1), and sends crash reports
(to a real local Sentry ingest endpoint) exactly as the status table says.

The bound is 60 s per utterance (``RemoteEngine.deadline_s``); these runs shorten it with
``COMPANION_REQUEST_DEADLINE=2`` and 1 s connect/read timeouts (see
``companion/backend/client.py``). ``test_a_hung_server_ends_within_the_default_bound`` (slow)
runs once with the defaults.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults.conftest import (
    CONNECTION_FAULTS,
    EVIDENCE,
    SHORT_TIMEOUTS,
    SPEECH,
    SPEECH_FAULTS,
    bad_url,
    env_without_companion,
    expected_reports,
    presynthesize,
    result_line,
)
from tests.faults.ingest import Ingest
from tests.support.reference_backend import Fault, ReferenceBackend

ROOT = Path(__file__).resolve().parents[2]
TEXT = "Walrus umbrellas drift north."
EXIT_FAILED = 1
#: Process start (imports) plus the shortened deadline plus slack for a loaded machine.
BOUND_S = 2.0 + 12.0


def speak_fault(fault: str) -> Fault:
    table: dict[str, Fault] = {
        "hang": Fault(hang=math.inf, path=SPEECH, times=99),
        "drip": Fault(drip=1.0, path=SPEECH, times=99),
        "reset": Fault(reset_after=2048, path=SPEECH, times=99),
        "cut_short": Fault(cut_short=True, path=SPEECH, times=99),
        "corrupt": Fault(corrupt=True, path=SPEECH, times=99),
        "html_502": Fault(status=502, body="html", path=SPEECH, times=99),
        "429": Fault(status=429, retry_after="1", path=SPEECH, times=99),
    }
    return table[fault]


def run_speak(
    config: Path, url: str, token: str, dsn: str, *args: str, timeout: float = 120.0, **env: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    config.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "companion", "speak", *args],
        env=env_without_companion(
            COMPANION_CONFIG_DIR=str(config),
            COMPANION_BACKEND_URL=url,
            COMPANION_TOKEN=token,
            COMPANION_SENTRY_DSN=dsn,
            COMPANION_ENVIRONMENT="test",
            PYTHONPATH=str(ROOT),
            **env,
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    took = time.monotonic() - started
    EVIDENCE.add(f"speak {' '.join(args[:1])} stderr", done.stderr)
    EVIDENCE.add(f"speak {' '.join(args[:1])} stdout", done.stdout)
    return done, took


@pytest.mark.parametrize("fault", SPEECH_FAULTS)
def test_speak_ends_in_time_with_one_line(
    fault: str,
    reference_backend: ReferenceBackend,
    ingest: Ingest,
    tmp_path: Path,
    _private_config_dir: Path,
) -> None:
    backend = reference_backend
    backend.speech.audio_format = "wav"
    presynthesize(TEXT, "wav")
    url = bad_url(fault, backend) if fault in CONNECTION_FAULTS else backend.url
    if fault not in CONNECTION_FAULTS:
        backend.inject(speak_fault(fault))
    out = tmp_path / "never.wav"
    done, took = run_speak(
        _private_config_dir, url, backend.token, ingest.dsn, TEXT, "--output", str(out)
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    print(f"\n[faults] speak {fault}: exit {done.returncode} after {took:.1f} s: {lines}")
    assert done.returncode == EXIT_FAILED, done.stderr
    assert len(lines) == 1 and lines[0].startswith("companion speak: "), done.stderr
    assert "Traceback" not in done.stderr
    message = lines[0].lower()
    if expected_reports(fault):
        assert "could not understand" in message
    else:
        assert "not reachable" in message
    assert took < BOUND_S
    assert not out.exists()
    assert len(ingest.events()) == expected_reports(fault)
    for event in ingest.events():
        assert event["tags"]["failure"] == "protocol"
    result_line("speak", fault, reports=len(ingest.events()))


def test_speak_plays_once_the_fault_is_gone(
    reference_backend: ReferenceBackend, ingest: Ingest, tmp_path: Path, _private_config_dir: Path
) -> None:
    """The same command, the server healthy again (and playing, not writing a file)."""
    backend = reference_backend
    backend.speech.audio_format = "wav"
    presynthesize(TEXT, "wav")
    backend.inject(speak_fault("html_502"))
    failed, _ = run_speak(_private_config_dir, backend.url, backend.token, ingest.dsn, TEXT)
    assert failed.returncode == EXIT_FAILED
    backend.clear_faults()
    done, _ = run_speak(_private_config_dir, backend.url, backend.token, ingest.dsn, TEXT)
    assert done.returncode == 0, done.stderr
    assert ingest.events() == []


@pytest.mark.slow
def test_a_hung_server_ends_within_the_default_bound(
    reference_backend: ReferenceBackend, ingest: Ingest, tmp_path: Path, _private_config_dir: Path
) -> None:
    """No overrides: a server that never answers ends ``companion speak`` within 60 s."""
    backend = reference_backend
    backend.inject(speak_fault("hang"))
    env_off = {key: "" for key in SHORT_TIMEOUTS}
    done, took = run_speak(
        _private_config_dir,
        backend.url,
        backend.token,
        ingest.dsn,
        TEXT,
        "--output",
        str(tmp_path / "x.wav"),
        **env_off,
    )
    print(f"\n[faults] speak hang, default timeouts: exit {done.returncode} after {took:.1f} s")
    assert done.returncode == EXIT_FAILED
    assert took < 60.0 + 10.0
