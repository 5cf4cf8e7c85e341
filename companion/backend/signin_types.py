# SPDX-License-Identifier: GPL-3.0-or-later
"""What a sign-in gives: a checked token (:class:`SignInResult`) or a typed failure.

:class:`SignInError` carries one line for the dialog and, when the server was the reason,
the typed backend error itself (``cause``) so the caller can log it per the status table:
the sign-in modules never log backend errors or send reports themselves.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from companion.backend.auth import Account
from companion.backend.errors import BackendApiError


class SignInFailure(enum.StrEnum):
    """Why a sign-in did not work."""

    CANCELLED = "cancelled"  # the user closed the dialog
    BROWSER_CANCELLED = "browser_cancelled"
    TIMEOUT = "timeout"
    WRONG_KEY = "wrong_key"
    REJECTED = "rejected"
    UNREACHABLE = "unreachable"
    SERVER = "server"
    EMPTY = "empty"
    NO_SERVER = "no_server"


class SignInMethod(enum.StrEnum):
    BROWSER = "browser"
    TOKEN = "token"


class SignInError(Exception):
    """Sign-in did not work; ``user_message`` is the one line the dialog shows.

    Attributes:
        kind: a :class:`SignInFailure`.
        user_message: one line, no token.
        cause: the backend error behind it, if any (for the caller's log line).
        step: where it happened (``exchange``, ``check``), when ``cause`` is set.
    """

    def __init__(
        self,
        kind: SignInFailure | str,
        user_message: str,
        *,
        cause: BackendApiError | None = None,
        step: str = "",
    ) -> None:
        super().__init__(user_message)
        self.kind = SignInFailure(kind)
        self.user_message = user_message
        self.cause = cause
        self.step = step


@dataclass(frozen=True)
class SignInResult:
    """A checked sign-in.

    Attributes:
        token: the bearer token to keep (never in ``repr``).
        account: who it is (``/auth/me``), or "API key".
        method: a :class:`SignInMethod`.
    """

    token: str = field(repr=False)
    account: Account
    method: SignInMethod
