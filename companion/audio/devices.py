# SPDX-License-Identifier: GPL-3.0-or-later
"""Output devices: loading PortAudio (through sounddevice) lazily, listing and finding devices.

``import sounddevice`` raises ``OSError`` when the PortAudio library is missing; this module
catches that once and turns it into a one-line notice, so everything downstream can fall back to
a silent clock instead of crashing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import logging
import sys
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

log = logging.getLogger("companion.audio")

NO_PORTAUDIO = (
    "No audio output: PortAudio (libportaudio2) is not installed — playing silently. "
    "Install it with: sudo apt-get install libportaudio2"
)
NO_SOUNDDEVICE = (
    "No audio output: the sounddevice package is missing — playing silently. "
    "Install it with: pip install sounddevice"
)
NO_DEVICE = "No audio output device found — playing silently."


@dataclass(frozen=True, slots=True)
class Backend:
    """The outcome of loading sounddevice: the module, or why there is none.

    Attributes:
        sd: the ``sounddevice`` module, or None when it cannot be used.
        notice: one line for the user when ``sd`` is None.
    """

    sd: ModuleType | None
    notice: str | None


_lock = threading.Lock()
_backend: Backend | None = None


def load_backend() -> Backend:
    """Import sounddevice once (it initialises PortAudio); never raises."""
    global _backend
    with _lock:
        if _backend is None:
            _backend = _import_sounddevice()
        return _backend


_alsa_handler: Any = None


def _quiet_alsa() -> None:
    """Stop libasound printing "underrun occurred" lines on stderr.

    WORKAROUND for ALSA's default error handler, which writes every xrun and lost device
    to stderr (dozens of lines a second on PortAudio's pulse plugin while a stream idles);
    the player counts underflows itself. See https://github.com/spatialaudio/python-sounddevice/issues/11
    """
    global _alsa_handler
    if sys.platform != "linux" or _alsa_handler is not None:
        return
    try:
        asound = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
    except OSError:
        return
    handler_type = ctypes.CFUNCTYPE(
        None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
    )
    _alsa_handler = handler_type(lambda *_args: None)  # kept alive for the process
    asound.snd_lib_error_set_handler(_alsa_handler)


def _import_sounddevice() -> Backend:
    try:
        module = importlib.import_module("sounddevice")
    except OSError:
        log.info("[audio] PortAudio library not found; playback is silent")
        return Backend(None, NO_PORTAUDIO)
    except ImportError:
        log.info("[audio] sounddevice not importable; playback is silent")
        return Backend(None, NO_SOUNDDEVICE)
    _quiet_alsa()
    return Backend(module, None)


def _outputs(sd: ModuleType) -> list[tuple[int, str]]:
    try:
        devices: Any = sd.query_devices()
    except Exception:  # PortAudioError and friends: no usable device list
        log.info("[audio] querying output devices failed")
        return []
    return [(int(d["index"]), str(d["name"])) for d in devices if int(d["max_output_channels"]) > 0]


def list_output_devices() -> list[str]:
    """Names of the devices that can play sound (empty without PortAudio)."""
    sd = load_backend().sd
    return [] if sd is None else [name for _, name in _outputs(sd)]


def find_device(name: str) -> int | None:
    """The index of the output device called ``name``: an exact (case-insensitive) name first,
    else the first whose name contains ``name``; None when none matches or without PortAudio."""
    sd = load_backend().sd
    wanted = name.strip().casefold()
    if sd is None or not wanted:
        return None
    outputs = _outputs(sd)
    for index, device in outputs:
        if device.casefold() == wanted:
            return index
    for index, device in outputs:
        if wanted in device.casefold():
            return index
    return None


def default_output_device() -> int | None:
    """PortAudio's default output device, or None when there is none (or no PortAudio)."""
    sd = load_backend().sd
    if sd is None:
        return None
    try:
        info: Any = sd.query_devices(kind="output")
    except Exception:  # PortAudioError: "Error querying device -1" when there is no default
        return None
    if int(info["max_output_channels"]) <= 0:
        return None
    return int(info["index"])


def device_name(index: int) -> str:
    """The name of device ``index`` (empty when unknown)."""
    sd = load_backend().sd
    if sd is None:
        return ""
    try:
        return str(sd.query_devices(index)["name"])
    except Exception:  # a device index PortAudio no longer knows
        return ""
