# SPDX-License-Identifier: GPL-3.0-or-later
"""The reply router: the queue of replies, what speaks now, and the audio it hands the player.

Every reply gets an id; results for an id no longer current or queued are dropped. A reply's
pieces go into one player utterance (one clock from its start to its end), each announced with
its offset (``audio_queued``) for the presenter (:mod:`companion.replies.presenter`), which
shows subtitles, mouth and face. The router never touches a widget; mute is the player's.

- A new reply interrupts the current one, or waits behind it (``queue_mode``).
- Autoplay off: a reply is only shown (``notice``) and kept in the replay slot; "Replay last"
  speaks it. Requests the user makes directly (read-aloud box, test voice, replay) always speak.
- A reply that fails (the network, the server) is kept for Retry (``Failures``): the queue
  goes on; Retry speaks every failed reply again, in order, all of a stream's text included.
- Streamed replies (a chat reply being written): ``begin_stream()`` gives an id, ``feed(id,
  piece)`` each piece in order (:mod:`~companion.replies.pacing`), ``end_stream(id)`` the end.
- :meth:`stop_all` stops everything and returns what was playing or queued (the session
  coordinator holds those while the user signs in): the router keeps no sign-in state.
"""

from __future__ import annotations

import logging
from collections import deque

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from companion.config import Settings
from companion.replies.reply import Ending, Failures, Reply, Sink
from companion.speech.pipeline import Utterance
from companion.speech.worker import SpeechFailure, SpeechWorker
from companion.vocab import QueueMode, ReplySource

log = logging.getLogger("companion.replies")

#: Poll interval while waiting for the player to drain (only while a reply ends).
DRAIN_POLL_MS = 30
NOTHING_TO_REPLAY = "Nothing to replay yet."


class ReplyRouter(QObject):
    """Routes replies to the speech worker and their audio to the player, one at a time.

    Signals:
        speech_requested(int, str, object, float): to the worker's ``speak`` slot (queued).
        piece_requested(int, int, str, object, float): to the worker's ``speak_piece`` slot.
        current_changed(Reply): a reply became the current one (it is being synthesised).
        audio_queued(Reply, Utterance, float): a piece of the current reply went to the player,
            starting this many milliseconds into the reply.
        reply_started(int): a reply's first piece started playing.
        reply_finished(int): a reply played to its end.
        reply_failed(SpeechFailure): a reply could not be spoken.
        reply_cancelled(int): the current reply was cancelled, interrupted or stopped.
        drained(Ending): nothing is current any more, and why.
        notice(str): a line for the bubble (a reply shown but not spoken, nothing to replay).

    Attributes:
        last_reply: the replay slot.
        failures: replies that failed and were not retried yet (Retry speaks them), the
            newest failure's line, and the one to show again as the queue runs dry.
    """

    speech_requested = Signal(int, str, object, float)
    piece_requested = Signal(int, int, str, object, float)
    current_changed = Signal(object)
    audio_queued = Signal(object, object, float)
    reply_started = Signal(int)
    reply_finished = Signal(int)
    reply_failed = Signal(object)
    reply_cancelled = Signal(int)
    drained = Signal(str)
    notice = Signal(str)

    def __init__(
        self,
        *,
        settings: Settings,
        player: Sink,
        worker: SpeechWorker,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings
        self._player = player
        self._worker = worker
        self._next_id = 1
        self._current: Reply | None = None
        self._pending: deque[Reply] = deque()
        self._stopped_streams: dict[int, Reply] = {}
        self.last_reply: Reply | None = None
        self.failures = Failures()
        self._closed = False

        self._drain = QTimer(self)
        self._drain.setSingleShot(True)
        self._drain.timeout.connect(self._check_drained)

        self.speech_requested.connect(worker.speak)
        self.piece_requested.connect(worker.speak_piece)
        worker.piece_finished.connect(self._on_piece_finished)
        worker.utterance_ready.connect(self._on_utterance)
        worker.finished.connect(self._on_worker_finished)
        worker.failed.connect(self._on_failed)

    # -- state ---------------------------------------------------------------------------------

    @property
    def current_reply(self) -> Reply | None:
        """The reply playing (or being synthesised to play) now."""
        return self._current

    @property
    def current_id(self) -> int | None:
        return self._current.id if self._current else None

    @property
    def busy(self) -> bool:
        return self._current is not None or bool(self._pending)

    def find(self, reply_id: int) -> Reply | None:
        """The current or a queued reply with this id."""
        if self._current is not None and self._current.id == reply_id:
            return self._current
        return next((r for r in self._pending if r.id == reply_id), None)

    # -- new replies ---------------------------------------------------------------------------

    def say(
        self,
        text: str,
        *,
        source: ReplySource = ReplySource.SAY,
        force: bool = False,
        voice: str | None = None,
        speed: float | None = None,
    ) -> int | None:
        """A new reply. Returns its id, or None when it was only shown (autoplay off).

        ``force`` speaks even with autoplay off (the user asked); ``voice`` and ``speed``
        override the settings for this reply (the settings dialog's "Test voice").
        """
        text = text.strip()
        if not text or self._closed:
            return None
        if not (force or self._settings.autoplay):
            self.last_reply = Reply(self._allocate_id(), text, source)
            self.notice.emit(text)
            log.info("[router] reply %d shown, not spoken (autoplay off)", self.last_reply.id)
            return None
        reply = Reply(self._allocate_id(), text, source, voice=voice, speed=speed)
        self._interrupt_or_queue(reply)
        self._request(reply)
        return reply.id

    def say_all(self, replies: list[Reply], *, source: ReplySource) -> int | None:
        """Several replies again, in order: the first interrupts or queues like any reply, the
        rest wait behind it. Returns the first id (None when there was nothing)."""
        first: int | None = None
        for old in replies:
            if not old.text.strip() or self._closed:
                continue
            reply = old.again(self._allocate_id(), source)
            if first is None:
                self._interrupt_or_queue(reply)
                first = reply.id
            else:
                self._pending.append(reply)
            self._request(reply)
        return first

    def begin_stream(
        self, *, source: ReplySource = ReplySource.CHAT, force: bool = False
    ) -> int | None:
        """A reply whose text will arrive in pieces. Returns its id, or None with autoplay
        off (the caller shows the text; ``say`` at the end keeps it in the replay slot)."""
        if self._closed or not (force or self._settings.autoplay):
            return None
        reply = Reply(self._allocate_id(), "", source, streaming=True)
        self._interrupt_or_queue(reply)
        log.info("[router] reply %d streaming in (%s)", reply.id, source)
        return reply.id

    def feed(self, reply_id: int, piece: str) -> None:
        """The next speakable piece of a streamed reply (prepared text, in order)."""
        piece = piece.strip()
        if not piece:
            return
        stopped = self._stopped_streams.get(reply_id)
        if stopped is not None:  # stopped or failed: keep the text for a replay, speak nothing
            stopped.text = f"{stopped.text} {piece}".strip()
            return
        reply = self.find(reply_id)
        if reply is None or not reply.streaming or reply.stream_ended:
            return  # cancelled or interrupted: nothing of it plays later
        reply.text = f"{reply.text} {piece}".strip()
        index = reply.pieces_requested
        reply.pieces_requested += 1
        voice = self._settings.voice or None
        self.piece_requested.emit(reply.id, index, piece, voice, float(self._settings.speed))

    def end_stream(self, reply_id: int) -> None:
        """No more pieces for ``reply_id``; it ends once the last one has played."""
        stopped = self._stopped_streams.pop(reply_id, None)
        if stopped is not None:
            stopped.stream_ended = True
        reply = self.find(reply_id)
        if reply is None or not reply.streaming:
            return
        reply.stream_ended = True
        self._check_stream_done(reply)

    # -- stopping --------------------------------------------------------------------------------

    def cancel(self, reply_id: int) -> None:
        """Drop one reply: silent at once when it is speaking, off the queue when it waits."""
        stopped = self._stopped_streams.pop(reply_id, None)
        if stopped is not None:
            stopped.dropped = True
        reply = self.find(reply_id)
        if reply is None:
            return
        if not reply.synth_done:
            self._worker.cancel(reply.id)
        if reply is not self._current:
            self._pending.remove(reply)
            return
        self._drain.stop()
        self._current = None
        self._player.stop()
        log.info("[router] reply %d cancelled", reply.id)
        self.reply_cancelled.emit(reply.id)
        self._next_or_drained(Ending.STOPPED)

    @Slot()
    def stop(self) -> None:  # Esc, the Stop item
        self.stop_all()

    def stop_all(self) -> list[Reply]:
        """Stop everything; return the replies that were playing or queued, in order. A stream
        still being written keeps collecting its text (``feed``) until ``end_stream``."""
        current = self._current
        replies = [r for r in [current, *self._pending] if r is not None]
        self._cancel_all()
        self._player.stop()
        for reply in replies:
            reply.stopped = True
            if reply.streaming and not reply.stream_ended:
                self._stopped_streams[reply.id] = reply
        if current is not None:
            self.reply_cancelled.emit(current.id)
        self._emit_drained(Ending.STOPPED)
        return replies

    def close(self) -> None:
        """Shut-down: cancel all work and stop timers (audio is stopped by the owner)."""
        self._closed = True
        self._cancel_all()
        self._stopped_streams.clear()

    def ahead_ms(self, reply: Reply) -> float:  # audio with the player, not heard yet
        return reply.total_ms - self._player.position_ms() if reply is self._current else 0.0

    # -- replay and retry ----------------------------------------------------------------------

    @Slot()
    def replay_last(self) -> int | None:
        """Speak the last reply again, from stored audio when it was complete."""
        last = self.last_reply
        if last is None:
            self.notice.emit(NOTHING_TO_REPLAY)
            return None
        reply = last.again(self._allocate_id(), ReplySource.REPLAY)
        if last.synth_done and last.failure is None and last.utterances:
            reply.utterances = list(last.utterances)
            reply.synth_done = True
            reply.from_store = True
        self._interrupt_or_queue(reply)
        if not reply.from_store:
            self._request(reply)
        return reply.id

    def keep_for_replay(self, text: str) -> None:
        """``text`` goes into the replay slot (a reply that could not be spoken now)."""
        if text.strip():
            self.last_reply = Reply(self._allocate_id(), text.strip(), ReplySource.HELD)

    @Slot()
    def retry(self) -> int | None:
        """The bubble's Retry: every failed reply again, in order (the first interrupts or
        queues like any reply, the rest queue behind it); with none, the last reply again."""
        failed = self.failures.take()
        if not failed or self._closed:
            return self.replay_last()
        log.info("[router] retrying %d failed replies", len(failed))
        return self.say_all(failed, source=ReplySource.RETRY)

    # -- internals -----------------------------------------------------------------------------

    def _allocate_id(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    def _cancel_all(self) -> None:
        self._drain.stop()
        for reply in [self._current, *self._pending]:
            if reply is not None and not reply.synth_done:
                self._worker.cancel(reply.id)
        self._current = None
        self._pending.clear()

    def _interrupt_or_queue(self, reply: Reply) -> None:
        current = self._current
        if current is not None and self._settings.queue_mode == QueueMode.QUEUE:
            self._pending.append(reply)
            log.info("[router] reply %d queued behind %d", reply.id, current.id)
            return
        if current is not None:
            log.info("[router] reply %d interrupts %d", reply.id, current.id)
            self._cancel_all()
            self._player.stop()
            self.reply_cancelled.emit(current.id)
        self._make_current(reply)

    def _request(self, reply: Reply) -> None:
        voice = reply.voice if reply.voice is not None else self._settings.voice
        speed = reply.speed if reply.speed is not None else self._settings.speed
        self.speech_requested.emit(reply.id, reply.text, voice or None, float(speed))

    def _make_current(self, reply: Reply) -> None:
        self.failures.run_starts()
        self._current = reply
        self._player.begin()
        self.current_changed.emit(reply)
        self._play_available(reply)

    def _next_or_drained(self, ending: Ending) -> None:
        if self._pending:
            self._make_current(self._pending.popleft())
        else:
            self._emit_drained(ending)

    def _emit_drained(self, ending: Ending) -> None:
        self.failures.run_ends()
        self.drained.emit(ending)

    @Slot(object)
    def _on_utterance(self, utterance: Utterance) -> None:
        reply = self.find(utterance.reply_id)
        if reply is None:
            log.debug("[router] stale piece of reply %d dropped", utterance.reply_id)
            return
        reply.utterances.append(utterance)
        if reply is self._current:
            self._play_available(reply)

    @Slot(int)
    def _on_worker_finished(self, reply_id: int) -> None:
        reply = self.find(reply_id)
        if reply is None:
            return
        reply.synth_done = True
        if reply is self._current:
            self._play_available(reply)

    def _play_available(self, reply: Reply) -> None:
        player = self._player
        while reply.enqueued < len(reply.utterances):
            utt = reply.utterances[reply.enqueued]
            offset = reply.total_ms
            player.enqueue(utt.samples)
            reply.enqueued += 1
            reply.total_ms += utt.duration_ms
            if reply.timeline is None:
                reply.timeline = utt.timeline.shifted(offset)
            else:
                reply.timeline = reply.timeline.extended(utt.timeline, offset)
            self.audio_queued.emit(reply, utt, offset)
            if not reply.started:
                reply.started = True
                log.info("[router] reply %d speaking (%s)", reply.id, reply.source)
                self.reply_started.emit(reply.id)
        if reply.synth_done and reply.failure is None:
            if not reply.utterances:
                self._finish_current(reply)
                return
            player.end()
            self._drain.start(0)

    @Slot()
    def _check_drained(self) -> None:
        reply = self._current
        if reply is None or not reply.synth_done:
            return
        if self._player.finished:
            self._finish_current(reply)
            return
        remaining = reply.total_ms - self._player.position_ms()
        self._drain.start(int(min(250.0, max(float(DRAIN_POLL_MS), remaining))))

    def _finish_current(self, reply: Reply) -> None:
        self._drain.stop()
        self._current = None
        if reply.utterances and not reply.from_store:
            self.last_reply = reply
        self.failures.played()
        log.info("[router] reply %d done (%d pieces)", reply.id, len(reply.utterances))
        self.reply_finished.emit(reply.id)
        self._next_or_drained(Ending.FINISHED)

    @Slot(object)
    def _on_failed(self, failure: SpeechFailure) -> None:
        reply = self.find(failure.reply_id)
        if reply is None:
            return
        reply.failure = failure
        reply.synth_done = True
        # Retry and replay re-synthesise; a stream still being written keeps collecting its
        # text into the kept reply (feed), so Retry speaks all of it.
        kept = reply.again(reply.id, reply.source)
        self.last_reply = kept
        if reply.streaming and not reply.stream_ended:
            self._stopped_streams[reply.id] = kept
        if reply.text:
            self.failures.add(kept, failure.user_message)
        current = reply is self._current
        if not current:
            self._pending.remove(reply)
        else:
            self._drain.stop()
            self._player.stop()
            self._current = None
        self.reply_failed.emit(failure)
        if current:
            self._next_or_drained(Ending.FAILED)

    @Slot(int, int)
    def _on_piece_finished(self, reply_id: int, index: int) -> None:
        reply = self.find(reply_id)
        if reply is None or not reply.streaming:
            return
        reply.pieces_done += 1
        self._check_stream_done(reply)

    def _check_stream_done(self, reply: Reply) -> None:
        if reply.synth_done or not reply.stream_ended:
            return
        if reply.pieces_done >= reply.pieces_requested:
            reply.synth_done = True
            if reply is self._current:
                self._play_available(reply)
