# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading a pack from a folder or a ``.zip``, within limits.

A pack's files are named by relative POSIX paths (``mouth/aa.svg``). Both sources refuse
what could reach outside the pack or fill the disk, before anything is read into memory:

- a zip member with an absolute path, a drive letter or a ``..`` part (zip-slip), a link
  (in a zip or in a folder), an encrypted member;
- more than :data:`MAX_FILES` files, a file over :data:`MAX_FILE_BYTES`, more than
  :data:`MAX_PACK_BYTES` in all (a zip's sizes are checked from its directory first, then
  while reading: a lying header cannot get more out).

A zip may hold the pack at its top or inside one folder (what zipping a folder gives);
``__MACOSX/`` and ``.DS_Store`` entries are ignored.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import Protocol

from companion.characters.manifest import MANIFEST, PackError

MAX_FILES = 400
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_PACK_BYTES = 32 * 1024 * 1024
_IGNORED_PARTS = frozenset({"__MACOSX", ".DS_Store", "Thumbs.db"})


class PackSource(Protocol):
    """Where a pack's files come from.

    Attributes:
        path: the folder or the zip file.
    """

    path: Path

    def names(self) -> frozenset[str]: ...

    def read(self, name: str, limit: int = MAX_FILE_BYTES) -> bytes: ...

    def close(self) -> None: ...


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"


def _too_big(name: str, limit: int) -> PackError:
    return PackError(f"{name} is larger than {_mib(limit)}; a pack's files must be smaller.")


def _check_totals(sizes: dict[str, int]) -> None:
    if len(sizes) > MAX_FILES:
        raise PackError(f"The pack has more than {MAX_FILES} files.")
    if sum(sizes.values()) > MAX_PACK_BYTES:
        raise PackError(f"The pack is larger than {_mib(MAX_PACK_BYTES)} in all.")


def safe_name(raw: str) -> str | None:
    """``raw`` as a relative POSIX path inside the pack, None for ignored entries.

    Raises PackError for a path that points outside the pack.
    """
    name = raw.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or (parts and len(parts[0]) == 2 and parts[0][1] == ":"):
        raise PackError(f"The pack names a file outside itself ({raw!r}).")
    if any(p == ".." for p in parts):
        raise PackError(f"The pack names a file outside itself ({raw!r}).")
    parts = tuple(p for p in parts if p not in ("", "."))
    if not parts or any(p in _IGNORED_PARTS for p in parts):
        return None
    return "/".join(parts)


class FolderSource:
    """A pack in a folder (nothing is followed outside it: links are refused)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not (path / MANIFEST).is_file():
            raise PackError(f"{path.name} is not a character pack: it has no {MANIFEST}.")
        sizes: dict[str, int] = {}
        for folder, dirs, files in os.walk(path, followlinks=False):
            here = Path(folder)
            for entry in [*dirs, *files]:
                full = here / entry
                if full.is_symlink():
                    raise PackError(
                        f"The pack holds a link ({full.relative_to(path).as_posix()}); "
                        "a pack may hold only its own files."
                    )
            dirs[:] = [d for d in dirs if d not in _IGNORED_PARTS]
            for entry in files:
                rel = (here / entry).relative_to(path).as_posix()
                name = safe_name(rel)
                if name is None:
                    continue
                sizes[name] = (here / entry).stat().st_size
                if len(sizes) > MAX_FILES:
                    break
        _check_totals(sizes)
        self._sizes = sizes

    def names(self) -> frozenset[str]:
        return frozenset(self._sizes)

    def read(self, name: str, limit: int = MAX_FILE_BYTES) -> bytes:
        if name not in self._sizes:
            raise KeyError(name)
        full = self.path / name
        with full.open("rb") as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise _too_big(name, limit)
        return data

    def close(self) -> None:
        """Nothing is kept open."""


class ZipSource:
    """A pack in a zip file, read without extracting it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise PackError(f"{path.name} is not a readable zip file ({_why(exc)}).") from None
        members: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            name = safe_name(info.filename)
            if name is None or info.is_dir():
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                raise PackError(f"The pack holds a link ({name}); a pack may hold only files.")
            if info.flag_bits & 0x1:
                raise PackError(f"{name} is encrypted; a pack's files must not be.")
            if info.file_size > MAX_FILE_BYTES:
                raise _too_big(name, MAX_FILE_BYTES)
            members[name] = info
            if len(members) > MAX_FILES:
                break
        _check_totals({n: i.file_size for n, i in members.items()})
        prefix = _pack_prefix(set(members))
        if prefix is None:
            raise PackError(f"{path.name} is not a character pack: it has no {MANIFEST}.")
        self._members = {n[len(prefix) :]: i for n, i in members.items() if n.startswith(prefix)}
        self._read_total = 0

    def names(self) -> frozenset[str]:
        return frozenset(self._members)

    def read(self, name: str, limit: int = MAX_FILE_BYTES) -> bytes:
        info = self._members[name]
        try:
            with self._zip.open(info) as fh:
                data = fh.read(limit + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise PackError(f"{name} cannot be read from the zip ({_why(exc)}).") from None
        if len(data) > limit:
            raise _too_big(name, limit)
        self._read_total += len(data)
        if self._read_total > MAX_PACK_BYTES * 2:  # every file read twice at most
            raise PackError(f"The pack is larger than {_mib(MAX_PACK_BYTES)} in all.")
        return data

    def close(self) -> None:
        self._zip.close()


def _pack_prefix(names: set[str]) -> str | None:
    """Where the pack starts in a zip: "" (at the top) or "folder/" (one folder)."""
    if MANIFEST in names:
        return ""
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1:
        top = tops.pop()
        if f"{top}/{MANIFEST}" in names:
            return f"{top}/"
    return None


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return text[:80] if text else type(exc).__name__


def open_source(path: Path) -> FolderSource | ZipSource:
    """The pack at ``path``: a folder, or a zip file."""
    if path.is_dir():
        return FolderSource(path)
    if path.is_file():
        return ZipSource(path)
    raise PackError(f"{path.name} does not exist.")
