# SPDX-License-Identifier: GPL-3.0-or-later
"""``scripts/pulse.sh`` and ``companion_pulse_stop`` (what ``scripts/test.sh`` runs on exit):
what it started is stopped; a server that was running before is left running. Real
PulseAudio daemons on a private runtime dir."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("pulseaudio") is None or shutil.which("pacat") is None,
    reason="PulseAudio is not installed",
)


def _bash(runtime: Path, script: str, inherited: str = "") -> str:
    """Runs ``script`` after sourcing pulse.sh, as a child of a shell whose own start record
    (``inherited``, e.g. scripts/test.sh's) is in the environment."""
    prelude = f"export XDG_RUNTIME_DIR={runtime}; . scripts/pulse.sh >/dev/null"
    env = {k: v for k, v in os.environ.items() if k != "COMPANION_PULSE_STARTED"}
    if inherited:
        env["COMPANION_PULSE_STARTED"] = inherited
    done = subprocess.run(
        ["bash", "-c", f"{prelude}; {script}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
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


def test_a_start_record_inherited_from_a_parent_shell_is_not_stopped(tmp_path: Path) -> None:
    """A child that sources pulse.sh under a parent's exported record (the CI's test.sh ran
    the suite with its own ``daemon pacat:PID`` in the environment) stops only what it started:
    never the parent's keep-alive, never the parent's server."""
    runtime = tmp_path / "rt"
    parents_pacat = subprocess.Popen(["sleep", "60"])
    first = _bash(runtime, 'echo "$COMPANION_PULSE_STARTED"')  # the "parent's" server
    try:
        inherited = f"daemon pacat:{parents_pacat.pid}"
        second = _bash(runtime, 'echo "$COMPANION_PULSE_STARTED"; companion_pulse_stop', inherited)
        assert second.split() == []  # the inherited record is not this shell's
        assert _alive(parents_pacat.pid) and _running(runtime)
    finally:
        parents_pacat.kill()
        parents_pacat.wait()
        _bash(runtime, f'COMPANION_PULSE_STARTED="{first.strip()}"; companion_pulse_stop')
