# SPDX-License-Identifier: GPL-3.0-or-later
"""The session: the bearer token, where it is kept, when it expires, and who it belongs to.

Where the token comes from, in order:

1. ``COMPANION_TOKEN`` from the environment, used as is and never written anywhere (a
   sign-in during the run supersedes it for the rest of that run);
2. the OS keyring (service ``companion``, one entry per backend URL);
3. with no usable keyring (``keyring.errors.NoKeyringError``: the "fail" backend, or a
   keyring that refuses), ``credentials.json`` in the config dir: created with mode 0600,
   replaced atomically, never the settings file. Writing there sets a one-line notice.

A JWT's ``exp`` is read when the token is loaded or stored: an expired token counts as
signed out, and :meth:`SessionStore.token` then raises :class:`SignedOut` (an
``Unauthorized``) so no request is made with it: no 401 round trip. The same happens after
the server said 401 (:meth:`SessionStore.mark_lapsed`) and after signing out, until the
next sign-in.

Nothing here logs or formats a token: log lines carry where it is kept and counts only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from companion import paths

if TYPE_CHECKING:
    import keyring.backend
from companion.backend.errors import BackendApiError, Unauthorized
from companion.vocab import SessionState

log = logging.getLogger("companion.auth")

SERVICE = "companion"
CREDENTIALS_FILE = "credentials.json"
CREDENTIALS_VERSION = 1
ENV_TOKEN = "COMPANION_TOKEN"
#: A token this close to its ``exp`` already counts as expired (a request would outlive it).
EXPIRY_MARGIN_S = 10.0


# --- tokens ------------------------------------------------------------------------------


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT-shaped token (base64url JSON, no signature check), or None."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        doc = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return None
    return doc if isinstance(doc, dict) else None


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` of a JWT (seconds since the epoch), or None (not a JWT, or no ``exp``)."""
    claims = jwt_claims(token)
    if claims is None:
        return None
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)


def normalize_url(base_url: str) -> str:
    """The key a backend's token is stored under: the base URL without a trailing slash."""
    return base_url.strip().rstrip("/")


class SignedOut(Unauthorized):
    """Signed out, known before any request was made (no HTTP status): the token expired,
    the server already said 401, or the user signed out.

    Attributes:
        reason: ``expired``, ``lapsed`` or ``signed_out``.
    """

    user_message = "Your sign-in has expired: please sign in again."

    def __init__(
        self, method: str = "-", path: str = "/", *, reason: str = "expired", body_chars: int = 0
    ) -> None:
        self.reason = reason
        BackendApiError.__init__(self, method, path, None, body_chars=body_chars)

    def _ctor(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.method, self.path), {"reason": self.reason, "body_chars": self.body_chars}

    def at(self, method: str, path: str) -> SignedOut:
        """The same state, naming the request that was not made."""
        return SignedOut(method, path, reason=self.reason)


# --- who -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    """Who is signed in (from ``GET /auth/me``; an API key has no name).

    Attributes:
        name: what the menu shows.
        id: the account id, when the server gave one.
        email: the e-mail address, when the server gave one.
    """

    name: str
    id: str = ""
    email: str = ""

    @classmethod
    def from_me(cls, data: Any) -> Account:
        """From ``/auth/me``'s ``data`` (``name``/``display_name``/``username``, ``email``)."""
        doc: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        if isinstance(doc.get("user"), Mapping):
            doc = doc["user"]

        def text(*keys: str) -> str:
            for key in keys:
                value = doc.get(key)
                if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                    return str(value)
            return ""

        email = text("email")
        name = text("name", "display_name", "displayName", "username", "login") or email
        return cls(name=name or "your account", id=text("id", "sub", "user_id"), email=email)

    @property
    def label(self) -> str:
        if self.email and self.email != self.name:
            return f"{self.name} ({self.email})"
        return self.name


API_KEY_ACCOUNT = Account(name="API key")


# --- where tokens are kept -------------------------------------------------------------------


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
            doc = json.loads(raw)
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


# --- the session -----------------------------------------------------------------------------


class SessionStore:
    """The session for one backend URL. Thread-safe: :meth:`token` runs in network threads.

    Attributes:
        base_url: the backend this session is for (tokens are kept per URL).
        account: who is signed in (set from ``/auth/me``), or None.
        secrets: where tokens are kept.
    """

    def __init__(
        self,
        *,
        base_url: str,
        secrets: SecretStore | None = None,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secrets = secrets if secrets is not None else SecretStore()
        self._clock = clock
        self._lock = threading.RLock()
        environ = os.environ if env is None else env
        self._env_token: str | None = environ.get(ENV_TOKEN) or None
        self.base_url = ""
        self._token: str | None = None
        self._source: str | None = None
        self._expires_at: float | None = None
        self._blocked: SessionState | None = None  # lapsed or signed out: none until sign-in
        self.account: Account | None = None
        self.set_base_url(base_url)

    # --- reading (any thread) ----------------------------------------------------------

    def token(self) -> str | None:
        """The bearer token for the next request (the callable ``BackendClient`` takes).

        None when there is none (a backend without sign-in gets no header). Raises
        :class:`SignedOut` when the session is known to be over (expired, lapsed, signed
        out): the request is not made.
        """
        with self._lock:
            if self._blocked is not None:
                raise SignedOut(reason=self._blocked)
            if self._token is not None and self._is_expired():
                raise SignedOut(reason="expired")
            return self._token

    @property
    def signed_in(self) -> bool:
        with self._lock:
            return self._blocked is None and self._token is not None and not self._is_expired()

    @property
    def has_token(self) -> bool:
        with self._lock:
            return self._token is not None

    @property
    def expired(self) -> bool:
        """A token is there, but its ``exp`` has passed."""
        with self._lock:
            return self._token is not None and self._is_expired()

    @property
    def expires_at(self) -> float | None:
        with self._lock:
            return self._expires_at

    @property
    def source(self) -> str | None:
        """Where the token came from: ``env``, ``keyring``, ``file``, ``sign_in`` or None."""
        with self._lock:
            return self._source

    @property
    def state(self) -> SessionState:
        """Signed in, expired, lapsed, signed out or none."""
        with self._lock:
            if self._blocked is not None:
                return self._blocked
            if self._token is None:
                return SessionState.NONE
            return SessionState.EXPIRED if self._is_expired() else SessionState.SIGNED_IN

    def _is_expired(self) -> bool:
        exp = self._expires_at
        return exp is not None and self._clock() >= exp - EXPIRY_MARGIN_S

    # --- changing (GUI thread) ----------------------------------------------------------

    def set_base_url(self, base_url: str) -> None:
        """Switch backends: load that backend's token (the environment's first)."""
        url = normalize_url(base_url)
        with self._lock:
            if url == self.base_url and self._token is not None:
                return
            self.base_url = url
            self.account = None
            self._blocked = None
            token, source = None, None
            if self._env_token:
                token, source = self._env_token, "env"
            elif url:
                token = self.secrets.get(url)
                source = self.secrets.location if token else None
            self._set(token, source)
        log.info("[auth] session loaded: state=%s source=%s", self.state, self.source or "none")

    def store(self, token: str, *, account: Account | None = None) -> str | None:
        """A new sign-in: keep ``token`` (keyring or file); returns the file notice, if any."""
        token = token.strip()
        if not token:
            raise ValueError("empty token")
        with self._lock:
            url = self.base_url
            self._env_token = None  # a sign-in supersedes the environment for this run
            self._set(token, "sign_in")
            self._blocked = None
            self.account = account
        notice = self.secrets.set(url, token) if url else None
        log.info(
            "[auth] signed in: expires_in_s=%s",
            "none" if self._expires_at is None else f"{self._expires_at - self._clock():.0f}",
        )
        return notice

    def mark_lapsed(self) -> None:
        """The server said 401: no more requests with this token until the next sign-in."""
        with self._lock:
            if self._blocked is None:
                self._blocked = SessionState.LAPSED
                log.info("[auth] session lapsed (the server said 401)")

    def sign_out(self) -> None:
        """Forget the token (keyring or file, and the environment's for this run)."""
        with self._lock:
            url = self.base_url
            self._env_token = None
            self._set(None, None)
            self._blocked = SessionState.SIGNED_OUT
            self.account = None
        if url:
            self.secrets.delete(url)
        log.info("[auth] signed out")

    def set_account(self, account: Account | None) -> None:
        with self._lock:
            self.account = account

    def _set(self, token: str | None, source: str | None) -> None:
        self._token = token
        self._source = source
        self._expires_at = jwt_expiry(token) if token else None

    def __repr__(self) -> str:  # never the token
        return f"<SessionStore {self.base_url or '(no backend)'} state={self.state}>"
