# SPDX-License-Identifier: GPL-3.0-or-later
"""The installed characters: the built-in one first, then the user's, by name.

The user's packs live in ``paths.data_dir()/characters``, each a folder named by its id; a
pack folder or ``.zip`` dropped there by hand is listed too. :meth:`CharacterStore.install`
checks a pack completely (:func:`~companion.characters.loader.read_character`) before anything
is written, copies (or extracts) it into a hidden folder beside the others, checks the copy
again and only then moves it into place, so a failed install leaves every pack as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from companion import paths
from companion.characters.loader import Character, load_character, read_character
from companion.characters.manifest import MANIFEST, Manifest, PackError, PackExists, parse_manifest
from companion.characters.source import open_source

log = logging.getLogger("companion.characters")

BUILTIN_ID = "companion"


def builtin_root() -> Path:
    return paths.resource_path(f"characters/{BUILTIN_ID}")


def user_root() -> Path:
    return paths.data_dir() / "characters"


@dataclass(frozen=True)
class Entry:
    """One character as listed: its manifest, or the reason it cannot be used.

    Attributes:
        id: the pack's id (for a broken pack: its folder or file name).
        path: its folder or zip file.
        builtin: the character Companion ships with (it cannot be removed).
        manifest: the checked manifest, None when the pack is broken.
        problem: one line saying why the pack cannot be used, None when it can.
        character: the parsed pack (usable ones), so showing it parses nothing again.
    """

    id: str
    path: Path
    builtin: bool
    manifest: Manifest | None = None
    problem: str | None = None
    character: Character | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.manifest.name if self.manifest is not None else self.path.name

    @property
    def usable(self) -> bool:
        return self.problem is None and self.manifest is not None


class CharacterStore:
    """Lists, loads, installs and removes character packs.

    Attributes:
        root: the user's pack folder.
        builtin: the built-in pack's folder.
    """

    def __init__(self, *, root: Path | None = None, builtin: Path | None = None) -> None:
        self.root = root if root is not None else user_root()
        self.builtin = builtin if builtin is not None else builtin_root()

    # -- listing -------------------------------------------------------------------------

    def _candidates(self) -> list[Path]:
        try:
            children = sorted(self.root.iterdir())
        except OSError:
            return []
        return [
            p
            for p in children
            if not p.name.startswith(".")
            and (p.is_dir() or (p.is_file() and p.suffix.lower() == ".zip"))
        ]

    def entries(self) -> list[Entry]:
        """Every character: the built-in one, then the user's by name (broken ones last).

        Each pack is checked whole, so a broken layer shows here, not when it is chosen.
        """
        out = [self._entry(self.builtin, builtin=True)]
        seen = {BUILTIN_ID: self.builtin}
        users: list[Entry] = []
        for path in self._candidates():
            entry = self._entry(path, builtin=False)
            if entry.usable and entry.id in seen:
                entry = Entry(
                    entry.id,
                    path,
                    False,
                    entry.manifest,
                    f"Another character already has the id “{entry.id}” ({seen[entry.id].name}).",
                )
            elif entry.usable:
                seen[entry.id] = path
            users.append(entry)
        users.sort(key=lambda e: (not e.usable, e.name.casefold()))
        return out + users

    def _entry(self, path: Path, *, builtin: bool) -> Entry:
        try:
            character = load_character(path)
        except PackError as exc:
            return Entry(_fallback_id(path), path, builtin, _quick_manifest(path), str(exc))
        except OSError as exc:
            return Entry(_fallback_id(path), path, builtin, None, _unreadable(exc))
        return Entry(character.id, path, builtin, character.manifest, character=character)

    def find(self, pack_id: str) -> Entry | None:
        for entry in self.entries():
            if entry.id == pack_id and entry.usable:
                return entry
        return None

    def load(self, pack_id: str) -> Character:
        """The character ``pack_id``, checked; PackError when it is missing or broken."""
        if pack_id == BUILTIN_ID:
            return load_character(self.builtin)
        for path in self._candidates():
            manifest = _quick_manifest(path)
            if manifest is not None and manifest.id == pack_id:
                try:
                    return load_character(path)
                except OSError as exc:
                    raise PackError(_unreadable(exc)) from None
        raise PackError(f"The character “{pack_id}” is not installed.")

    # -- installing and removing -----------------------------------------------------------

    def install(self, path: Path, *, replace: bool = False) -> Entry:
        """Check the pack at ``path`` and copy it in; raises PackError (PackExists)."""
        source = open_source(path)
        with contextlib.closing(source):
            character = read_character(source)
            pack_id = character.id
            if pack_id == BUILTIN_ID:
                raise PackError(f"The id “{BUILTIN_ID}” belongs to the built-in character.")
            final = self.root / pack_id
            existing = [
                p for p in self._candidates() if p == final or _manifest_id(p) == pack_id
            ]
            if existing and not replace:
                old = _quick_manifest(existing[0])
                raise PackExists(pack_id, old.name if old is not None else existing[0].name)
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=f".install-{pack_id}-", dir=self.root))
            except OSError as exc:
                raise PackError(_unwritable(exc)) from None
            try:
                for name in sorted(source.names()):
                    target = staging / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(source.read(name))
                checked = load_character(staging)  # what is on disk is what passed
                if checked.id != pack_id:
                    raise PackError("The pack changed while it was being installed.")
                _swap_in(staging, final, existing)
            except OSError as exc:
                shutil.rmtree(staging, ignore_errors=True)
                raise PackError(_unwritable(exc)) from None
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        log.info("[characters] installed %s", pack_id)
        checked = dataclasses.replace(checked, path=final)
        return Entry(pack_id, final, False, checked.manifest, character=checked)

    def remove(self, pack_id: str) -> None:
        """Delete the user's pack ``pack_id`` (folder or zip); PackError for the built-in."""
        if pack_id == BUILTIN_ID:
            raise PackError("The built-in character cannot be removed.")
        targets = [p for p in self._candidates() if _manifest_id(p) == pack_id]
        targets += [p for p in self._candidates() if p.name in (pack_id, f"{pack_id}.zip")]
        if not targets:
            raise PackError(f"The character “{pack_id}” is not installed.")
        for target in dict.fromkeys(targets):
            try:
                _remove_path(target)
            except OSError as exc:
                raise PackError(f"The character could not be removed ({_why(exc)}).") from None
        log.info("[characters] removed %s", pack_id)


def _swap_in(staging: Path, final: Path, existing: list[Path]) -> None:
    """Move ``staging`` to ``final``; the packs it replaces go only once it is in place."""
    aside: list[tuple[Path, Path]] = []
    try:
        for old in existing:
            hidden = old.with_name(f".old-{old.name}-{os.getpid()}")
            os.replace(old, hidden)
            aside.append((old, hidden))
        os.replace(staging, final)
    except OSError:
        for old, hidden in reversed(aside):
            with contextlib.suppress(OSError):
                os.replace(hidden, old)
        raise
    for _old, hidden in aside:
        with contextlib.suppress(OSError):
            _remove_path(hidden)


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _quick_manifest(path: Path) -> Manifest | None:
    """The manifest alone (no layers), None when it cannot be read."""
    try:
        source = open_source(path)
        with contextlib.closing(source):
            return parse_manifest(source.read(MANIFEST))
    except (PackError, OSError, KeyError):
        return None


def _manifest_id(path: Path) -> str | None:
    manifest = _quick_manifest(path)
    return manifest.id if manifest is not None else None


def _fallback_id(path: Path) -> str:
    manifest = _quick_manifest(path)
    return manifest.id if manifest is not None else path.stem


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _unreadable(exc: OSError) -> str:
    return f"The pack cannot be read ({_why(exc)})."


def _unwritable(exc: OSError) -> str:
    return f"The character could not be copied into the user folder ({_why(exc)})."
