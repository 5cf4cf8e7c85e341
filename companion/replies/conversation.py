# SPDX-License-Identifier: GPL-3.0-or-later
"""The chat conversation: messages in order, kept across restarts in one JSON file.

The file is ``conversation.json`` in :func:`companion.paths.state_dir`, written atomically
after each turn. A damaged file never blocks start-up: the conversation starts empty, the
file is kept aside (``conversation.json.corrupt-<time>``) and a notice says so. Message text
is the user's own data: it lives in this file and nowhere else (never in a log line).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from companion import jsonfile, paths
from companion.vocab import MessageState

log = logging.getLogger("companion.chat")

FORMAT_VERSION = 1
ROLES = ("user", "assistant")
#: The states a message can be in (see :class:`~companion.vocab.MessageState`).
STATES = tuple(MessageState)
#: Messages kept in the file (the oldest go first).
MAX_STORED = 400
#: Characters of earlier messages sent along with a question (the newest are kept).
HISTORY_CHARS = 24_000


@dataclass
class ChatMessage:
    """One message.

    Attributes:
        role: ``user`` or ``assistant``.
        content: markdown text.
        state: a :class:`~companion.vocab.MessageState`.
        note: one line shown under the message (why it stopped); never an error body.
    """

    role: str
    content: str
    state: MessageState = MessageState.DONE
    note: str = ""

    def to_json(self) -> dict[str, str]:
        out = {"role": self.role, "content": self.content, "state": str(self.state)}
        if self.note:
            out["note"] = self.note
        return out

    @classmethod
    def from_json(cls, data: Any) -> ChatMessage:
        if not isinstance(data, dict):
            raise ValueError("message is not an object")
        role, content = data.get("role"), data.get("content")
        if role not in ROLES or not isinstance(content, str):
            raise ValueError("message without role or content")
        raw = data.get("state", MessageState.DONE)
        state = MessageState(raw) if raw in STATES else MessageState.DONE
        if state == MessageState.STREAMING:  # the app quit while it arrived
            state = MessageState.PARTIAL if content else MessageState.ERROR
        note = data.get("note", "")
        return cls(role, content, state, note if isinstance(note, str) else "")


@dataclass
class Conversation:
    """The messages, oldest first."""

    messages: list[ChatMessage] = field(default_factory=list)

    def history(
        self, upto: int | None = None, *, max_chars: int = HISTORY_CHARS
    ) -> list[tuple[str, str]]:
        """``(role, content)`` pairs for the model from the messages before ``upto``.

        Messages without text are left out and neighbours of the same role are joined
        (some chat templates insist on alternating roles); the newest ``max_chars`` are
        kept, never cutting the last message.
        """
        pairs: list[tuple[str, str]] = []
        for msg in self.messages[:upto]:
            text = msg.content.strip()
            if not text:
                continue
            if pairs and pairs[-1][0] == msg.role:
                pairs[-1] = (msg.role, f"{pairs[-1][1]}\n\n{text}")
            else:
                pairs.append((msg.role, text))
        total = 0
        for i in range(len(pairs) - 1, -1, -1):
            total += len(pairs[i][1])
            if total > max_chars and i < len(pairs) - 1:
                pairs = pairs[i + 1 :]
                break
        while pairs and pairs[0][0] != "user":  # start with a question
            pairs.pop(0)
        return pairs

    def kept(self) -> list[ChatMessage]:
        """What is saved: every exchange but the failed ones (a question whose reply failed
        before any text arrived is shown in the panel, not kept in the history)."""
        out: list[ChatMessage] = []
        for msg in self.messages:
            failed = msg.role == "assistant" and msg.state == MessageState.ERROR
            if failed and not msg.content.strip():
                if out and out[-1].role == "user":
                    out.pop()
                continue
            out.append(msg)
        return out

    def to_json(self) -> dict[str, Any]:
        kept = self.kept()[-MAX_STORED:]
        return {"version": FORMAT_VERSION, "messages": [m.to_json() for m in kept]}

    @classmethod
    def from_json(cls, data: Any) -> Conversation:
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            raise ValueError("not a conversation")
        return cls([ChatMessage.from_json(m) for m in data["messages"]])


@dataclass(frozen=True)
class LoadedConversation:
    conversation: Conversation
    notice: str | None = None


def conversation_path() -> Path:
    return paths.state_dir() / "conversation.json"


def load_conversation(path: Path | None = None) -> LoadedConversation:
    """Read the conversation; never raises for a missing, unreadable or damaged file."""
    loaded = jsonfile.load_json(path or conversation_path(), Conversation.from_json)
    if loaded.value is not None:
        log.info("[chat] conversation loaded: %d messages", len(loaded.value.messages))
        return LoadedConversation(loaded.value)
    if loaded.problem == "unreadable":
        log.warning("[chat] cannot read the conversation: %s", loaded.error)
        return LoadedConversation(Conversation(), "The saved chat could not be read.")
    if loaded.problem == "damaged":
        log.info("[chat] damaged conversation file set aside; starting empty")
        kept = f" The damaged file was kept as {loaded.kept_as}." if loaded.kept_as else ""
        return LoadedConversation(
            Conversation(), f"The saved chat was damaged; starting a new one.{kept}"
        )
    return LoadedConversation(Conversation())


def save_conversation(conversation: Conversation, path: Path | None = None) -> str | None:
    """Write atomically. Returns a notice instead of raising when it cannot."""
    target = path or conversation_path()
    try:
        jsonfile.write_json(target, conversation.to_json(), indent=1)
    except OSError as exc:
        log.warning("[chat] cannot save the conversation: %s", type(exc).__name__)
        why = exc.strerror or "it cannot be written"
        return f"The chat could not be saved to {target} ({why})."
    return None
