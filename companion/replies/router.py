# SPDX-License-Identifier: GPL-3.0-or-later
"""The reply router: which reply speaks now, and everything it drives on the GUI thread.

Every reply gets an id. Results for an id that is no longer current or queued are stale and
dropped. A reply's pieces are appended to one player stream, so the player's clock runs from
the start of the reply to its end; each piece's viseme timeline is shifted by the audio already
enqueued before it and the mascot's timeline is extended, so sound, mouth and subtitles all
read the same clock.

Mute (a decision, see the README): no sound and no mouth movement, but the subtitles still
appear, paced by a silent clock that runs in real time as the audio would. The mascot keeps its
"speaking" face so the user sees something is being said. Muting in the middle of a reply
silences it at once and lets the subtitles run on.

Autoplay off: a reply is shown in the bubble and kept in the replay slot; "Replay last" speaks
it. Requests the user makes directly (read-aloud box, test voice, replay) always speak.

A reply that fails (the network, the server) is kept until Retry: the queue goes on with the
next reply, and when it has drained the bubble says again that a reply could not be spoken,
with Retry, which speaks every failed reply again, in order. Nothing that failed is lost
because something else played after it.

Streamed replies (a chat reply still being written): ``begin_stream()`` gives an id,
``feed(id, piece)`` hands over each speakable piece as the chunker cuts it (the worker
synthesises them in order, each while the one before plays), ``end_stream(id)`` says no more
will come. The pieces join the same player stream and timeline as any reply's.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from companion.config import Settings
from companion.speech.pipeline import Utterance, WordTiming
from companion.speech.types import FloatArray, PlaybackClock
from companion.speech.visemes import VisemeTimeline
from companion.speech.worker import SpeechFailure, SpeechWorker, UnauthorizedEvent

log = logging.getLogger("companion.replies")

#: Back to the idle face this long after a reply ends.
HAPPY_MS = 2500
#: Poll interval while waiting for the player to drain (only while a reply ends).
DRAIN_POLL_MS = 30
#: Failed replies kept for Retry (the oldest go first).
MAX_FAILED = 10


class Sink(Protocol):
    """What the router needs from the player (and from the silent clock used when muted)."""

    def begin(self) -> None: ...
    def enqueue(self, samples: FloatArray) -> None: ...
    def end(self) -> None: ...
    def stop(self) -> None: ...
    def position_ms(self) -> float: ...
    @property
    def finished(self) -> bool: ...


class ViewLike(Protocol):
    def set_expression(self, name: str) -> None: ...
    def start_lipsync(self, clock: PlaybackClock, timeline: VisemeTimeline) -> None: ...
    def extend_timeline(self, timeline: VisemeTimeline) -> None: ...
    def stop_lipsync(self) -> None: ...


class BubbleLike(Protocol):
    def show_speech(
        self, text: str, words: list[WordTiming], clock: PlaybackClock, offset_ms: float
    ) -> None: ...
    def show_message(self, text: str, *, kind: str = "info", action: str | None = None) -> None: ...
    def finish(self) -> None: ...
    def clear(self) -> None: ...


class SilentClock:
    """A clock that runs in real time over the audio it was given, without playing it.

    Same interface as the player's stream (begin/enqueue/end/stop/position/finished).
    """

    def __init__(self, *, sample_rate: int, now: Callable[[], float] = time.monotonic) -> None:
        self._rate = sample_rate
        self._now = now
        self._start: float | None = None
        self._base_ms = 0.0
        self._total_ms = 0.0
        self._ended = False
        self._frozen: float | None = None

    def begin(self, start_ms: float = 0.0) -> None:
        self._start = self._now()
        self._base_ms = start_ms
        self._total_ms = start_ms
        self._ended = False
        self._frozen = None

    def enqueue(self, samples: FloatArray) -> None:
        self.enqueue_ms(1000.0 * len(samples) / self._rate)

    def enqueue_ms(self, ms: float) -> None:
        if self._start is None:
            self.begin()
        # Audio that arrives after the clock ran dry starts from where the clock stopped.
        pos = self.position_ms()
        if pos >= self._total_ms:
            self._start = self._now()
            self._base_ms = self._total_ms
        self._total_ms += ms

    def end(self) -> None:
        self._ended = True

    def stop(self) -> None:
        self._frozen = self.position_ms()
        self._ended = True

    def position_ms(self) -> float:
        if self._frozen is not None:
            return self._frozen
        if self._start is None:
            return 0.0
        elapsed = 1000.0 * (self._now() - self._start)
        return min(self._total_ms, self._base_ms + elapsed)

    @property
    def finished(self) -> bool:
        return self._ended and self.position_ms() >= self._total_ms


@dataclass(eq=False)
class Reply:
    """One reply and how far it got.

    Attributes:
        id: the reply id (grows; results for other ids are stale).
        text: the reply text (never logged).
        source: where it came from ("say", "read_aloud", "greeting", "replay", ...).
        utterances: pieces received so far (kept so replay need not re-synthesise).
        synth_done: the worker finished with it.
        failure: set when it failed.
    """

    id: int
    text: str
    source: str
    utterances: list[Utterance] = field(default_factory=list)
    synth_done: bool = False
    failure: SpeechFailure | None = None
    from_store: bool = False
    voice: str | None = None
    speed: float | None = None
    # playback state
    enqueued: int = 0
    total_ms: float = 0.0
    timeline: VisemeTimeline | None = None
    subtitles: list[tuple[float, Utterance]] = field(default_factory=list)
    shown: int = 0
    started: bool = False
    # streamed replies: text arrives in pieces (begin_stream / feed / end_stream)
    streaming: bool = False
    stream_ended: bool = False
    pieces_requested: int = 0
    pieces_done: int = 0


class ReplyRouter(QObject):
    """Routes replies to the speech worker, the player, the mascot and the bubble.

    Signals:
        speech_requested(int, str, object, float): to the worker's ``speak`` slot (queued).
        piece_requested(int, int, str, object, float): to the worker's ``speak_piece`` slot.
        sign_in_needed(UnauthorizedEvent): the session lapsed; emitted once until resolved.
        reply_started(int): a reply's first piece started playing.
        reply_finished(int): a reply played to its end.
        reply_failed(SpeechFailure): a reply could not be spoken.
        state_changed(str): "idle", "thinking", "speaking", "signed_out", "error".

    Attributes:
        held_reply: the reply the backend refused (401), waiting for sign-in; or None.
        last_reply: the replay slot.
        failed_replies: replies that failed and were not retried yet (Retry speaks them).
    """

    speech_requested = Signal(int, str, object, float)
    piece_requested = Signal(int, int, str, object, float)
    sign_in_needed = Signal(object)
    reply_started = Signal(int)
    reply_finished = Signal(int)
    reply_failed = Signal(object)
    state_changed = Signal(str)

    def __init__(
        self,
        *,
        settings: Settings,
        player: Sink,
        worker: SpeechWorker,
        view: ViewLike,
        bubble: BubbleLike,
        sample_rate: int,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings
        self._player = player
        self._silent = SilentClock(sample_rate=sample_rate)
        self._sink: Sink = player
        self._worker = worker
        self._view = view
        self._bubble = bubble
        self._next_id = 1
        self._current: Reply | None = None
        self._pending: deque[Reply] = deque()
        self.last_reply: Reply | None = None
        self.held_reply: UnauthorizedEvent | None = None
        self.failed_replies: list[Reply] = []
        self._failure_message = ""
        self._held_more: list[str] = []
        self._held_actions: list[Callable[[], None]] = []
        self._held_releases: list[Callable[[], None]] = []
        self._held_streams: dict[int, Reply] = {}
        self._state = "idle"
        self._closed = False

        self._tick = QTimer(self)
        self._tick.setSingleShot(True)
        self._tick.setTimerType(Qt.TimerType.PreciseTimer)
        self._tick.timeout.connect(self._on_tick)
        self._idle_timer = QTimer(self)
        self._idle_timer.setSingleShot(True)
        self._idle_timer.timeout.connect(self._back_to_idle)

        self.speech_requested.connect(worker.speak)
        self.piece_requested.connect(worker.speak_piece)
        worker.piece_finished.connect(self._on_piece_finished)
        worker.utterance_ready.connect(self._on_utterance)
        worker.finished.connect(self._on_worker_finished)
        worker.failed.connect(self._on_failed)
        worker.unauthorized.connect(self._on_unauthorized)

    # -- public --------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

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

    @property
    def muted(self) -> bool:
        return self._settings.muted

    def say(
        self,
        text: str,
        *,
        source: str = "say",
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
            self._bubble.show_message(text, kind="info")
            log.info("[router] reply %d shown, not spoken (autoplay off)", self.last_reply.id)
            return None
        reply = Reply(self._allocate_id(), text, source, voice=voice, speed=speed)
        self._submit(reply)
        return reply.id

    def begin_stream(self, *, source: str = "chat", force: bool = False) -> int | None:
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
        held = self._held_streams.get(reply_id)
        if held is not None:  # waiting for sign-in: keep the text, synthesise nothing
            held.text = f"{held.text} {piece}".strip()
            return
        reply = self._find(reply_id)
        if reply is None or not reply.streaming or reply.stream_ended:
            return  # cancelled or interrupted: nothing of it plays later
        reply.text = f"{reply.text} {piece}".strip()
        index = reply.pieces_requested
        reply.pieces_requested += 1
        voice = self._settings.voice or None
        self.piece_requested.emit(reply.id, index, piece, voice, float(self._settings.speed))

    def end_stream(self, reply_id: int) -> None:
        """No more pieces for ``reply_id``; it ends once the last one has played."""
        held = self._held_streams.get(reply_id)
        if held is not None:
            held.stream_ended = True
        reply = self._find(reply_id)
        if reply is None or not reply.streaming:
            return
        reply.stream_ended = True
        self._check_stream_done(reply)

    def cancel(self, reply_id: int) -> None:
        """Drop one reply: silent at once when it is speaking, off the queue when it waits."""
        reply = self._find(reply_id)
        if reply is None:
            return
        if not reply.synth_done:
            self._worker.cancel(reply.id)
        if reply is not self._current:
            self._pending.remove(reply)
            return
        self._tick.stop()
        self._current = None
        self._sink.stop()
        self._view.stop_lipsync()
        self._bubble.clear()
        log.info("[router] reply %d cancelled", reply.id)
        if self._pending:
            self._make_current(self._pending.popleft())
        else:
            self._set_expression("idle", "idle")

    def show_failure(self, message: str, *, kind: str = "error", action: str | None = None) -> None:
        """A failure met outside the speech path (the chat stream): the bubble says it, with
        the concerned face, and it stays until something replaces it."""
        self._idle_timer.stop()
        self._bubble.show_message(message, kind=kind, action=action)
        self._set_expression("concerned", "error")

    @Slot()
    def stop(self) -> None:
        """Stop speaking and drop the queue (Esc, the Stop item)."""
        self._cancel_all()
        self._sink.stop()
        self._view.stop_lipsync()
        self._bubble.clear()
        self._set_expression("idle", "idle")

    @Slot()
    def replay_last(self) -> int | None:
        """Speak the last reply again, from stored audio when it was complete."""
        last = self.last_reply
        if last is None:
            self._bubble.show_message("Nothing to replay yet.", kind="info")
            return None
        reply = Reply(self._allocate_id(), last.text, "replay", voice=last.voice, speed=last.speed)
        if last.synth_done and last.failure is None and last.utterances:
            reply.utterances = list(last.utterances)
            reply.synth_done = True
            reply.from_store = True
        self._interrupt_or_queue(reply)
        if not reply.from_store:
            self._request(reply)
        return reply.id

    @Slot(bool)
    def set_muted(self, muted: bool) -> None:
        if muted == self._settings.muted:
            return
        self._settings.muted = muted
        reply = self._current
        if muted and reply is not None and reply.started and self._sink is self._player:
            pos = self._player.position_ms()
            self._player.stop()
            self._view.stop_lipsync()
            self._silent.begin(pos)
            self._silent.enqueue_ms(max(0.0, reply.total_ms - pos))
            if reply.synth_done:
                self._silent.end()
            self._sink = self._silent
            self._arm_tick(0)
        log.info("[router] muted=%s", muted)

    def resume_held(self) -> int | None:
        """After sign-in: the held reply plays from its start (re-synthesised)."""
        held, more = self.held_reply, self._held_more
        actions, self._held_actions, self._held_releases = self._held_actions, [], []
        self.held_reply, self._held_more = None, []
        if held is None:
            return None
        first = self.say(held.text, source="resumed", force=True)
        for text in more:
            rid = self.say(text, source="resumed", force=True)
            first = rid if first is None else first  # a 401 from elsewhere holds no text
        for action in actions:
            action()
        return first

    def release_held(self) -> None:
        """Sign-in cancelled: the held reply waits in the replay slot."""
        held, more = self.held_reply, self._held_more
        releases, self._held_actions, self._held_releases = self._held_releases, [], []
        self.held_reply, self._held_more = None, []
        # The first held text (a 401 met outside speech holds none: the reply it stopped is
        # in ``more``).
        texts = [t for t in [held.text if held is not None else "", *more] if t]
        if texts:
            self.last_reply = Reply(self._allocate_id(), texts[0], "held")
        for release in releases:
            release()

    def close(self) -> None:
        """Shut-down: cancel all work and stop timers (audio is stopped by the owner)."""
        self._closed = True
        self._cancel_all()
        self._tick.stop()
        self._idle_timer.stop()

    # -- internals -----------------------------------------------------------------------------

    def _allocate_id(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    def _set_expression(self, expression: str, state: str) -> None:
        self._view.set_expression(expression)
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    def _cancel_all(self) -> None:
        self._tick.stop()
        for reply in [self._current, *self._pending]:
            if reply is not None and not reply.synth_done:
                self._worker.cancel(reply.id)
        self._current = None
        self._pending.clear()

    def _submit(self, reply: Reply) -> None:
        self._interrupt_or_queue(reply)
        self._request(reply)

    def _interrupt_or_queue(self, reply: Reply) -> None:
        if self._current is not None and self._settings.queue_mode == "queue":
            self._pending.append(reply)
            log.info("[router] reply %d queued behind %d", reply.id, self._current.id)
            return
        if self._current is not None:
            log.info("[router] reply %d interrupts %d", reply.id, self._current.id)
            self._cancel_all()
            self._sink.stop()
            self._view.stop_lipsync()
        self._make_current(reply)

    def _request(self, reply: Reply) -> None:
        voice = reply.voice if reply.voice is not None else self._settings.voice
        speed = reply.speed if reply.speed is not None else self._settings.speed
        self.speech_requested.emit(reply.id, reply.text, voice or None, float(speed))

    def _make_current(self, reply: Reply) -> None:
        self._idle_timer.stop()
        self._current = reply
        self._sink = self._silent if self._settings.muted else self._player
        self._sink.begin()
        self._set_expression("thinking", "thinking")
        self._play_available(reply)

    def _find(self, reply_id: int) -> Reply | None:
        if self._current is not None and self._current.id == reply_id:
            return self._current
        for reply in self._pending:
            if reply.id == reply_id:
                return reply
        return None

    @Slot(object)
    def _on_utterance(self, utterance: Utterance) -> None:
        reply = self._find(utterance.reply_id)
        if reply is None:
            log.debug("[router] stale piece of reply %d dropped", utterance.reply_id)
            return
        reply.utterances.append(utterance)
        if reply is self._current:
            self._play_available(reply)

    @Slot(int)
    def _on_worker_finished(self, reply_id: int) -> None:
        reply = self._find(reply_id)
        if reply is None:
            return
        reply.synth_done = True
        if reply is self._current:
            self._play_available(reply)

    def _play_available(self, reply: Reply) -> None:
        sink = self._sink
        while reply.enqueued < len(reply.utterances):
            utt = reply.utterances[reply.enqueued]
            offset = reply.total_ms
            sink.enqueue(utt.samples)
            reply.enqueued += 1
            reply.total_ms += utt.duration_ms
            reply.subtitles.append((offset, utt))
            if sink is self._player:
                if reply.timeline is None:
                    reply.timeline = utt.timeline.shifted(offset)
                    self._view.start_lipsync(self._player, reply.timeline)
                else:
                    reply.timeline = reply.timeline.extended(utt.timeline, offset)
                    self._view.extend_timeline(reply.timeline)
            if not reply.started:
                reply.started = True
                log.info("[router] reply %d speaking (%s)", reply.id, reply.source)
                self._set_expression("speaking", "speaking")
                self.reply_started.emit(reply.id)
        if reply.synth_done:
            if reply.failure is not None:
                return
            if not reply.utterances:
                self._finish_current(reply)
                return
            sink.end()
        self._arm_tick(0)

    def _arm_tick(self, ms: float) -> None:
        self._tick.start(max(0, int(ms)))

    @Slot()
    def _on_tick(self) -> None:
        reply = self._current
        if reply is None:
            return
        sink = self._sink
        pos = sink.position_ms()
        while reply.shown < len(reply.subtitles) and reply.subtitles[reply.shown][0] <= pos + 1.0:
            offset, utt = reply.subtitles[reply.shown]
            self._bubble.show_speech(utt.text, utt.words, sink, offset)
            reply.shown += 1
        if reply.shown < len(reply.subtitles):
            # The clock may stall (underflow); re-check at least every 250 ms.
            self._arm_tick(min(250.0, max(5.0, reply.subtitles[reply.shown][0] - pos)))
        elif reply.synth_done:
            if sink.finished:
                self._finish_current(reply)
            else:
                self._arm_tick(min(250.0, max(float(DRAIN_POLL_MS), reply.total_ms - pos)))
        # else: waiting for the next piece; _play_available re-arms.

    def _finish_current(self, reply: Reply) -> None:
        self._tick.stop()
        self._view.stop_lipsync()
        self._current = None
        if reply.utterances and not reply.from_store:
            self.last_reply = reply
        log.info("[router] reply %d done (%d pieces)", reply.id, len(reply.utterances))
        self.reply_finished.emit(reply.id)
        if self._pending:
            nxt = self._pending.popleft()
            self._make_current(nxt)
            return
        if self.failed_replies:  # something failed before this one: say so again, with Retry
            self._bubble.show_message(self._failure_message, kind="error", action="retry")
            self._set_expression("concerned", "error")
            return
        self._bubble.finish()
        self._set_expression("happy", "idle")
        self._idle_timer.start(HAPPY_MS)

    @Slot()
    def _back_to_idle(self) -> None:
        if self._current is None:
            self._view.set_expression("idle")

    @Slot(object)
    def _on_failed(self, failure: SpeechFailure) -> None:
        reply = self._find(failure.reply_id)
        if reply is None:
            return
        reply.failure = failure
        reply.synth_done = True
        self.last_reply = Reply(reply.id, reply.text, reply.source)  # retry / replay re-synthesises
        if reply.text:
            kept = Reply(reply.id, reply.text, reply.source, voice=reply.voice, speed=reply.speed)
            self.failed_replies = [*self.failed_replies, kept][-MAX_FAILED:]
            self._failure_message = failure.user_message
        self.reply_failed.emit(failure)
        if reply is not self._current:
            self._pending.remove(reply)
            return
        self._tick.stop()
        self._sink.stop()
        self._view.stop_lipsync()
        self._current = None
        self._bubble.show_message(failure.user_message, kind="error", action=failure.action)
        self._set_expression("concerned", "error")
        if self._pending:
            self._make_current(self._pending.popleft())

    @Slot()
    def retry(self) -> int | None:
        """The bubble's Retry button: every reply that failed, again and in order (the first
        interrupts or queues like any reply, the rest queue behind it); with none, the last
        reply again."""
        failed, self.failed_replies = self.failed_replies, []
        if not failed or self._closed:
            return self.replay_last()
        first: int | None = None
        for old in failed:
            reply = Reply(self._allocate_id(), old.text, "retry", voice=old.voice, speed=old.speed)
            if first is None:
                self._interrupt_or_queue(reply)
                first = reply.id
            else:
                self._pending.append(reply)
            self._request(reply)
        log.info("[router] retrying %d failed replies", len(failed))
        return first

    @Slot(int, int)
    def _on_piece_finished(self, reply_id: int, index: int) -> None:
        reply = self._find(reply_id)
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

    @Slot(object)
    def _on_unauthorized(self, event: UnauthorizedEvent) -> None:
        reply = self._find(event.reply_id)
        if reply is None:
            return
        if reply.streaming:
            # Its text is still arriving: after sign-in all of it plays, from its start.
            self._held_streams[reply.id] = reply
            self.hold(
                replace(event, text=""),
                resume=lambda: self._resume_stream(reply.id),
                release=lambda: self._release_stream(reply.id),
            )
            return
        self.hold(event)

    def _resume_stream(self, reply_id: int) -> None:
        reply = self._held_streams.pop(reply_id, None)
        if reply is not None:
            self.say(reply.text, source="resumed", force=True)

    def _release_stream(self, reply_id: int) -> None:
        reply = self._held_streams.pop(reply_id, None)
        if reply is not None and reply.text:
            self.last_reply = Reply(self._allocate_id(), reply.text, "held")

    def hold(
        self,
        event: UnauthorizedEvent,
        *,
        resume: Callable[[], None] | None = None,
        release: Callable[[], None] | None = None,
    ) -> None:
        """A 401 from any part of the app (speech worker, chat stream): stop, show the
        signed-out face, ask for sign-in once. ``event.text`` (if any) plays after sign-in;
        ``resume`` runs then too, ``release`` when sign-in is cancelled."""
        if resume is not None:
            self._held_actions.append(resume)
        if release is not None:
            self._held_releases.append(release)
        first = self.held_reply is None
        if first:
            self.held_reply = event
        elif event.text:
            self._held_more.append(event.text)
        # Everything else waiting would meet the same 401: hold it too, in order.
        others = [
            r for r in [self._current, *self._pending] if r is not None and r.id != event.reply_id
        ]
        self._cancel_all()
        self._held_more.extend(r.text for r in others if r.text and not r.streaming)
        self._sink.stop()
        self._view.stop_lipsync()
        self._bubble.show_message(
            "You are signed out. Sign in to hear the reply.", kind="info", action="sign_in"
        )
        self._set_expression("signed_out", "signed_out")
        log.info("[router] reply %d held until sign-in", event.reply_id)
        if first:
            self.sign_in_needed.emit(event)
