# SPDX-License-Identifier: GPL-3.0-or-later
"""JSON files of our own (settings, the conversation): read without ever raising, a damaged
file kept aside rather than lost, written atomically."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from companion import bounded_json

T = TypeVar("T")

Problem = Literal["unreadable", "damaged"]


@dataclass(frozen=True)
class Loaded(Generic[T]):
    """What :func:`load_json` found: ``value`` (None when missing or unusable) and why not.

    Attributes:
        problem: None (fine, or no file yet), "unreadable" (an OS error) or "damaged".
        error: the OS error's class name for "unreadable".
        kept_as: the name the damaged file was set aside under (None if it could not move).
    """

    value: T | None
    problem: Problem | None = None
    error: str = ""
    kept_as: str | None = None


def load_json(path: Path, parse: Callable[[Any], T]) -> Loaded[T]:
    """Read ``path`` and ``parse`` its JSON. A file that is not UTF-8 JSON, or that ``parse``
    rejects (ValueError, TypeError), is renamed ``<name>.corrupt-<time>`` and reported."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Loaded(None)
    except OSError as exc:
        return Loaded(None, "unreadable", error=type(exc).__name__)
    try:
        return Loaded(parse(bounded_json.loads(raw.decode("utf-8"))))
    except (ValueError, UnicodeDecodeError, TypeError):
        return Loaded(None, "damaged", kept_as=set_aside(path))


def set_aside(path: Path) -> str | None:
    """Rename a damaged file out of the way; its new name, or None when it cannot move."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        os.replace(path, aside)
    except OSError:
        return None
    return aside.name


def write_json(path: Path, payload: Any, *, indent: int = 2, sort_keys: bool = False) -> None:
    """Write ``payload`` as UTF-8 JSON atomically (a temporary file, then a rename).

    Raises OSError; the old file stays whole when writing fails.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, ensure_ascii=False, indent=indent, sort_keys=sort_keys)
            fh.write("\n")
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
