# SPDX-License-Identifier: GPL-3.0-or-later
"""Victims as processes of their own (``python -m tests.security.victims KIND URL``), for the
calls that have no command of their own: the sign-in exchange, ``/auth/me`` (the pasted-token
check) and a streamed chat reply. Each prints what the program shows the user, one line on
standard error (the sign-in dialog's line, the chat bubble's line) and exits 1; anything
unexpected ends in a traceback, which the tests look for.
"""

from __future__ import annotations

import sys

from companion.backend.errors import BackendApiError
from companion.backend.signin import check_token, exchange_login_token
from companion.backend.signin_types import SignInError


def _signin(kind: str, url: str) -> int:
    try:
        if kind == "exchange":
            exchange_login_token(url, "one-time-login-token")
        else:
            check_token(url, "pasted-token")
    except SignInError as err:
        cause = type(err.cause).__name__ if err.cause is not None else "none"
        reason = getattr(err.cause, "reason", "")
        print(f"sign-in: {err} [{cause} {reason}]", file=sys.stderr)
        return 1
    print("sign-in: accepted", file=sys.stderr)
    return 0


def _chat(url: str) -> int:
    from companion.backend.client import BackendClient
    from companion.replies.chat import ChatRequest, stream_chat
    from companion.replies.chat_messages import chat_user_message
    from companion.tasks import CancelToken

    request = ChatRequest(request_id=1, messages=(("user", "Hello?"),), model="m")
    chars = 0
    with BackendClient(base_url=url, token=lambda: "chat-token") as client:
        try:
            for delta in stream_chat(client, request, cancel=CancelToken()):
                chars += len(delta)
        except BackendApiError as err:
            reason = getattr(err, "reason", "")
            line = chat_user_message(err, chars=chars)
            print(f"chat: {line} [{type(err).__name__} {reason}]", file=sys.stderr)
            return 1
    print(f"chat: {chars} characters", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    kind, url = argv
    if kind in ("exchange", "me"):
        return _signin(kind, url)
    if kind == "chat":
        return _chat(url)
    raise SystemExit(f"unknown victim {kind}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
