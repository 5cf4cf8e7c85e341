# SPDX-License-Identifier: GPL-3.0-or-later
"""Where tokens are kept: the OS keyring (service ``companion``, one entry per backend URL),
or, with no usable keyring, ``credentials.json`` in the config dir (mode 0600, replaced
atomically; writing there sets a one-line notice). Nothing here logs or formats a token."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from companion import bounded_json, paths

if TYPE_CHECKING:
    import keyring.backend

log = logging.getLogger("companion.auth")

SERVICE = "companion"
CREDENTIALS_FILE = "credentials.json"
CREDENTIALS_VERSION = 1


def normalize_url(base_url: str) -> str:
    """The key a backend's token is stored under: the base URL without a trailing slash."""
    return base_url.strip().rstrip("/")


class SecretStore:
    """Tokens by backend URL: the OS keyring, or a 0600 file when there is none.

    Attributes:
        path: the fallback file (``credentials.json`` in the config dir).
        notice: one line for the user, set when a token was written to the file.
        using_file: True once the keyring proved unusable (or was never there).
    """

    def __init__(
        self,
        *,
        backend: keyring.backend.KeyringBackend | None = None,
        path: Path | None = None,
    ) -> None:
        # The keyring is looked up on first use: a mascot with no backend never needs it, and
        # finding the backend imports secretstorage and cryptography (about 20 MB resident).
        self._backend_given = backend
        self.path = path if path is not None else paths.config_dir() / CREDENTIALS_FILE
        self.notice: str | None = None
        self._using_file: bool | None = None
        self._lock = threading.Lock()

    @functools.cached_property
    def _backend(self) -> keyring.backend.KeyringBackend:
        import keyring

        return self._backend_given if self._backend_given is not None else keyring.get_keyring()

    @property
    def using_file(self) -> bool:
        if self._using_file is None:
            self._using_file = _is_fail_backend(self._backend)
        return self._using_file

    @using_file.setter
    def using_file(self, value: bool) -> None:
        self._using_file = value

    @property
    def location(self) -> str:
        return "file" if self.using_file else "keyring"

    def get(self, url: str) -> str | None:
        key = normalize_url(url)
        with self._lock:
            if not self.using_file:
                import keyring.errors

                try:
                    value = self._backend.get_password(SERVICE, key)
                except keyring.errors.NoKeyringError:
                    self._no_keyring("none")
                # Backends also raise their own errors (D-Bus, Keychain): not a crash.
                except Exception as exc:
                    log.info("[auth] keyring unreadable (%s); trying the file", type(exc).__name__)
                else:
                    if value:
                        return value
            return self._read_file().get(key)

    def set(self, url: str, token: str) -> str | None:
        """Keep ``token`` for ``url``; the notice when it went to the file, else None."""
        key = normalize_url(url)
        with self._lock:
            if not self.using_file:
                import keyring.errors

                try:
                    self._backend.set_password(SERVICE, key, token)
                except keyring.errors.NoKeyringError:
                    self._no_keyring("none")
                except Exception as exc:  # locked, refused, or the backend's own error
                    self._no_keyring(type(exc).__name__)
                else:
                    self._drop_from_file(key)  # an older copy must not outlive this one
                    log.info("[auth] token kept in the keyring")
                    return None
            tokens = self._read_file()
            tokens[key] = token
            self._write_file(tokens)
            self.notice = (
                f"No system keyring: your sign-in is saved in {self.path} (readable only by you)."
            )
            log.info("[auth] token kept in the credentials file (no keyring)")
            return self.notice

    def delete(self, url: str) -> None:
        key = normalize_url(url)
        with self._lock:
            if not self.using_file:
                with contextlib.suppress(Exception):  # not there, or the keyring is gone
                    self._backend.delete_password(SERVICE, key)
            self._drop_from_file(key)

    # --- the file ------------------------------------------------------------------------

    def _no_keyring(self, why: str) -> None:
        if not self.using_file:
            log.info("[auth] no usable keyring (%s): using the credentials file", why)
        self.using_file = True

    def _read_file(self) -> dict[str, str]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning("[auth] credentials file unreadable (%s)", type(exc).__name__)
            return {}
        try:
            doc = bounded_json.loads(raw)
        except ValueError:
            log.warning("[auth] credentials file damaged (%d bytes); ignored", len(raw))
            return {}
        tokens = doc.get("tokens") if isinstance(doc, dict) else None
        if not isinstance(tokens, dict):
            return {}
        return {str(k): v for k, v in tokens.items() if isinstance(v, str) and v}

    def _drop_from_file(self, key: str) -> None:
        tokens = self._read_file()
        if key in tokens:
            del tokens[key]
            self._write_file(tokens)

    def _write_file(self, tokens: dict[str, str]) -> None:
        """Write atomically: a new 0600 file beside the old one, then rename over it."""
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"version": CREDENTIALS_VERSION, "tokens": tokens}, indent=1).encode()
        tmp = folder / f".{self.path.name}-{secrets.token_hex(6)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(tmp, flags, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _is_fail_backend(backend: keyring.backend.KeyringBackend) -> bool:
    """keyring's "fail" backend: what ``get_keyring()`` returns when there is no keyring."""
    from keyring.backends import fail

    return isinstance(backend, fail.Keyring)
