# SPDX-License-Identifier: GPL-3.0-or-later
"""Test set-up shared by every test: offscreen Qt, a private config dir, no real Sentry."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.support.fixtures"]

# Set before anything imports Qt: tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.pop("COMPANION_SENTRY_DSN", None)
os.environ.pop("COMPANION_BACKEND_URL", None)
os.environ.pop("COMPANION_TOKEN", None)


@pytest.fixture(autouse=True)
def _private_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own settings and state folder."""
    cfg = tmp_path / "config"
    monkeypatch.setenv("COMPANION_CONFIG_DIR", str(cfg))
    yield cfg


def pulse_available() -> bool:
    """True when a PulseAudio server (scripts/pulse.sh) and PortAudio are both usable."""
    if not os.environ.get("COMPANION_TEST_PULSE"):
        return False
    try:
        import sounddevice  # noqa: F401
    except OSError:
        return False
    return True


@pytest.fixture
def pulse() -> None:
    """Skip unless real audio playback through the PulseAudio null sink is possible."""
    if not pulse_available():
        if os.environ.get("CI"):
            pytest.fail("CI must run audio tests: source scripts/pulse.sh (README test command)")
        pytest.skip("no PulseAudio null sink: run the README test command (scripts/test.sh)")
