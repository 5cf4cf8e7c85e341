# SPDX-License-Identifier: GPL-3.0-or-later
"""The speech bubble: the sentence being spoken, the current word marked, messages.

It paints its own opaque rounded card (light fill, dark text, a border and a soft shadow),
so it reads the same on light and dark desktops. Word marking reads the same clock as the
mouth; its timer runs only while a word can still change.
"""

from __future__ import annotations

import bisect
import html
import logging
import math

from PySide6.QtCore import (
    QEasingCurve,
    QPropertyAnimation,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QPainter, QPaintEvent, QPixmap, QTextDocument
from PySide6.QtWidgets import QGraphicsOpacityEffect, QLabel, QPushButton, QWidget

from companion.speech.types import PlaybackClock, WordTiming
from companion.ui.bubble_card import TEXT_COLOR, card_shape, render_card

log = logging.getLogger("companion.ui")

#: Button labels for the actions a message can carry.
ACTION_LABELS: dict[str, str] = {"retry": "Retry", "sign_in": "Sign in", "settings": "Settings"}
KINDS = ("info", "error", "speech")

QWIDGETSIZE_MAX = 16777215  # Qt's QWIDGETSIZE_MAX (not exported by PySide6)
_MARK_BG = "#ffe27a"
_MARK_FG = "#1b1530"


class SpeechBubble(QWidget):
    """A card above (or below) the mascot.

    Signals:
        retry_clicked(): the Retry button of an error was clicked.
        action_clicked(str): another action button was clicked (``"sign_in"``, ...).
        layout_changed(): size or visibility changed; the window places the bubble again.

    Attributes:
        MAX_TEXT_WIDTH: longest line, in logical px, before the text wraps.
        hold_ms / fade_ms: how long a finished bubble stays, then how long it fades.
    """

    retry_clicked = Signal()
    action_clicked = Signal(str)
    layout_changed = Signal()

    MAX_TEXT_WIDTH = 280
    MIN_TEXT_WIDTH = 48
    SHADOW = 8
    TAIL = 11
    RADIUS = 14.0
    PAD_X = 14
    PAD_Y = 10
    WORD_TICK_MS = 30
    GAP = 10
    INFO_HOLD_MS = 4000

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hold_ms = 2500
        self.fade_ms = 600
        self._kind = "info"
        self._card_cache: QPixmap | None = None
        self._card_key: tuple[object, ...] = ()
        self._action: str | None = None
        self._text = ""
        self._words: list[WordTiming] = []
        self._starts: list[float] = []
        self._clock: PlaybackClock | None = None
        self._offset_ms = 0.0
        self._word: int | None = None
        self._tail_edge = "bottom"
        self._tail_x: float | None = None
        self._inline_button = False

        self._label = QLabel(self)
        self._label.setTextFormat(Qt.TextFormat.RichText)
        self._label.setWordWrap(True)
        self._label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._label.setStyleSheet(f"color: {TEXT_COLOR}; background: transparent;")
        font = self._label.font()
        font.setPointSizeF(font.pointSizeF() * 1.08)
        self._label.setFont(font)

        self._button = QPushButton(self)
        self._button.setCursor(Qt.CursorShape.PointingHandCursor)
        self._button.hide()
        self._button.clicked.connect(self._on_button)

        self._word_timer = QTimer(self)
        self._word_timer.setInterval(self.WORD_TICK_MS)
        self._word_timer.timeout.connect(self._on_word_tick)
        self._hold_timer = QTimer(self)
        self._hold_timer.setSingleShot(True)
        self._hold_timer.timeout.connect(self._start_fade)

        self._effect = QGraphicsOpacityEffect(self)
        self._effect.setOpacity(1.0)
        self._effect.setEnabled(False)
        self.setGraphicsEffect(self._effect)
        self._fade = QPropertyAnimation(self._effect, b"opacity", self)
        self._fade.setEasingCurve(QEasingCurve.Type.InOutQuad)
        self._fade.finished.connect(self._on_faded)

        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self._apply_button_style()
        self.hide()

    # -- public API ---------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def action(self) -> str | None:
        return self._action

    @property
    def fading(self) -> bool:
        return self._hold_timer.isActive() or self._fade.state() == QPropertyAnimation.State.Running

    @property
    def word_timer_active(self) -> bool:
        return self._word_timer.isActive()

    @classmethod
    def max_width(cls) -> int:
        """The widest the bubble gets (the longest line, padding and shadow), logical px."""
        return cls.MAX_TEXT_WIDTH + 2 * (cls.PAD_X + cls.SHADOW)

    def text(self) -> str:
        """The plain text shown."""
        return self._text

    def current_word(self) -> int | None:
        """Index into the words of :meth:`show_speech` of the marked word, if any."""
        return self._word

    def label_html(self) -> str:
        return self._label.text()

    def button_text(self) -> str | None:
        return self._button.text() if not self._button.isHidden() else None

    def show_speech(
        self, text: str, words: list[WordTiming], clock: PlaybackClock, offset_ms: float
    ) -> None:
        """Show a piece of speech; mark the word at ``clock - offset_ms`` while it plays."""
        self._reset_fade()
        self._kind = "speech"
        self._action = None
        self._text = text
        self._words = sorted(
            (w for w in words if 0 <= w.char_start < w.char_end <= len(text)),
            key=lambda w: w.start_ms,
        )
        self._starts = [w.start_ms for w in self._words]
        self._clock = clock if self._words else None
        self._offset_ms = offset_ms
        self._word = None
        self._button.hide()
        self._relayout()
        if self._clock is not None:
            self._update_word()
            if self._word_can_change():
                self._word_timer.start()
        self._present()

    def show_message(self, text: str, *, kind: str = "info", action: str | None = None) -> None:
        """A message; ``action`` adds a button (``"retry"``, ``"sign_in"``, ...).

        Plain info messages fade on their own; errors stay until replaced or cleared.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown bubble kind {kind!r}")
        self._reset_fade()
        self._kind = kind
        self._action = action
        self._text = text
        self._words, self._starts, self._clock, self._word = [], [], None, None
        self._word_timer.stop()
        if action is not None:
            self._button.setText(ACTION_LABELS.get(action, action.replace("_", " ").capitalize()))
            self._button.show()
        else:
            self._button.hide()
        self._apply_button_style()
        self._relayout()
        self._present()
        if kind == "info" and action is None:
            self._hold_timer.start(self.INFO_HOLD_MS)

    def finish(self) -> None:
        """The reply is over: keep the text a moment, then fade out."""
        self._word_timer.stop()
        if self.isHidden() or self.fading:
            return
        self._hold_timer.start(self.hold_ms)

    def clear(self) -> None:
        """Hide at once."""
        self._reset_fade()
        self._word_timer.stop()
        self._clock = None
        self._text = ""
        self._words, self._starts, self._word = [], [], None
        if not self.isHidden():
            self.hide()
            self.layout_changed.emit()

    def set_tail(self, edge: str, x: float | None) -> None:
        """Point the tail from ``edge`` ("bottom" or "top") at ``x`` (logical px), or none."""
        if (edge, x) != (self._tail_edge, self._tail_x):
            geometry_changes = edge != self._tail_edge
            self._tail_edge, self._tail_x = edge, x
            if geometry_changes:
                self._place_children()
            self.update()

    # -- word marking -------------------------------------------------------------------------

    def _word_at(self, t_ms: float) -> int | None:
        i = bisect.bisect_right(self._starts, t_ms) - 1
        return i if i >= 0 else None

    def _word_can_change(self) -> bool:
        if self._clock is None or not self._words:
            return False
        return self._word is None or self._word < len(self._words) - 1

    def _update_word(self) -> None:
        if self._clock is None:
            return
        word = self._word_at(self._clock.position_ms() - self._offset_ms)
        if word != self._word:
            self._word = word
            self._label.setText(self._html(word))

    @Slot()
    def _on_word_tick(self) -> None:
        self._update_word()
        if not self._word_can_change():
            self._word_timer.stop()

    def _html(self, word: int | None) -> str:
        text = self._text
        if word is None or not (0 <= word < len(self._words)):
            body = html.escape(text)
        else:
            w = self._words[word]
            body = (
                html.escape(text[: w.char_start])
                + f'<span style="background-color:{_MARK_BG}; color:{_MARK_FG};">'
                + html.escape(text[w.char_start : w.char_end])
                + "</span>"
                + html.escape(text[w.char_end :])
            )
        return body.replace("\n", "<br>")

    # -- geometry and painting ----------------------------------------------------------------

    def _text_size(self, max_width: int) -> tuple[QSize, int]:
        """The text's size and line count: as wide as it needs up to ``max_width``, then wrapped."""
        doc = QTextDocument()
        doc.setDefaultFont(self._label.font())
        doc.setDocumentMargin(0)
        doc.setHtml(self._html(None))
        doc.setTextWidth(max_width)
        width = max(self.MIN_TEXT_WIDTH, min(max_width, math.ceil(doc.idealWidth()) + 2))
        doc.setTextWidth(width)
        return QSize(width, math.ceil(doc.size().height())), doc.lineCount()

    def _relayout(self) -> None:
        self._label.setText(self._html(self._word))
        button = None if self._button.isHidden() else self._button.sizeHint()
        self._inline_button = False
        if button is not None:
            size, lines = self._text_size(self.MAX_TEXT_WIDTH - button.width() - self.GAP)
            self._inline_button = lines <= 1
        if not self._inline_button:
            size, _lines = self._text_size(self.MAX_TEXT_WIDTH)
        text_w = size.width()
        # The last message's fixed size would be the label's minimum: measure it free of that,
        # so each message is as tall as it needs and no taller.
        self._label.setMinimumSize(0, 0)
        self._label.setMaximumSize(QWIDGETSIZE_MAX, QWIDGETSIZE_MAX)
        label_h = max(size.height(), self._label.heightForWidth(text_w))
        if button is None:
            content_w, content_h = text_w, label_h
        elif self._inline_button:
            content_w = text_w + self.GAP + button.width()
            content_h = max(label_h, button.height())
        else:
            text_w = max(text_w, button.width())
            content_w, content_h = text_w, label_h + self.GAP + button.height()
        self._label.setFixedSize(text_w, label_h)
        w = content_w + 2 * (self.PAD_X + self.SHADOW)
        h = content_h + 2 * (self.PAD_Y + self.SHADOW) + self.TAIL
        self.resize(w, h)
        self.updateGeometry()
        self._place_children()
        self.update()

    def _card_rect(self) -> QRectF:
        s = self.SHADOW
        top = s + (self.TAIL if self._tail_edge == "top" else 0)
        return QRectF(s, top, self.width() - 2 * s, self.height() - 2 * s - self.TAIL)

    def _place_children(self) -> None:
        card = self._card_rect()
        left, top = int(card.left()) + self.PAD_X, int(card.top()) + self.PAD_Y
        inner_h = int(card.height()) - 2 * self.PAD_Y
        if self._button.isHidden():
            self._label.move(left, top)
            return
        hint = self._button.sizeHint()
        self._button.setFixedSize(hint)
        right = int(card.right()) - self.PAD_X
        if self._inline_button:
            self._label.move(left, top + (inner_h - self._label.height()) // 2)
            self._button.move(right - hint.width(), top + (inner_h - hint.height()) // 2)
        else:
            self._label.move(left, top)
            self._button.move(right - hint.width(), top + inner_h - hint.height())

    def sizeHint(self) -> QSize:
        return self.size()

    def minimumSizeHint(self) -> QSize:
        return self.size()

    def paintEvent(self, event: QPaintEvent) -> None:
        # The card (shadow, fill, border) is drawn once per size, kind, tail and pixel ratio and
        # then blitted: the word highlight repaints the bubble several times a second, and the
        # antialiased shadow strokes cost 15-30 ms a time on a software surface.
        dpr = self.devicePixelRatioF()
        key = (self.width(), self.height(), self._kind, self._tail_edge, self._tail_x, dpr)
        if self._card_cache is None or self._card_key != key:
            shape = card_shape(
                self._card_rect(),
                tail_edge=self._tail_edge,
                tail_x=self._tail_x,
                radius=self.RADIUS,
                tail=self.TAIL,
            )
            self._card_cache = render_card(self.size(), dpr, shape, self._kind, self.SHADOW)
            self._card_key = key
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._card_cache)
        painter.end()

    # -- buttons, showing and fading ----------------------------------------------------------

    def _apply_button_style(self) -> None:
        accent = "#b3261e" if self._kind == "error" else "#5b3fd0"
        self._button.setStyleSheet(
            "QPushButton {"
            f" color: white; background: {accent}; border: none; border-radius: 9px;"
            " padding: 4px 14px; font-weight: 600; }"
            "QPushButton:hover { background: #3f2a9e; }"
            "QPushButton:pressed { background: #2c1d73; }"
        )

    @Slot()
    def _on_button(self) -> None:
        action = self._action
        if action is None:
            return
        if action == "retry":
            self.retry_clicked.emit()
        else:
            self.action_clicked.emit(action)

    def _present(self) -> None:
        was_hidden = self.isHidden()
        self.show()
        if was_hidden:
            log.debug("[bubble] shown (%s, %d chars)", self._kind, len(self._text))
        self.layout_changed.emit()

    def _reset_fade(self) -> None:
        self._hold_timer.stop()
        if self._fade.state() == QPropertyAnimation.State.Running:
            self._fade.stop()
        self._effect.setOpacity(1.0)
        self._effect.setEnabled(False)

    @Slot()
    def _start_fade(self) -> None:
        self._word_timer.stop()
        self._effect.setEnabled(True)
        self._fade.setDuration(max(1, self.fade_ms))
        self._fade.setStartValue(1.0)
        self._fade.setEndValue(0.0)
        self._fade.start()

    @Slot()
    def _on_faded(self) -> None:
        if self._effect.opacity() > 0.001:
            return
        self.hide()
        self._effect.setEnabled(False)
        self._effect.setOpacity(1.0)
        self._clock = None
        self.layout_changed.emit()
