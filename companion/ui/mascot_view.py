# SPDX-License-Identifier: GPL-3.0-or-later
"""The mascot itself: expressions, blinking and lip-sync, drawn from cached pixmaps.

A frame timer (about 60 fps) runs only while something moves: lip-sync, a blink, an
expression cross-fade. Otherwise the only thing pending is a single-shot timer for the next
blink, so an idle mascot costs next to nothing.

Lip-sync reads the player's clock every frame and looks up the viseme a little ahead of it
(:attr:`MascotView.LEAD_MS`: lips move just before the sound). The shape switches at once;
the openness follows with a fast attack and a slower release, so the mouth closes smoothly in
pauses (gaps in the timeline are rest) and at the end.
"""

from __future__ import annotations

import logging
import math
import random

from PySide6.QtCore import QElapsedTimer, QPointF, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QHideEvent, QPainter, QPaintEvent, QShowEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from companion.speech.types import PlaybackClock
from companion.speech.visemes import REST, VisemeFrame, VisemeTimeline
from companion.ui.art import (
    BLINKING,
    SCALE_SIZES,
    ArtFrames,
    MascotArt,
    check_expression,
    check_scale,
)

log = logging.getLogger("companion.ui")


class MascotView(QWidget):
    """The drawn mascot.

    Signals:
        mouth_changed(str, float): the drawn mouth changed (viseme, openness rounded to 0.01).
        art_changed(): another character is drawn (:meth:`set_art`).

    Attributes:
        LEAD_MS: how far ahead of the clock the mouth looks (lips lead the sound).
        ATTACK_MS / RELEASE_MS: time constants of the openness smoothing (opening / closing).
        FRAME_MS: frame timer interval.
    """

    mouth_changed = Signal(str, float)
    art_changed = Signal()

    FRAME_MS = 16
    LEAD_MS = 40.0
    ATTACK_MS = 30.0
    RELEASE_MS = 80.0
    #: After the timeline's end and with the mouth closed, the frame timer stops by itself.
    END_GRACE_MS = 250.0
    FADE_MS = 200.0
    BLINK_MS = 180.0
    BLINK_MIN_MS = 2000
    BLINK_MAX_MS = 6000
    DOUBLE_BLINK_CHANCE = 0.15
    #: Longest slice of background pixmap rendering per event-loop turn.
    WARM_BUDGET_MS = 4.0

    def __init__(
        self,
        *,
        art: MascotArt | None = None,
        scale: str = "medium",
        rng: random.Random | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._art = art if art is not None else MascotArt()
        self._rng = rng if rng is not None else random.Random()
        self._scale = check_scale(scale)
        self._expression = "idle"
        self._fade_from: str | None = None
        self._fade_start = 0.0

        self._clock: PlaybackClock | None = None
        self._timeline: VisemeTimeline | None = None
        self._shape = "sil"
        self._openness = 0.0
        self._pose: VisemeFrame | None = None
        self._last_tick = 0.0
        self._emitted: tuple[str, float] = ("sil", 0.0)

        self._blink_start: float | None = None
        self._eye_openness = 1.0

        self._elapsed = QElapsedTimer()
        self._elapsed.start()
        self._frame_timer = QTimer(self)
        self._frame_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._frame_timer.setInterval(self.FRAME_MS)
        self._frame_timer.timeout.connect(self._on_frame)
        self._blink_timer = QTimer(self)
        self._blink_timer.setSingleShot(True)
        self._blink_timer.setTimerType(Qt.TimerType.CoarseTimer)
        self._blink_timer.timeout.connect(self._start_blink)
        # Renders the mouths in small slices while idle, so speech never waits for them.
        self._warm_timer = QTimer(self)
        self._warm_timer.setInterval(0)
        self._warm_timer.timeout.connect(self._warm_step)
        self._painted_frames: ArtFrames | None = None

        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, False)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Companion mascot")
        self._apply_size()

    # -- public API ---------------------------------------------------------------------------

    @property
    def art(self) -> MascotArt:
        return self._art

    def set_art(self, art: MascotArt) -> None:
        """Draw another character from now on (a live switch: lip-sync and blinks go on).

        Its pixmaps are rendered in the background, like after a scale change; the first
        frame renders what it needs at once.
        """
        if art is self._art:
            return
        self._art = art
        self._painted_frames = None
        self._fade_from = None
        log.info("[mascot] character %s", art.character.id)
        self.update()
        self._start_warming()
        self.art_changed.emit()

    def bubble_anchor(self) -> QPointF:
        """Where the speech bubble's tail points, in this view's logical px."""
        return self._art.bubble_anchor(self.width())

    @property
    def expression(self) -> str:
        return self._expression

    @property
    def scale(self) -> str:
        return self._scale

    @property
    def animating(self) -> bool:
        """True only while the frame timer runs (lip-sync, a blink, a cross-fade)."""
        return self._frame_timer.isActive()

    @property
    def lipsync_active(self) -> bool:
        return self._clock is not None

    @property
    def blinking(self) -> bool:
        return self._blink_start is not None

    @property
    def next_blink_ms(self) -> int | None:
        """Milliseconds until the next scheduled blink, None when none is scheduled."""
        return self._blink_timer.remainingTime() if self._blink_timer.isActive() else None

    def set_expression(self, name: str) -> None:
        check_expression(name)
        if name == self._expression:
            return
        old = self._expression
        self._expression = name
        if self.isVisible():
            self._fade_from = old
            self._fade_start = self._now()
            self._ensure_frames()
        if name not in BLINKING:
            self._blink_start = None
            self._eye_openness = 1.0
        log.debug("[mascot] expression %s -> %s", old, name)
        self.update()

    def start_lipsync(self, clock: PlaybackClock, timeline: VisemeTimeline) -> None:
        """Follow ``clock`` through ``timeline`` until :meth:`stop_lipsync`."""
        self._clock = clock
        self._timeline = timeline
        self._pose = None
        self._last_tick = self._now()
        self._step_lipsync(0.0)
        self._ensure_frames()

    def extend_timeline(self, timeline: VisemeTimeline) -> None:
        """A longer timeline for the same clock (more pieces of the reply arrived)."""
        self._timeline = timeline
        if self._clock is not None:
            self._ensure_frames()

    def stop_lipsync(self) -> None:
        """Stop following the clock; the mouth goes to rest at once."""
        self._clock = None
        self._timeline = None
        self._shape = "sil"
        self._openness = 0.0
        self._publish_mouth()
        self.update()
        if not self._needs_frames():
            self._frame_timer.stop()

    def set_mouth(self, frame: VisemeFrame | None) -> None:
        """Hold a mouth shape (previews, screenshots); ``None`` returns to the expression's.

        Stops lip-sync.
        """
        self._clock = None
        self._timeline = None
        self._pose = frame
        if frame is None:
            self._shape, self._openness = "sil", 0.0
        else:
            self._shape, self._openness = frame.viseme, frame.openness
        self._publish_mouth()
        self.update()
        if not self._needs_frames():
            self._frame_timer.stop()

    def current_mouth(self) -> VisemeFrame:
        """The mouth as drawn now (REST when closed)."""
        if self._shape == "sil" and self._openness <= 0.0:
            return REST
        return VisemeFrame(self._shape, self._openness)

    def set_scale(self, scale: str) -> None:
        self._scale = check_scale(scale)
        self._apply_size()
        self.update()
        self._start_warming()

    @property
    def warming(self) -> bool:
        """True while pixmaps for this size are still being rendered in the background."""
        return self._warm_timer.isActive()

    def _start_warming(self) -> None:
        if self.isVisible():
            self._warm_timer.start()

    @Slot()
    def _warm_step(self) -> None:
        frames = self._art.frames(self.width(), self._dpr())
        if frames.warm(self._expression, budget_ms=self.WARM_BUDGET_MS):
            self._warm_timer.stop()

    def sizeHint(self) -> QSize:
        side = SCALE_SIZES[self._scale]
        return QSize(side, side)

    # -- frames -------------------------------------------------------------------------------

    def _now(self) -> float:
        return self._elapsed.nsecsElapsed() / 1e6

    def _dpr(self) -> float:
        return float(self.devicePixelRatioF())

    def _apply_size(self) -> None:
        side = SCALE_SIZES[self._scale]
        # resize, not setFixedSize: min/max sizes on a top-level view would be pushed to the
        # platform window (which the offscreen platform refuses with a warning).
        self.resize(side, side)
        self.updateGeometry()

    def _ensure_frames(self) -> None:
        if not self._frame_timer.isActive():
            self._last_tick = self._now()
            self._frame_timer.start()

    def _needs_frames(self) -> bool:
        if self._fade_from is not None or self._blink_start is not None:
            return True
        if self._clock is None or self._timeline is None:
            return False
        if self._openness > 0.0 or self._shape != "sil":
            return True
        # Past the end with the mouth shut: nothing moves until the timeline is extended.
        ahead = self._clock.position_ms() + self.LEAD_MS
        return ahead < self._timeline.duration_ms + self.END_GRACE_MS

    @Slot()
    def _on_frame(self) -> None:
        now = self._now()
        dt = max(0.0, now - self._last_tick)
        self._last_tick = now
        self.advance(dt, now=now)

    def advance(self, dt_ms: float, *, now: float | None = None) -> None:
        """One animation step of ``dt_ms`` (the frame timer calls this every frame).

        Lip-sync smoothing uses ``dt_ms``; blinks and cross-fades use the wall clock ``now``.
        """
        if now is None:
            now = self._now()
        dt = max(0.0, dt_ms)
        dirty = False
        if self._clock is not None:
            dirty |= self._step_lipsync(dt)
        if self._blink_start is not None:
            dirty |= self._step_blink(now)
        if self._fade_from is not None:
            dirty = True
            if now - self._fade_start >= self.FADE_MS:
                self._fade_from = None
        if dirty:
            self.update()
        if not self._needs_frames():
            self._frame_timer.stop()

    def _step_lipsync(self, dt: float) -> bool:
        """Advance the mouth by ``dt`` ms toward the timeline at the clock; True if it moved."""
        clock, timeline = self._clock, self._timeline
        if clock is None or timeline is None:
            return False
        target = timeline.at(clock.position_ms() + self.LEAD_MS)
        if target.viseme != "sil":
            self._shape = target.viseme
        tau = self.ATTACK_MS if target.openness > self._openness else self.RELEASE_MS
        self._openness += (target.openness - self._openness) * (1.0 - math.exp(-dt / tau))
        if target.viseme == "sil" and self._openness < 0.01:
            self._shape, self._openness = "sil", 0.0
        elif abs(self._openness - target.openness) < 0.002:
            self._openness = target.openness
        return self._publish_mouth()

    def _publish_mouth(self) -> bool:
        drawn = (self._shape, round(self._openness, 2))
        if drawn == self._emitted:
            return False
        self._emitted = drawn
        self.mouth_changed.emit(drawn[0], drawn[1])
        return True

    # -- blinking -----------------------------------------------------------------------------

    def _schedule_blink(self, delay_ms: int | None = None) -> None:
        if delay_ms is None:
            delay_ms = self._rng.randint(self.BLINK_MIN_MS, self.BLINK_MAX_MS)
        self._blink_timer.start(delay_ms)

    @Slot()
    def _start_blink(self) -> None:
        if not self.isVisible():
            return
        if self._expression not in BLINKING:
            self._schedule_blink()
            return
        self._blink_start = self._now()
        self._ensure_frames()

    def blink(self) -> None:
        """Blink now (also used by tests and previews)."""
        self._blink_timer.stop()
        self._blink_start = self._now()
        self._ensure_frames()

    def _step_blink(self, now: float) -> bool:
        start = self._blink_start
        assert start is not None
        t = now - start
        close, hold = self.BLINK_MS * 0.38, self.BLINK_MS * 0.17
        if t < close:
            eye = 1.0 - t / close
        elif t < close + hold:
            eye = 0.0
        elif t < self.BLINK_MS:
            eye = (t - close - hold) / (self.BLINK_MS - close - hold)
        else:
            eye = 1.0
            self._blink_start = None
            double = self._rng.random() < self.DOUBLE_BLINK_CHANCE
            if self.isVisible():
                self._schedule_blink(int(self.BLINK_MS * 1.4) if double else None)
        changed = abs(eye - self._eye_openness) > 1e-3
        self._eye_openness = eye
        return changed

    # -- Qt events ----------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._blink_timer.isActive() and self._blink_start is None:
            self._schedule_blink()
        if self._needs_frames():
            self._ensure_frames()
        self._start_warming()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._blink_timer.stop()
        self._blink_start = None
        self._eye_openness = 1.0
        self._fade_from = None
        self._frame_timer.stop()
        self._warm_timer.stop()

    def paintEvent(self, event: QPaintEvent) -> None:
        frames = self._art.frames(self.width(), self._dpr())
        if frames is not self._painted_frames:
            # A new size or pixel ratio (another screen): render the rest in the background.
            self._painted_frames = frames
            self._start_warming()
        painter = QPainter(self)
        mouth: VisemeFrame | None
        if self._clock is not None or self._pose is not None:
            mouth = VisemeFrame(self._shape, self._openness)
        else:
            mouth = None
        frames.draw(
            painter, expression=self._expression, eye_openness=self._eye_openness, mouth=mouth
        )
        if self._fade_from is not None:
            f = min(1.0, (self._now() - self._fade_start) / self.FADE_MS)
            painter.setOpacity(1.0 - f)
            frames.draw(painter, expression=self._fade_from, mouth=mouth)
        painter.end()
