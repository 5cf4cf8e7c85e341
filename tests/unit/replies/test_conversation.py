# SPDX-License-Identifier: GPL-3.0-or-later
"""The conversation: what the model sees, and the file it is kept in across restarts."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.replies.conversation import (
    ChatMessage,
    Conversation,
    load_conversation,
    save_conversation,
)


def test_a_conversation_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "state" / "conversation.json"
    c = Conversation(
        [
            ChatMessage("user", "Ünïcode **question**"),
            ChatMessage("assistant", "Answer", "partial", "Stopped."),
        ]
    )
    assert save_conversation(c, path) is None
    loaded = load_conversation(path)
    assert loaded.notice is None and loaded.conversation == c


def test_a_missing_file_is_an_empty_conversation(tmp_path: Path) -> None:
    loaded = load_conversation(tmp_path / "none.json")
    assert loaded.conversation.messages == [] and loaded.notice is None


def test_saving_where_it_cannot_is_a_notice(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    notice = save_conversation(Conversation([ChatMessage("user", "x")]), blocker / "c.json")
    assert notice is not None and "could not be saved" in notice


def test_a_reply_cut_by_quitting_is_kept_as_partial(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    conversation = Conversation(
        [ChatMessage("user", "Hi"), ChatMessage("assistant", "Hel", "streaming")]
    )
    assert save_conversation(conversation, path) is None
    loaded = load_conversation(path).conversation
    assert loaded.messages[-1].state == "partial"


@pytest.mark.parametrize("content", ["{ broken", "[]", '{"messages": [{"role": "x"}]}', "\xff"])
def test_a_damaged_file_gives_an_empty_conversation_and_a_notice(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "conversation.json"
    path.write_bytes(content.encode("latin-1"))
    loaded = load_conversation(path)
    assert loaded.conversation.messages == []
    assert loaded.notice is not None and "damaged" in loaded.notice
    aside = list(tmp_path.glob("conversation.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == content.encode("latin-1")
    assert not path.exists()


def test_history_is_bounded_and_alternates() -> None:
    c = Conversation(
        [
            ChatMessage("user", "a" * 50),
            ChatMessage("assistant", "b" * 50),
            ChatMessage("user", "first"),
            ChatMessage("assistant", "", "error"),
            ChatMessage("user", "second"),
        ]
    )
    assert c.history(max_chars=10_000)[-1] == ("user", "first\n\nsecond")
    assert c.history(max_chars=60) == [("user", "first\n\nsecond")]


messages = st.lists(
    st.builds(
        ChatMessage,
        role=st.sampled_from(["user", "assistant"]),
        content=st.text(max_size=40),
        state=st.sampled_from(["done", "partial", "error"]),
    ),
    max_size=12,
)


@given(messages, st.integers(min_value=1, max_value=200))
def test_history_starts_with_a_question_and_alternates(
    msgs: list[ChatMessage], max_chars: int
) -> None:
    pairs = Conversation(msgs).history(max_chars=max_chars)
    assert all(text.strip() for _role, text in pairs)
    assert not pairs or pairs[0][0] == "user"
    assert all(a[0] != b[0] for a, b in itertools.pairwise(pairs))


def test_failed_questions_are_not_kept_in_the_saved_history(tmp_path: Path) -> None:
    path = tmp_path / "conversation.json"
    c = Conversation(
        [
            ChatMessage("user", "First question"),
            ChatMessage("assistant", "First answer"),
            ChatMessage("user", "Failed question"),
            ChatMessage("assistant", "", "error", "Nothing answers at http://h:1/v1."),
            ChatMessage("user", "Cut question"),
            ChatMessage("assistant", "Half an ans", "partial", "cut short"),
            ChatMessage("user", "Failed again"),
            ChatMessage("assistant", "", "error", "The assistant did not answer in time."),
        ]
    )
    assert save_conversation(c, path) is None
    saved = [m.content for m in load_conversation(path).conversation.messages]
    assert saved == ["First question", "First answer", "Cut question", "Half an ans"]
    assert len(c.messages) == 8  # the panel still shows them until the app quits


def test_a_notice_for_an_unwritable_file_names_it(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    notice = save_conversation(Conversation([ChatMessage("user", "q")]), blocker / "c.json")
    assert notice is not None and str(blocker / "c.json") in notice
    assert "Error" not in notice
