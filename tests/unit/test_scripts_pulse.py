# SPDX-License-Identifier: GPL-3.0-or-later
"""``scripts/pulse.sh`` and ``companion_pulse_stop`` (what ``scripts/test.sh`` runs on exit):
what it started is stopped; a server that was running before is left running. Real
PulseAudio daemons on a private runtime dir."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("pulseaudio") is None or shutil.which("pacat") is None,
    reason="PulseAudio is not installed",
)


def _bash(runtime: Path, script: str) -> str:
    prelude = f"export XDG_RUNTIME_DIR={runtime}; . scripts/pulse.sh >/dev/null"
    done = subprocess.run(
        ["bash", "-c", f"{prelude}; {script}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _running(runtime: Path) -> bool:
    env = {"XDG_RUNTIME_DIR": str(runtime), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text().lower()


def test_what_it_started_is_stopped(tmp_path: Path) -> None:
    runtime = tmp_path / "rt"
    out = _bash(runtime, 'echo "$COMPANION_PULSE_STARTED"; companion_pulse_stop')
    started = out.split()
    assert "daemon" in started
    pacat = int(next(w for w in started if w.startswith("pacat:")).split(":")[1])
    for _ in range(50):
        if not _running(runtime) and not _alive(pacat):
            break
        subprocess.run(["sleep", "0.1"])
    assert not _running(runtime) and not _alive(pacat)


def test_a_server_running_before_is_left_running(tmp_path: Path) -> None:
    runtime = tmp_path / "rt"
    first = _bash(runtime, 'echo "$COMPANION_PULSE_STARTED"')  # started, left running
    try:
        second = _bash(runtime, 'echo "$COMPANION_PULSE_STARTED"; companion_pulse_stop')
        assert "daemon" not in second.split() and "pacat:" not in second  # it started nothing
        assert _running(runtime)
    finally:
        _bash(runtime, f'COMPANION_PULSE_STARTED="{first.strip()}"; companion_pulse_stop')
