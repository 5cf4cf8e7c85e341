# SPDX-License-Identifier: GPL-3.0-or-later
"""The session: the bearer token, where it is kept, when it expires, and who it belongs to.

Where the token comes from, in order:

1. ``COMPANION_TOKEN`` from the environment (surrounding blanks dropped), never written anywhere
   (a sign-in during the run supersedes it for the rest of that run);
2. the OS keyring (service ``companion``, one entry per backend URL);
3. with no usable keyring (``keyring.errors.NoKeyringError``: the "fail" backend, or a
   keyring that refuses), ``credentials.json`` in the config dir: created with mode 0600,
   replaced atomically, never the settings file. Writing there sets a one-line notice.

A JWT's ``exp`` is read when the token is loaded or stored: an expired token counts as
signed out, and :meth:`SessionStore.token` then raises :class:`SignedOut` (an
``Unauthorized``) so no request is made with it: no 401 round trip. The same happens after
the server said 401 (:meth:`SessionStore.mark_lapsed`) and after signing out, until the
next sign-in. A token a header cannot carry (a control character, a space, a colon:
:func:`~companion.backend.headers.token_problem`) is checked when it is loaded or stored:
:meth:`SessionStore.token` raises ``NotSent`` naming where it came from, and no request is made.

Nothing here logs or formats a token: log lines carry where it is kept and counts only.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass
from companion import bounded_json
from companion.backend.errors import BackendApiError, NotSent, Unauthorized
from companion.backend.headers import remember, token_problem
from companion.backend.secret_store import CREDENTIALS_FILE as CREDENTIALS_FILE
from companion.backend.secret_store import SERVICE as SERVICE
from companion.backend.secret_store import SecretStore as SecretStore
from companion.backend.secret_store import normalize_url as normalize_url
from companion.vocab import SessionState

log = logging.getLogger("companion.auth")

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
        doc = bounded_json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
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
        self._env_token: str | None = environ.get(ENV_TOKEN, "").strip() or None
        self.base_url = ""
        self._token: str | None = None
        self._source: str | None = None
        self._expires_at: float | None = None
        self._problem: str | None = None  # what makes the token unusable in a header
        self._blocked: SessionState | None = None  # lapsed or signed out: none until sign-in
        self.account: Account | None = None
        self.set_base_url(base_url)

    # --- reading (any thread) ----------------------------------------------------------

    def token(self) -> str | None:
        """The bearer token for the next request (the callable ``BackendClient`` takes).

        None when there is none (a backend without sign-in gets no header). Raises
        :class:`SignedOut` when the session is known to be over (expired, lapsed, signed
        out): the request is not made. Raises :class:`~companion.backend.errors.NotSent`
        when the token cannot go in a header (a control character, space or colon in
        ``COMPANION_TOKEN`` or in the stored token).
        """
        with self._lock:
            if self._blocked is not None:
                raise SignedOut(reason=self._blocked)
            if self._token is not None and self._problem is not None:
                source = ENV_TOKEN if self._source == "env" else "The stored sign-in token"
                raise NotSent("-", "/", "bad_token", problem=self._problem, source=source)
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
        problem = token_problem(token)
        if problem is not None:  # never the value: the text could reach a log line
            raise ValueError(f"unusable token: {problem}")
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
        self._problem = token_problem(token) if token else None
        if token:
            remember(token)  # redacted from every log line and report from now on
        self._expires_at = jwt_expiry(token) if token and self._problem is None else None
        if self._problem is not None:
            log.info("[auth] the %s token cannot be used: %s", source, self._problem)

    def __repr__(self) -> str:  # never the token
        return f"<SessionStore {self.base_url or '(no backend)'} state={self.state}>"
