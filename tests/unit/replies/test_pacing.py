# SPDX-License-Identifier: GPL-3.0-or-later
"""The pacer: a streamed reply's pieces reach the router only as fast as the voice needs them
(a stand-in router records what it is handed; the whole path runs in test_chat_controller.py
and tests/security/test_chat_flood.py)."""

from __future__ import annotations

from typing import Any, cast

from companion.replies.pacing import AHEAD_MS, AHEAD_PIECES, PiecePacer
from companion.replies.reply import Reply
from companion.replies.router import ReplyRouter
from companion.vocab import ReplySource


class _Router:
    """What the pacer uses of the router: the reply, its audio ahead, feed/end/cancel."""

    def __init__(self) -> None:
        self.reply = Reply(1, "", ReplySource.CHAT, streaming=True)
        self.current_reply: Reply | None = self.reply
        self.ahead = 0.0
        self.fed: list[str] = []
        self.ended: list[int] = []
        self.cancelled: list[int] = []

    def find(self, reply_id: int) -> Reply | None:
        return self.reply if self.current_reply is not None else None

    def ahead_ms(self, reply: Reply) -> float:
        return self.ahead

    def feed(self, reply_id: int, piece: str) -> None:
        self.fed.append(piece)
        self.reply.pieces_requested += 1

    def end_stream(self, reply_id: int) -> None:
        self.ended.append(reply_id)

    def cancel(self, reply_id: int) -> None:
        self.cancelled.append(reply_id)


def _pacer(router: _Router) -> PiecePacer:
    return PiecePacer(cast(ReplyRouter, cast(Any, router)))


def test_pieces_wait_while_the_voice_is_busy_or_far_ahead(qtbot: Any) -> None:
    router = _Router()
    pacer = _pacer(router)
    for i in range(6):
        pacer.feed(1, f"piece {i}")
    assert router.fed == [f"piece {i}" for i in range(AHEAD_PIECES)]
    assert pacer.held(1) == 6 - AHEAD_PIECES
    router.reply.pieces_done = AHEAD_PIECES  # synthesised; but much audio waits to be heard
    router.ahead = AHEAD_MS + 1
    pacer._release_all()
    assert len(router.fed) == AHEAD_PIECES
    router.ahead = 0.0  # heard: the next ones go
    pacer.end(1)
    assert router.ended == []  # not before the last piece was handed on
    qtbot.wait_until(lambda: len(router.fed) == 4, timeout=5000)
    router.reply.pieces_done = 4
    qtbot.wait_until(lambda: router.ended == [1], timeout=5000)
    assert router.fed == [f"piece {i}" for i in range(6)] and pacer.held(1) == 0


def test_a_stopped_reply_gets_its_text_at_once_and_cancel_drops_it(qtbot: Any) -> None:
    router = _Router()
    pacer = _pacer(router)
    for i in range(5):
        pacer.feed(1, f"piece {i}")
    router.current_reply = None  # stopped: the router only keeps the text now
    pacer._release_all()
    assert router.fed == [f"piece {i}" for i in range(5)]
    router.current_reply = router.reply
    router.reply.pieces_requested = router.reply.pieces_done = 0
    router.fed.clear()
    for i in range(5):
        pacer.feed(1, f"again {i}")
    pacer.cancel(1)
    assert pacer.held(1) == 0 and router.cancelled == [1]
    pacer._release_all()
    assert router.fed == ["again 0", "again 1"]
