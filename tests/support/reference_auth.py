# SPDX-License-Identifier: GPL-3.0-or-later
"""Sign-in for the reference backend: loopback redirect, token exchange, JWT-shaped tokens
with a lifetime, revocation, rotation and ``/auth/me``, plus hooks for tests.

Usage::

    with ReferenceBackend() as backend:
        auth = ReferenceAuth.install(backend)   # backend.token is now a JWT it issued
        auth.expire(after=2)                    # the token answers 401 after two more requests
        fresh = auth.rotate()                   # a new token; the old one answers 401

Routes (served before the bearer check):

- ``GET /auth/login?redirect_uri=<loopback>&state=<s>`` → 302 to
  ``<redirect_uri>?token=<one-time>&state=<s>`` (``deny_login``: ``error=access_denied``);
  a redirect that is not ``http://127.0.0.1:<port>/…`` or ``http://localhost:<port>/…``
  answers 400;
- ``POST /auth/login-token/consume {token}`` → ``{success, data: {jwt}}`` once per token;
- ``GET /auth/me`` → the token's user, or 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

if TYPE_CHECKING:
    from tests.support.reference_backend import ReferenceBackend

DEFAULT_USER: dict[str, Any] = {"id": "u-1", "name": "Test User", "email": "test@example.org"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class Issued:
    """A token the server handed out.

    Attributes:
        user: what ``/auth/me`` answers for it.
        exp: its ``exp`` (seconds since the epoch).
        revoked: revoked or rotated away: answers 401.
        uses_left: authorized requests left before it expires on the server (None: no limit).
    """

    user: dict[str, Any]
    exp: float
    revoked: bool = False
    uses_left: int | None = None
    uses: int = 0


@dataclass
class ReferenceAuth:
    """The reference backend's accounts.

    Attributes:
        lifetime_s: lifetime of tokens it issues.
        user: the user signing in through the browser.
        deny_login: the next browser sign-ins are cancelled by the "user".
        issued: every token issued.
        login_tokens: one-time tokens waiting to be exchanged.
        logins: how many browser sign-ins started.
    """

    lifetime_s: float = 3600.0
    user: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_USER))
    deny_login: bool = False
    issued: dict[str, Issued] = field(default_factory=dict)
    login_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    logins: int = 0
    _secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    backend: ReferenceBackend | None = None

    @classmethod
    def install(cls, backend: ReferenceBackend, **kwargs: Any) -> ReferenceAuth:
        """Serve sign-in on ``backend``; its ``token`` becomes a JWT issued here."""
        auth = cls(**kwargs)
        auth.backend = backend
        backend.auth = auth
        backend.token = auth.issue()
        return auth

    # --- tokens --------------------------------------------------------------------------

    def issue(self, *, lifetime_s: float | None = None, user: dict[str, Any] | None = None) -> str:
        """A new JWT-shaped token (HS256 over a server secret), valid for ``lifetime_s``."""
        now = time.time()
        exp = now + (self.lifetime_s if lifetime_s is None else lifetime_s)
        who = dict(user or self.user)
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {"sub": who.get("id", ""), "iat": int(now), "exp": int(exp)}
        claims["jti"] = secrets.token_hex(8)
        payload = _b64(json.dumps(claims).encode())
        signature = hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256)
        token = f"{header}.{payload}.{_b64(signature.digest())}"
        with self._lock:
            self.issued[token] = Issued(user=who, exp=float(int(exp)))
        return token

    def revoke(self, token: str | None = None) -> None:
        """``token`` (default: the backend's current one) answers 401 from now on."""
        with self._lock:
            self.issued[self._pick(token)].revoked = True

    def expire(self, token: str | None = None, *, after: int = 0) -> None:
        """``token`` expires on the server after ``after`` more authorized requests."""
        with self._lock:
            self.issued[self._pick(token)].uses_left = after

    def rotate(self, token: str | None = None) -> str:
        """A new token for the same user; the old one answers 401. Becomes ``backend.token``."""
        old = self._pick(token)
        with self._lock:
            self.issued[old].revoked = True
            user = self.issued[old].user
        new = self.issue(user=user)
        if self.backend is not None and self.backend.token == old:
            self.backend.token = new
        return new

    def _pick(self, token: str | None) -> str:
        if token is None:
            assert self.backend is not None
            token = self.backend.token
        return token

    def valid(self, token: str) -> Issued | None:
        """The token's record when it would be accepted now (without using it up)."""
        with self._lock:
            rec = self.issued.get(token)
            if rec is None or rec.revoked or rec.exp <= time.time():
                return None
            if rec.uses_left is not None and rec.uses_left <= 0:
                return None
            return rec

    def authorized(self, header: str | None) -> bool:
        """The bearer check for every other route; counts a use of the token."""
        if not header or not header.startswith("Bearer "):
            return False
        token = header[7:]
        if self.valid(token) is None:
            return False
        with self._lock:
            rec = self.issued[token]
            rec.uses += 1
            if rec.uses_left is not None:
                rec.uses_left -= 1
        return True

    # --- routes ----------------------------------------------------------------------------

    def handle(self, handler: Any, path: str, doc: Any) -> bool:
        """Answer the sign-in routes; False for anything else."""
        method = handler.command
        if path == "/auth/login" and method == "GET":
            self._login(handler)
        elif path == "/auth/login-token/consume" and method == "POST":
            self._consume(handler, doc)
        elif path == "/auth/me" and method == "GET":
            header = handler.headers.get("Authorization")
            if self.authorized(header):
                rec = self.issued[header[7:]]
                handler._json(200, {"success": True, "data": dict(rec.user)})
            else:
                handler._json(401, {"success": False, "message": "Unauthorized"})
        else:
            return False
        return True

    def _login(self, handler: Any) -> None:
        query = parse_qs(urlsplit(handler.path).query)
        redirect = (query.get("redirect_uri") or [""])[0]
        state = (query.get("state") or [""])[0]
        parts = urlsplit(redirect)
        if (
            parts.scheme != "http"
            or parts.hostname not in ("127.0.0.1", "localhost")
            or not parts.port
            or not state
        ):
            handler._json(400, {"success": False, "message": "bad redirect_uri or state"})
            return
        with self._lock:
            self.logins += 1
        if self.deny_login:
            answer = {"error": "access_denied", "state": state}
        else:
            login_token = secrets.token_urlsafe(24)
            with self._lock:
                self.login_tokens[login_token] = dict(self.user)
            answer = {"token": login_token, "state": state}
        location = f"{redirect}?{urlencode(answer)}"
        handler._send(302, b"", "text/plain", {"Location": location}, fault=None)

    def _consume(self, handler: Any, doc: Any) -> None:
        token = doc.get("token") if isinstance(doc, dict) else None
        with self._lock:
            user = self.login_tokens.pop(token, None) if isinstance(token, str) else None
        if user is None:
            handler._json(401, {"success": False, "message": "Unknown or used login token"})
            return
        handler._json(200, {"success": True, "data": {"jwt": self.issue(user=user)}})
