# SPDX-License-Identifier: GPL-3.0-or-later
"""What a failed chat reply says, and the one button that can help.

Each line says what happened and what to do, names the backend URL where the address is the
problem, and never an exception's class name. "Cut short" only when some text had arrived.
Retry is offered only where asking again can help; a setting to change gets Settings.
"""

from __future__ import annotations

from companion.backend.errors import (
    BudgetExhausted,
    HttpError,
    ModelNotFound,
    NoChatRoute,
    NotSent,
    ProtocolError,
    RedirectRefused,
    Transient,
    Unauthorized,
)
from companion.backend.urls import shown_url
from companion.vocab import BubbleAction

SET_A_SERVER = (
    "set the backend URL in Settings or COMPANION_BACKEND_URL "
    "(an OpenAI-compatible one such as http://localhost:11434/v1 works)"
)


class ChatUnavailable(Exception):
    """No chat server is configured, or its address is not one (an expected state: a notice,
    never a report).

    Attributes:
        url: the address that is not one ("" when none is set).
        problem: why it is not one.
    """

    def __init__(self, url: str = "", problem: str = "") -> None:
        super().__init__(url, problem)
        self.url = url
        self.problem = problem

    @property
    def user_message(self) -> str:
        if self.url:
            return (
                f"The backend URL \u201c{shown_url(self.url)}\u201d cannot be used "
                f"({self.problem}): correct it in Settings."
            )
        return f"No chat server is set: {SET_A_SERVER}."

    def __str__(self) -> str:
        return "ChatUnavailable: " + ("invalid backend URL" if self.url else "no backend URL")


def _at(url: str) -> str:
    return f" at {shown_url(url)}" if url else ""


def _transient(error: Transient, url: str) -> str:
    reason = error.reason
    if reason == "refused":
        return (
            f"Nothing answers{_at(url)}: start the chat server, "
            "or check the backend URL in Settings."
        )
    if reason == "dns":
        return f"The backend address{_at(url)} does not resolve: check it in Settings."
    if reason == "tls":
        return (
            f"A secure connection{_at(url)} failed (TLS): check http:// or https:// "
            "in the backend URL in Settings."
        )
    if reason in ("timeout", "stall", "deadline"):
        return "The assistant did not answer in time. Try again."
    if reason == "status" or error.status is not None:
        if error.status == 429:
            return "The assistant is busy (HTTP 429). Try again in a moment."
        return f"The assistant's server is having trouble (HTTP {error.status}). Try again."
    return "The connection to the assistant broke before any reply arrived. Try again."


def chat_user_message(error: BaseException, *, chars: int = 0, url: str = "") -> str:
    """One short line about a failed chat reply (the backend's lines speak of the voice);
    ``chars`` of reply text had arrived (a reply is only "cut short" when some had)."""
    if isinstance(error, ChatUnavailable):
        return error.user_message
    if isinstance(error, Unauthorized):
        return "Signed out: sign in to get the reply."
    if isinstance(error, BudgetExhausted):
        return "The assistant's budget is used up for now, so it cannot answer."
    if isinstance(error, ModelNotFound):
        named = f" \u201c{error.model}\u201d" if error.model else ""
        return f"The server has no chat model{named}: choose another in Settings."
    if isinstance(error, NoChatRoute):
        return f"The server{_at(url)} does not chat: set a chat server in Settings."
    if isinstance(error, Transient):
        if chars:
            return "The connection failed and the reply was cut short. Try again."
        return _transient(error, url)
    if isinstance(error, HttpError):
        return f"The assistant answered with an error (HTTP {error.status}). Try again later."
    if isinstance(error, ProtocolError):
        return "The assistant sent a reply Companion could not understand."
    if isinstance(error, RedirectRefused | NotSent):
        return error.user_message
    return "The chat failed unexpectedly. Try again."


def chat_action(error: BaseException | None) -> BubbleAction:
    """The bubble's button for a failed chat reply: Settings where a setting is the cause,
    else Retry chat."""
    if isinstance(error, ChatUnavailable | NoChatRoute | ModelNotFound):
        return BubbleAction.SETTINGS
    if isinstance(error, Transient) and error.reason in ("dns", "tls"):
        return BubbleAction.SETTINGS
    if getattr(error, "action", None) == BubbleAction.SETTINGS:
        return BubbleAction.SETTINGS
    return BubbleAction.RETRY_CHAT
