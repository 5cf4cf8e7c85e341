# SPDX-License-Identifier: GPL-3.0-or-later
"""Which ``response_format`` to ask a speech server for, and remembering what worked.

``auto`` (the default) asks for WAV first: it says its own rate and layout, and streams (the
decoder plays it as it arrives). A server that refuses a format (400/415/422 naming it:
:class:`~companion.backend.errors.FormatRefused`), or answers in a way that cannot be played
right (raw PCM that states no rate, AAC), is asked for the next format, once each, in the
order of :data:`AUTO_ORDER`. What worked is remembered per server in the state folder
(``speech_formats.json``), so the next start asks for it first; what was refused is tried
last. A chosen format (Settings → Voice → Response format) is always asked for first and
never replaced by the memory; the others follow it only if the server refuses it.

AAC is never asked for: libsndfile does not decode it.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from pathlib import Path
from typing import Any

from companion import config, jsonfile, paths

log = logging.getLogger("companion.speech")

#: The choices of the setting (``Settings.response_format``).
CHOICES = config.RESPONSE_FORMATS
#: What ``auto`` asks for, best first: self-describing and streamed, then streamed raw PCM
#: (its rate must be stated), then compressed formats (decoded once whole).
AUTO_ORDER = ("wav", "pcm", "mp3", "flac", "opus")
FILE_NAME = "speech_formats.json"
_VERSION = 1


def memory_path() -> Path:
    return paths.state_dir() / FILE_NAME


def server_key(base_url: str) -> str:
    """A server's name in the memory: scheme, host, port and path; no user, no query."""
    parts = urllib.parse.urlsplit(base_url.strip())
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"


class FormatMemory:
    """Per server: the format that worked last, and the formats it refused.

    Thread-safe; reads the file once, writes it when something changes. A file that cannot
    be read or written costs only the memory (a notice in the log), never speech.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path or memory_path()
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, Any]] | None = None

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._data is None:
            loaded = jsonfile.load_json(self._path, _parse)
            if loaded.problem:
                log.info("[formats] speech format memory %s; starting afresh", loaded.problem)
            self._data = loaded.value or {}
        return self._data

    def worked(self, server: str) -> str | None:
        with self._lock:
            fmt = self._load().get(server, {}).get("format")
        return fmt if fmt in AUTO_ORDER else None

    def refused(self, server: str) -> tuple[str, ...]:
        with self._lock:
            refused = self._load().get(server, {}).get("refused", [])
        return tuple(f for f in refused if f in AUTO_ORDER)

    def note(self, server: str, *, worked: str | None = None, refused: str | None = None) -> None:
        with self._lock:
            data = self._load()
            entry = dict(data.get(server, {}))
            old = dict(entry)
            if worked is not None:
                entry["format"] = worked
                entry["refused"] = [f for f in entry.get("refused", []) if f != worked]
            if refused is not None and refused not in entry.get("refused", []):
                entry["refused"] = [*entry.get("refused", []), refused]
                if entry.get("format") == refused:
                    entry.pop("format")
            if entry == old:
                return
            data[server] = entry
            payload = {"version": _VERSION, "servers": data}
        try:
            jsonfile.write_json(self._path, payload, sort_keys=True)
        except OSError as exc:
            log.info("[formats] cannot save the speech format memory: %s", type(exc).__name__)


def _parse(doc: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(doc, dict) or not isinstance(doc.get("servers", {}), dict):
        raise ValueError("not a format memory")
    out: dict[str, dict[str, Any]] = {}
    for server, entry in doc.get("servers", {}).items():
        if not isinstance(server, str) or not isinstance(entry, dict):
            continue
        fmt = entry.get("format")
        refused = entry.get("refused", [])
        clean: dict[str, Any] = {}
        if isinstance(fmt, str) and fmt in AUTO_ORDER:
            clean["format"] = fmt
        if isinstance(refused, list):
            clean["refused"] = [f for f in refused if isinstance(f, str) and f in AUTO_ORDER]
        out[server] = clean
    return out


class FormatPlan:
    """The formats to ask one server for, best first, and what to remember afterwards.

    Attributes:
        setting: ``auto`` or a chosen format.
        server: the server's key (:func:`server_key`).
    """

    def __init__(self, *, setting: str, server: str, memory: FormatMemory | None) -> None:
        self.setting = setting or "auto"  # Settings holds one of CHOICES; tests ask for more
        self.server = server
        self._memory = memory
        self._session_refused: set[str] = set()
        self._session_worked: str | None = None

    def candidates(self) -> list[str]:
        """Every format worth asking for, in order (each at most once per utterance)."""
        memory = self._memory
        worked = self._session_worked or (memory.worked(self.server) if memory else None)
        refused = set(memory.refused(self.server) if memory else ()) | self._session_refused
        if self.setting != "auto":
            first = [self.setting]
        elif worked is not None:
            first = [worked]
        else:
            first = []
        rest = [f for f in AUTO_ORDER if f not in first]
        rest = [f for f in rest if f not in refused] + [f for f in rest if f in refused]
        return first + rest

    def worked(self, fmt: str) -> None:
        if self._session_worked == fmt:
            return
        self._session_worked = fmt
        self._session_refused.discard(fmt)
        if self._memory is not None and self.setting == "auto":
            self._memory.note(self.server, worked=fmt)
        log.info("[formats] %s speaks %s", self.server, fmt)

    def refused(self, fmt: str, why: str) -> None:
        self._session_refused.add(fmt)
        if self._session_worked == fmt:
            self._session_worked = None
        if self._memory is not None:
            self._memory.note(self.server, refused=fmt)
        log.info(
            "[formats] %s does not give %s (%s); asking for the next format", self.server, fmt, why
        )
