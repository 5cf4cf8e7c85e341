# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings: a JSON file in the user config dir, with environment overrides.

A corrupt or unreadable file never blocks start-up: defaults are used, the bad file is
kept aside (``settings.json.corrupt-<time>``) and :attr:`LoadResult.notice` says so.
Secrets (tokens) never live here; see ``companion.backend.auth``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from companion import jsonfile, paths

log = logging.getLogger("companion.config")

SETTINGS_VERSION = 1
SCALES = ("small", "medium", "large")
QUEUE_MODES = ("interrupt", "queue")
ENGINES = ("auto", "piper", "espeak")
#: The speech server's ``response_format``: ``auto`` asks for WAV first and remembers what
#: each server gives (``companion/speech/formats.py``); the rest force one format.
RESPONSE_FORMATS = ("auto", "wav", "mp3", "opus", "flac", "pcm")
#: The embedded Piper voice's weights: int8 (smaller, same sound) or the original fp32.
VOICE_PRECISIONS = ("int8", "fp32")


@dataclass
class Settings:
    """Everything the user can set. Field names are the JSON keys."""

    backend_url: str = ""
    voice: str = ""
    speed: float = 1.0
    volume: float = 1.0
    output_device: str = ""
    engine: str = "auto"
    response_format: str = "auto"
    voice_precision: str = "int8"
    autoplay: bool = True
    queue_mode: str = "interrupt"
    muted: bool = False
    always_on_top: bool = True
    position: list[int] | None = None
    scale: str = "medium"
    crash_reports: bool = True
    #: Never send the token over plain ``http://`` to another machine (loopback is exempt);
    #: ``COMPANION_REFUSE_PLAIN_HTTP=1`` (or ``0``) wins (``companion/backend/headers.py``).
    refuse_plain_http: bool = False
    sentry_dsn: str = ""
    chat_model: str = "gpt-4o-mini"
    system_prompt: str = "You are a friendly desktop companion. Keep replies short."
    greeted: bool = False
    #: The character shown (a pack id; ``companion`` is the built-in one).
    character: str = "companion"
    #: The Piper voice the embedded engine speaks with ("" is the built-in one).
    local_voice: str = ""
    #: The user's own voice and speed per character: {pack id: {"voice": id, "speed": x}}.
    character_voices: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def validated(self) -> Settings:
        """A copy with every field forced into its allowed range."""
        s = dataclasses.replace(self)
        s.speed = _clamp(s.speed, 0.5, 2.0, 1.0)
        s.volume = _clamp(s.volume, 0.0, 1.0, 1.0)
        if s.scale not in SCALES:
            s.scale = "medium"
        if s.queue_mode not in QUEUE_MODES:
            s.queue_mode = "interrupt"
        if s.engine not in ENGINES:
            s.engine = "auto"
        if not s.character:
            s.character = "companion"
        s.character_voices = _character_voices(s.character_voices)
        if s.response_format not in RESPONSE_FORMATS:
            s.response_format = "auto"
        if s.voice_precision not in VOICE_PRECISIONS:
            s.voice_precision = "int8"
        if s.position is not None and not (
            isinstance(s.position, list)
            and len(s.position) == 2
            and all(isinstance(v, int) for v in s.position)
        ):
            s.position = None
        return s


def _character_voices(value: object) -> dict[str, dict[str, Any]]:
    """Only well-formed entries: a voice id (text) and a speed (0.5-2.0) per character."""
    out: dict[str, dict[str, Any]] = {}
    if not isinstance(value, dict):
        return out
    for pack, prefs in value.items():
        if not isinstance(pack, str) or not isinstance(prefs, dict):
            continue
        entry: dict[str, Any] = {}
        if isinstance(prefs.get("voice"), str):
            entry["voice"] = prefs["voice"]
        speed = prefs.get("speed")
        if isinstance(speed, int | float) and not isinstance(speed, bool):
            entry["speed"] = _clamp(speed, 0.5, 2.0, 1.0)
        if entry:
            out[pack] = entry
    return out


def _clamp(value: object, lo: float, hi: float, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return min(hi, max(lo, float(value)))


_FIELD_TYPES: dict[str, Any] = {f.name: f.type for f in dataclasses.fields(Settings)}


@dataclass(frozen=True)
class LoadResult:
    settings: Settings
    notice: str | None = None


def settings_path() -> Path:
    return paths.config_dir() / "settings.json"


def _from_json(data: Any) -> tuple[Settings, str | None]:
    if not isinstance(data, dict):
        raise ValueError("settings file is not a JSON object")
    notice = None
    version = data.get("version", SETTINGS_VERSION)
    if isinstance(version, int) and version > SETTINGS_VERSION:
        notice = (
            f"Settings were written by a newer Companion (format {version}); "
            "unknown options are kept but ignored."
        )
    defaults = Settings()
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key == "version":
            continue
        if key not in _FIELD_TYPES or key == "extra":
            extra[key] = value
            continue
        default = getattr(defaults, key)
        if key in ("position", "character_voices"):
            kwargs[key] = value
        elif isinstance(default, bool):
            if isinstance(value, bool):
                kwargs[key] = value
        elif isinstance(default, float):
            if isinstance(value, int | float) and not isinstance(value, bool):
                kwargs[key] = float(value)
        elif isinstance(default, str) and isinstance(value, str):
            kwargs[key] = value
    if isinstance(data.get("extra"), dict):
        extra.update(data["extra"])
    return Settings(**kwargs, extra=extra).validated(), notice


def load_settings(path: Path | None = None) -> LoadResult:
    """Read settings; never raises for a missing, unreadable or corrupt file."""
    loaded = jsonfile.load_json(path or settings_path(), _from_json)
    if loaded.value is not None:
        settings, notice = loaded.value
        return LoadResult(settings, notice)
    if loaded.problem == "unreadable":
        log.warning("[settings] cannot read settings file: %s", loaded.error)
        return LoadResult(Settings(), "Settings could not be read; using defaults.")
    if loaded.problem == "damaged":
        log.info("[settings] corrupt settings file set aside; defaults in use")
        kept = f" The damaged file was kept as {loaded.kept_as}." if loaded.kept_as else ""
        return LoadResult(Settings(), f"Settings file was damaged; defaults restored.{kept}")
    return LoadResult(Settings())


def save_settings(settings: Settings, path: Path | None = None) -> str | None:
    """Write settings atomically. Returns a notice instead of raising when it cannot."""
    data = dataclasses.asdict(settings.validated())
    extra = data.pop("extra")
    payload = {"version": SETTINGS_VERSION, **data, **extra}
    try:
        jsonfile.write_json(path or settings_path(), payload, sort_keys=True)
    except OSError as exc:
        log.warning("[settings] cannot save settings: %s", type(exc).__name__)
        return f"Settings could not be saved ({type(exc).__name__}); changes last until quit."
    return None


BackendKind = Literal["none", "companion", "openai"]


def backend_url(settings: Settings) -> str:
    """The backend base URL: ``COMPANION_BACKEND_URL`` wins over the settings."""
    return (os.environ.get("COMPANION_BACKEND_URL") or settings.backend_url).strip().rstrip("/")


def sentry_dsn(settings: Settings) -> str:
    return (os.environ.get("COMPANION_SENTRY_DSN") or settings.sentry_dsn).strip()
