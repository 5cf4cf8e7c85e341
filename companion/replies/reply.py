# SPDX-License-Identifier: GPL-3.0-or-later
"""The router's values: one reply on its way (its text, its pieces, how far it got), why the
queue ran dry, and what the router needs of the player."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from companion.speech.pipeline import Utterance
from companion.speech.types import FloatArray
from companion.speech.visemes import VisemeTimeline
from companion.speech.worker import SpeechFailure
from companion.vocab import ReplySource


@dataclass(eq=False)
class Reply:
    """One reply and how far it got.

    Attributes:
        id: the reply id (grows; results for other ids are stale).
        text: the reply text (never logged). A streamed reply's text grows as it arrives.
        source: where it came from.
        utterances: pieces received so far (kept so replay need not re-synthesise).
        synth_done: the worker finished with it.
        failure: set when it failed.
        from_store: replayed from stored audio (nothing to synthesise).
        voice, speed: overrides of the settings for this reply (None: the settings').
        enqueued, total_ms: pieces handed to the player, and their length.
        timeline: the mouth's timeline over the whole reply (pieces shifted by their offset).
        started: its first piece is playing.
        streaming, stream_ended: the text arrives in pieces (a chat reply being written).
        pieces_requested, pieces_done: pieces of a stream sent to the worker, and finished.
        stopped: taken off the router by :meth:`ReplyRouter.stop_all`; a stream keeps
            collecting its text until it ends, so whoever stopped it can play all of it.
        dropped: cancelled after it was stopped (nobody should play it again).
    """

    id: int
    text: str
    source: ReplySource
    utterances: list[Utterance] = field(default_factory=list)
    synth_done: bool = False
    failure: SpeechFailure | None = None
    from_store: bool = False
    voice: str | None = None
    speed: float | None = None
    enqueued: int = 0
    total_ms: float = 0.0
    timeline: VisemeTimeline | None = None
    started: bool = False
    streaming: bool = False
    stream_ended: bool = False
    pieces_requested: int = 0
    pieces_done: int = 0
    stopped: bool = False
    dropped: bool = False

    def again(self, reply_id: int, source: ReplySource) -> Reply:
        """A new reply with the same text, voice and speed (to be synthesised afresh)."""
        return Reply(reply_id, self.text, source, voice=self.voice, speed=self.speed)


#: Failed replies kept for Retry (the oldest go first).
MAX_FAILED = 10


@dataclass
class Failures:
    """Replies that failed, kept for Retry, and the run of the queue they failed in.

    A run starts when a reply becomes current while nothing was current or queued, and ends
    when the queue runs dry. A failure is shown again at the end of its own run (it happened
    while other replies were waiting); a reply of a later run that plays to its end makes
    the older failures stale, and they are dropped.

    Attributes:
        replies: what failed and was not retried yet, oldest first (at most MAX_FAILED).
        message: the newest failure's line for the bubble.
    """

    replies: list[Reply] = field(default_factory=list)
    message: str = ""
    _run: int = 0
    _idle: bool = True
    _failed_run: int = -1

    def run_starts(self) -> None:
        """A reply became current (a new run when the queue was dry)."""
        if self._idle:
            self._idle = False
            self._run += 1

    def run_ends(self) -> None:
        self._idle = True

    def add(self, reply: Reply, message: str) -> None:
        self.replies = [*self.replies, reply][-MAX_FAILED:]
        self.message = message
        self._failed_run = self._run

    def played(self) -> None:
        """A reply played to its end: failures of an earlier run are stale."""
        if self._failed_run < self._run:
            self.replies = []

    def take(self) -> list[Reply]:
        taken, self.replies = self.replies, []
        return taken

    @property
    def to_remind(self) -> str:
        """The line to show again at the end of this run ("" for none)."""
        return self.message if self.replies and self._failed_run == self._run else ""


class Ending(enum.StrEnum):
    """Why nothing is current any more (``drained``)."""

    FINISHED = "finished"  # the last reply played to its end
    FAILED = "failed"  # the last reply failed
    STOPPED = "stopped"  # stopped, cancelled, or taken away by stop_all


class Sink(Protocol):
    """What the router needs from the player."""

    def begin(self) -> None: ...
    def enqueue(self, samples: FloatArray) -> None: ...
    def end(self) -> None: ...
    def stop(self) -> None: ...
    def position_ms(self) -> float: ...
    @property
    def finished(self) -> bool: ...
