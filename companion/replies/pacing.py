# SPDX-License-Identifier: GPL-3.0-or-later
"""A streamed reply's pieces handed to the router only as fast as they are heard.

A fast server writes a reply far faster than it can be spoken, and the voice synthesises
faster than it plays: handing every piece to the speech worker at once would hold the whole
reply's audio in memory (an hour of speech is hundreds of megabytes). The pacer keeps the
pieces as text and releases the next one while fewer than :data:`AHEAD_PIECES` are being
synthesised and less than :data:`AHEAD_MS` of audio waits to be heard; it looks again every
:data:`PACE_MS` while it holds any. A reply the router no longer plays (stopped, cancelled)
gets the rest at once: the router keeps a stopped stream's text for Retry, and drops the rest.
"""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QObject, QTimer, Slot

from companion.replies.reply import Reply
from companion.replies.router import ReplyRouter

#: Pieces being synthesised (requested, not finished) at most.
AHEAD_PIECES = 2
#: Audio queued to the player and not heard yet, at most, before another piece is released.
AHEAD_MS = 20_000.0
#: How often held pieces are looked at again.
PACE_MS = 200


class PiecePacer(QObject):
    """Between the chat controller and the router: ``feed``, ``end``, ``cancel``."""

    def __init__(self, router: ReplyRouter, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._router = router
        self._held: dict[int, deque[str]] = {}
        self._ended: set[int] = set()
        self._timer = QTimer(self)
        self._timer.setInterval(PACE_MS)
        self._timer.timeout.connect(self._release_all)

    def held(self, reply_id: int) -> int:
        """Pieces of ``reply_id`` not handed to the router yet."""
        return len(self._held.get(reply_id, ()))

    def feed(self, reply_id: int, piece: str) -> None:
        """The next piece of a streamed reply (handed on when the voice is ready for it)."""
        self._held.setdefault(reply_id, deque()).append(piece)
        self._release(reply_id)

    def end(self, reply_id: int) -> None:
        """No more pieces: the router is told once the last one was handed on."""
        if reply_id in self._held:
            self._ended.add(reply_id)
        else:
            self._router.end_stream(reply_id)

    def cancel(self, reply_id: int) -> None:
        """Drop the reply: its held pieces and the router's reply."""
        self._held.pop(reply_id, None)
        self._ended.discard(reply_id)
        self._router.cancel(reply_id)

    @Slot()
    def _release_all(self) -> None:
        for reply_id in list(self._held):
            self._release(reply_id)
        if not self._held:
            self._timer.stop()

    def _release(self, reply_id: int) -> None:
        held = self._held.get(reply_id)
        if held is None:
            return
        reply = self._router.find(reply_id)
        while held and (reply is None or self._ready(reply)):
            self._router.feed(reply_id, held.popleft())
        if held:
            if not self._timer.isActive():
                self._timer.start()
            return
        del self._held[reply_id]
        if reply_id in self._ended:
            self._ended.discard(reply_id)
            self._router.end_stream(reply_id)

    def _ready(self, reply: Reply) -> bool:
        if reply.pieces_requested - reply.pieces_done >= AHEAD_PIECES:
            return False
        if reply is self._router.current_reply:
            return self._router.ahead_ms(reply) < AHEAD_MS
        return reply.pieces_requested < AHEAD_PIECES  # waiting behind another: a start
