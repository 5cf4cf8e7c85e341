# SPDX-License-Identifier: GPL-3.0-or-later
"""``companion --self-test`` as a process: one line, exit 0, with real audio or the silent clock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _self_test(cfg: Path, env_changes: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(COMPANION_CONFIG_DIR=str(cfg), QT_QPA_PLATFORM="offscreen")
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-m", "companion", "--self-test"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=180,
    )  # fmt: skip


def _check(result: subprocess.CompletedProcess[str], output: str) -> None:
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(lines) == 1, result.stdout
    assert lines[0].startswith("companion self-test: ok: ")
    assert output in lines[0]
    assert "mouth moved" in lines[0] and "came back to rest" in lines[0]
    assert "0 warnings" in lines[0]
    # Nothing Qt said is printed and then not counted (a warning, then "0 warnings").
    assert "qt:" not in result.stderr and "This plugin does not support" not in result.stderr


def test_self_test_to_the_default_output(_private_config_dir: Path, pulse: None) -> None:
    _check(_self_test(_private_config_dir, {}), "default output")


def test_self_test_on_the_silent_clock(_private_config_dir: Path) -> None:
    no_audio = {"PULSE_SERVER": "unix:/nonexistent", "XDG_RUNTIME_DIR": str(_private_config_dir)}
    result = _self_test(_private_config_dir, no_audio)
    _check(result, "silent clock")


@pytest.mark.parametrize("platform", ["no-such-platform"])
def test_self_test_fails_with_a_reason(_private_config_dir: Path, platform: str) -> None:
    result = _self_test(_private_config_dir, {"QT_QPA_PLATFORM": platform})
    assert result.returncode != 0
