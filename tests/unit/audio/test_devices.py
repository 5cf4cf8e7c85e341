# SPDX-License-Identifier: GPL-3.0-or-later
"""Output devices on this machine's PortAudio, and without PortAudio (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from companion.audio import devices

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.audio
def test_pulse_devices_are_listed_and_found_by_name(pulse: None) -> None:
    names = devices.list_output_devices()
    assert names, "the PulseAudio null sink should give at least one output device"
    assert devices.default_output_device() is not None
    for name in names:
        index = devices.find_device(name.upper())  # case does not matter
        assert index is not None
        assert devices.device_name(index).casefold() == name.casefold()


@pytest.mark.audio
def test_exact_name_wins_over_a_substring(pulse: None) -> None:
    names = devices.list_output_devices()
    for name in names:
        index = devices.find_device(name)
        assert index is not None
        assert devices.device_name(index) == name


@pytest.mark.audio
def test_substring_match(pulse: None) -> None:
    name = devices.list_output_devices()[0]
    index = devices.find_device(name[1:-1] if len(name) > 2 else name)
    assert index is not None
    assert name[1:-1].casefold() in devices.device_name(index).casefold()


@pytest.mark.audio
def test_no_match(pulse: None) -> None:
    assert devices.find_device("there is no sound card called this") is None
    assert devices.find_device("   ") is None


def test_without_portaudio_there_are_no_devices_and_a_notice() -> None:
    code = textwrap.dedent(
        """
        import importlib.abc, json, sys
        class NoPortAudio(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "sounddevice":
                    raise OSError("PortAudio library not found")
                return None
        sys.meta_path.insert(0, NoPortAudio())
        from companion.audio import devices
        print(json.dumps({
            "notice": devices.load_backend().notice,
            "list": devices.list_output_devices(),
            "find": devices.find_device("pulse"),
            "default": devices.default_output_device(),
            "name": devices.device_name(0),
        }))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert json.loads(out) == {
        "notice": devices.NO_PORTAUDIO,
        "list": [],
        "find": None,
        "default": None,
        "name": "",
    }
