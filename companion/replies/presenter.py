# SPDX-License-Identifier: GPL-3.0-or-later
"""The presenter: what the mascot shows of the current reply — subtitles, mouth and face.

It listens to the router (:mod:`companion.replies.router`) and reads the player's clock; it is
the one place that sets the mascot's face and the speech bubble:

- a reply becomes current: the thinking face; its first sound: the speaking face;
- each piece handed to the player brings its subtitle (shown when the clock reaches it, the
  current word marked) and its visemes (the mouth's timeline, shifted by the piece's offset:
  sound, mouth and subtitles read the same clock);
- muted (the player's clock runs on without sound): subtitles still appear, the mouth rests;
- the last reply done: the happy face, back to idle after :data:`HAPPY_MS`; if a reply failed
  while this one waited behind it (one run of the queue), the bubble says so again, with
  Retry; a failure from before the queue last ran dry is never shown again;
- a failure: the concerned face and the failure in the bubble, with Retry;
- messages from other owners (the session's sign-in prompts, chat failures, notices) go
  through :meth:`show_message` / :meth:`show_signed_out`, and a notice that should wait for
  the end of the reply through :meth:`notice_when_idle`.

Signals:
    state_changed(MascotState): idle, thinking, speaking, signed_out, error.
"""

from __future__ import annotations

import logging
from typing import Protocol

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from companion.replies.reply import Ending, Reply
from companion.replies.router import ReplyRouter
from companion.speech.pipeline import Utterance
from companion.speech.types import PlaybackClock, WordTiming
from companion.speech.visemes import VisemeTimeline
from companion.speech.worker import SpeechFailure
from companion.vocab import BubbleAction, BubbleKind, Expression, MascotState

log = logging.getLogger("companion.replies")

#: Back to the idle face this long after a reply ends.
HAPPY_MS = 2500
#: While a subtitle waits for the clock, look again at least this often (the clock may stall).
SUBTITLE_POLL_MS = 250.0


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


class ClockLike(PlaybackClock, Protocol):
    """The player as the presenter sees it: its clock, and whether sound is on."""

    @property
    def muted(self) -> bool: ...


class ReplyPresenter(QObject):
    """Shows the router's current reply on the mascot and in the bubble.

    Signals:
        state_changed(str): the :class:`~companion.vocab.MascotState` shown now.

    Attributes:
        state: the :class:`~companion.vocab.MascotState` shown now.
    """

    state_changed = Signal(str)

    def __init__(
        self,
        *,
        router: ReplyRouter,
        clock: ClockLike,
        view: ViewLike,
        bubble: BubbleLike,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._router = router
        self._clock = clock
        self._view = view
        self._bubble = bubble
        self.state = MascotState.IDLE
        self._reply: Reply | None = None
        self._timeline: VisemeTimeline | None = None
        self._subtitles: list[tuple[float, Utterance]] = []
        self._shown = 0
        self._idle_notices: list[tuple[str, BubbleAction | None]] = []

        self._tick = QTimer(self)
        self._tick.setSingleShot(True)
        self._tick.setTimerType(Qt.TimerType.PreciseTimer)
        self._tick.timeout.connect(self._on_tick)
        self._idle_timer = QTimer(self)
        self._idle_timer.setSingleShot(True)
        self._idle_timer.timeout.connect(self._back_to_idle)

        router.current_changed.connect(self._on_current)
        router.audio_queued.connect(self._on_audio)
        router.reply_started.connect(self._on_started)
        router.reply_failed.connect(self._on_failed)
        router.reply_cancelled.connect(self._on_cancelled)
        router.drained.connect(self._on_drained)
        router.notice.connect(self._on_router_notice)

    # -- for other owners ----------------------------------------------------------------------

    def show_message(
        self,
        text: str,
        *,
        kind: BubbleKind = BubbleKind.INFO,
        action: BubbleAction | None = None,
        expression: Expression | None = None,
    ) -> None:
        """A message in the bubble. An error brings the concerned face (it stays until
        something replaces it); ``expression`` chooses another face."""
        self._idle_timer.stop()
        self._bubble.show_message(text, kind=kind, action=action)
        if expression is not None:
            self._set(expression, _state_of(expression))
        elif kind == BubbleKind.ERROR:
            self._set(Expression.CONCERNED, MascotState.ERROR)

    def show_signed_out(self, prompt: str) -> None:
        """Asleep, with the prompt and a Sign in button (the session's face)."""
        self.show_message(prompt, action=BubbleAction.SIGN_IN, expression=Expression.SIGNED_OUT)

    def show_signed_in(self, text: str) -> None:
        """Awake again (nothing to replay): the idle face and a line."""
        self.show_message(text, expression=Expression.IDLE)

    def notice_when_idle(self, text: str, *, action: BubbleAction | None = None) -> None:
        """Show ``text`` now when nothing plays, else once the replies have ended."""
        if self._router.busy:
            self._idle_notices.append((text, action))
        else:
            self.show_message(text, action=action)

    @Slot()
    def mute_changed(self) -> None:
        """The player was muted or unmuted: the mouth follows the sound, or rests."""
        reply = self._reply
        if self._clock.muted or reply is None or self._timeline is None:
            self._view.stop_lipsync()
        else:
            self._view.start_lipsync(self._clock, self._timeline)

    def close(self) -> None:
        self._tick.stop()
        self._idle_timer.stop()

    # -- the router's reply --------------------------------------------------------------------

    @Slot(object)
    def _on_current(self, reply: Reply) -> None:
        self._idle_timer.stop()
        self._end_presentation()
        self._reply = reply
        self._set(Expression.THINKING, MascotState.THINKING)

    @Slot(object, object, float)
    def _on_audio(self, reply: Reply, utterance: Utterance, offset_ms: float) -> None:
        if reply is not self._reply:
            return
        self._subtitles.append((offset_ms, utterance))
        first = self._timeline is None
        self._timeline = reply.timeline  # the router keeps the whole reply's timeline
        if self._timeline is not None and not self._clock.muted:
            if first:
                self._view.start_lipsync(self._clock, self._timeline)
            else:
                self._view.extend_timeline(self._timeline)
        self._arm(0)

    @Slot(int)
    def _on_started(self, reply_id: int) -> None:
        self._set(Expression.SPEAKING, MascotState.SPEAKING)

    @Slot(object)
    def _on_failed(self, failure: SpeechFailure) -> None:
        if self._reply is None or self._reply.id != failure.reply_id:
            return  # a queued reply failed: the bubble says so once the queue has drained
        self._end_presentation()
        self._reply = None
        self.show_message(
            failure.user_message, kind=BubbleKind.ERROR, action=BubbleAction(failure.action)
        )

    @Slot(int)
    def _on_cancelled(self, reply_id: int) -> None:
        self._end_presentation()
        self._reply = None
        self._bubble.clear()

    @Slot(str)
    def _on_drained(self, ending: str) -> None:
        self._end_presentation()
        self._reply = None
        if ending == Ending.STOPPED:
            self._bubble.clear()
            self._set(Expression.IDLE, MascotState.IDLE)
        elif ending == Ending.FAILED:
            pass  # _on_failed said it
        elif self._router.failures.to_remind:
            # A reply failed while this one waited behind it: say so again, with Retry.
            self.show_message(
                self._router.failures.to_remind, kind=BubbleKind.ERROR, action=BubbleAction.RETRY
            )
        else:
            self._bubble.finish()
            self._set(Expression.HAPPY, MascotState.IDLE)
            self._idle_timer.start(HAPPY_MS)
        notices, self._idle_notices = self._idle_notices, []
        if notices and ending != Ending.FAILED:
            actions = [a for _, a in notices if a is not None]
            self.show_message(
                " ".join(t for t, _ in notices), action=actions[-1] if actions else None
            )

    @Slot(str)
    def _on_router_notice(self, text: str) -> None:
        self.show_message(text)

    # -- subtitles -----------------------------------------------------------------------------

    def _arm(self, ms: float) -> None:
        self._tick.start(max(0, int(ms)))

    @Slot()
    def _on_tick(self) -> None:
        if self._reply is None:
            return
        pos = self._clock.position_ms()
        subtitles = self._subtitles
        while self._shown < len(subtitles) and subtitles[self._shown][0] <= pos + 1.0:
            offset, utt = subtitles[self._shown]
            self._bubble.show_speech(utt.text, utt.words, self._clock, offset)
            self._shown += 1
        if self._shown < len(subtitles):
            wait = subtitles[self._shown][0] - pos
            self._arm(min(SUBTITLE_POLL_MS, max(5.0, wait)))

    def _end_presentation(self) -> None:
        self._tick.stop()
        self._view.stop_lipsync()
        self._timeline = None
        self._subtitles = []
        self._shown = 0

    # -- the face ------------------------------------------------------------------------------

    def _set(self, expression: Expression, state: MascotState) -> None:
        self._view.set_expression(expression)
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    @Slot()
    def _back_to_idle(self) -> None:
        if not self._router.busy:
            self._view.set_expression(Expression.IDLE)


def _state_of(expression: Expression) -> MascotState:
    return {
        Expression.SIGNED_OUT: MascotState.SIGNED_OUT,
        Expression.CONCERNED: MascotState.ERROR,
        Expression.THINKING: MascotState.THINKING,
        Expression.SPEAKING: MascotState.SPEAKING,
    }.get(expression, MascotState.IDLE)
