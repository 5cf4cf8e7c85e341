# SPDX-License-Identifier: GPL-3.0-or-later
"""The chat panel: the conversation beside the mascot, an input line, Stop and Retry.

Messages are markdown rendered by markdown-it-py into the HTML a ``QTextBrowser`` shows.
Rendering is safe by construction: raw HTML in a message is escaped (``html: False``),
images become their alt text (nothing is fetched: ``loadResource`` loads nothing at all),
and links open in the system browser only for ``http``, ``https`` and ``mailto``.
The reply being written is drawn as it streams, at most every :data:`REDRAW_MS`, by appending
to the document (:mod:`companion.ui.chat_live`), never by setting it all again; the whole
conversation is drawn again only when a message is added or changes state (a reply longer
than :data:`FULL_REDRAW_CHARS` is finished in place).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from companion.replies.chat_controller import ChatController
from companion.replies.conversation import ChatMessage
from companion.ui.bubble_card import BORDER, FILL, TEXT_COLOR
from companion.ui.chat_live import CURSOR, LiveReply, live_html

log = logging.getLogger("companion.ui")

#: Redraws of a streaming reply are coalesced to at most one per this many ms.
REDRAW_MS = 30
#: A reply longer than this that ends is finished in place (its glyph replaced by its note),
#: not by drawing the whole conversation again (about 1 ms per 1,000 characters).
FULL_REDRAW_CHARS = 16_000
#: Messages drawn (the newest); older ones stay in the file and in what the model sees.
SHOWN_MESSAGES = 120
SAFE_SCHEMES = ("http", "https", "mailto")

_MD = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def _image_as_text(renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """markdown-it render rule: an image is its alt text in brackets (nothing is fetched)."""
    token = tokens[idx]
    alt = "".join(child.content for child in token.children or []) or "image"
    return f"<i>[{html.escape(alt)}]</i>"


def _table_with_rules(
    renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    """markdown-it render rule: tables drawn with cell borders (Qt ignores CSS borders)."""
    for name, value in (("border", "1"), ("cellspacing", "0"), ("cellpadding", "3")):
        tokens[idx].attrSet(name, value)
    return str(renderer.renderToken(tokens, idx, options, env))


_MD.add_render_rule("image", _image_as_text)
_MD.add_render_rule("table_open", _table_with_rules)


def render_markdown(text: str) -> str:
    """Markdown → HTML for the conversation (no raw HTML, no images)."""
    return str(_MD.render(text))


#: Colours of the speech bubble (``ui/bubble_card.py``): the same card, text and error red.
_STYLE = f"""
<style>
  td.user {{ background-color: #e9e4fb; color: {TEXT_COLOR}; }}
  td.assistant {{ background-color: {FILL["speech"]}; color: {TEXT_COLOR}; }}
  td.error {{ background-color: {FILL["error"]}; color: {TEXT_COLOR}; }}
  p.note {{ color: #4a3b7a; margin: 4px 0 0 0; }}
  p.error {{ color: {BORDER["error"]}; font-weight: 600; margin: 4px 0 0 0; }}
  p.who {{ color: #5b3fd0; font-weight: 600; margin: 0; }}
  pre {{ background-color: #f2eff7; }}
  code {{ background-color: #f2eff7; }}
</style>
"""
#: Message states whose note says what went wrong (shown in the bubble's error red).
_FAILED_STATES = ("error", "partial")


def message_html(message: ChatMessage) -> str:
    """One message as an HTML table cell (Qt rich text lays tables out reliably)."""
    who = "You" if message.role == "user" else "Companion"
    body = render_markdown(message.content) if message.content.strip() else ""
    if message.state == "streaming":  # the cursor at the end of the text being written
        end = "</p>\n"
        if body.endswith(end):
            body = f"{body[: -len(end)]} {CURSOR}{end}"
        else:
            body += f"<p>{CURSOR}</p>"
    failed = str(message.state) in _FAILED_STATES
    note = note_html(message)
    cell = "error" if failed and not body else message.role
    return (
        '<table width="100%" cellspacing="0" cellpadding="8" style="margin-bottom: 6px;">'
        f'<tr><td class="{cell}"><p class="who">{who}</p>{body}{note}</td></tr></table>'
    )


def note_html(message: ChatMessage) -> str:
    """A message's note as a paragraph (error red when it failed), or ""."""
    if not message.note:
        return ""
    note_class = "error" if str(message.state) in _FAILED_STATES else "note"
    return f'<p class="{note_class}">{html.escape(message.note)}</p>'


class _Browser(QTextBrowser):
    """A text browser that never loads anything (images, style sheets, remote or local)."""

    def loadResource(self, type: int, name: QUrl | str) -> Any:
        scheme = name.scheme() if isinstance(name, QUrl) else QUrl(name).scheme()
        log.debug("[chat_panel] resource not loaded (%s)", scheme or "relative")
        return None


class ChatPanel(QFrame):
    """The conversation and its input, as a tool window next to the mascot.

    Esc stops the reply being written and everything being spoken (``escape_pressed``, wired
    like the mascot's Esc); with nothing streaming or speaking it hides the panel.

    Signals:
        link_opened(QUrl): a safe link was handed to the system browser.
        escape_pressed(): Esc while something streams or speaks.

    Attributes:
        browser: the conversation view.
        input: the question line (Enter sends).
        send_button, stop_button, retry_button, clear_button: the actions.
        notice_label: one-line notices (a damaged or unsaved conversation).
    """

    link_opened = Signal(QUrl)
    escape_pressed = Signal()

    def __init__(
        self,
        *,
        controller: ChatController,
        open_url: Callable[[QUrl], object] = QDesktopServices.openUrl,
        speaking: Callable[[], bool] = lambda: False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._open_url = open_url
        self._speaking = speaking
        self._cache: dict[int, tuple[tuple[str, str, str], str]] = {}
        self._live: LiveReply | None = None  # the reply being written, drawn by appending
        self._full = True  # the next redraw draws the whole conversation
        self._finishing = False  # the live reply ended: finished in place
        # An ordinary tool window beside the mascot: only the mascot stays above the others.
        self.setWindowFlags(Qt.WindowType.Tool)
        self.setWindowTitle("Companion chat")
        self.setObjectName("chat-panel")
        # The bubble's card: light fill, dark text (the same on light and dark desktops).
        self.setStyleSheet(
            f"#chat-panel {{ background: {FILL['speech']}; }}"
            f" QTextBrowser {{ background: {FILL['speech']}; color: {TEXT_COLOR};"
            f" border: 1px solid {BORDER['speech']}; border-radius: 6px; }}"
        )

        self.notice_label = QLabel()
        self.notice_label.setWordWrap(True)
        self.notice_label.setStyleSheet("color: #b3261e;")
        self.notice_label.hide()
        self.browser = _Browser()
        self.browser.setOpenLinks(False)
        self.browser.setOpenExternalLinks(False)
        self.browser.anchorClicked.connect(self._on_anchor)
        # No undo history: each redraw of a streaming reply would keep what it replaced.
        self.browser.document().setUndoRedoEnabled(False)
        self.browser.document().setDefaultStyleSheet(
            _STYLE.replace("<style>", "").replace("</style>", "")
        )
        self.input = QLineEdit()
        self.input.setPlaceholderText("Ask something, then press Enter")
        self.input.returnPressed.connect(self.submit)
        self.input.installEventFilter(self)
        self.send_button = QPushButton("Send")
        self.send_button.clicked.connect(self.submit)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(controller.stop)
        self.retry_button = QPushButton("Retry")
        self.retry_button.clicked.connect(controller.retry)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Forget this conversation")
        self.clear_button.clicked.connect(controller.clear)

        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.send_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.retry_button)
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.notice_label)
        layout.addWidget(self.browser, 1)
        layout.addLayout(buttons)
        layout.addLayout(row)
        self.resize(380, 460)
        self.setMinimumSize(300, 300)  # the layout may shrink it this far on a small screen

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self._on_timer)
        controller.message_added.connect(self._schedule)
        controller.message_changed.connect(self._schedule)
        controller.reset.connect(self._on_reset)
        controller.busy_changed.connect(self._update_buttons)
        controller.notice.connect(self.show_notice)
        self.redraw()
        self._update_buttons()

    # -- public --------------------------------------------------------------------------------

    def show_notice(self, text: str) -> None:
        self.notice_label.setText(text)
        self.notice_label.setVisible(bool(text))

    def present(self) -> None:
        """Show (placed by the desktop's layout) at the newest message, the focus in the input."""
        self.redraw()
        self.show()
        self.scroll_to_newest()
        QTimer.singleShot(0, self.scroll_to_newest)  # once the shown text is laid out
        self.input.setFocus()

    def scroll_to_newest(self) -> None:
        bar = self.browser.verticalScrollBar()
        bar.setValue(bar.maximum())

    @Slot()
    def submit(self) -> None:
        text = self.input.text().strip()
        if not text:
            return
        self.input.clear()
        self._controller.ask(text)

    @Slot()
    def redraw(self) -> None:
        """Draw the conversation (cached per message: only changed messages are rendered);
        a reply being written is drawn after the others, to be appended to."""
        self._redraw_timer.stop()
        self._full = self._finishing = False
        messages = self._controller.conversation.messages
        first = max(0, len(messages) - SHOWN_MESSAGES)
        live = len(messages) - 1 if messages and messages[-1].state == "streaming" else None
        parts = []
        if first:
            parts.append(f'<p class="note">{first} earlier messages not shown.</p>')
        for i in range(first, len(messages)):
            if i != live:
                parts.append(self._cached(i, messages[i]))
        scroll = self._at_end()
        self._live = None
        if live is None:
            self.browser.setHtml("".join(parts))
        else:
            msg = messages[live]
            probe = LiveReply(self.browser.document(), live, msg.note, render_markdown)
            done = probe.boundary(msg.content)
            parts.append(live_html("Companion", render_markdown(msg.content[:done])))
            self.browser.setHtml("".join(parts))
            self._live = LiveReply(self.browser.document(), live, msg.note, render_markdown)
            self._live.done = self._live.shown = self._live.boundary(msg.content[:done])
            self._live.update(msg.content)
        scroll()
        self._update_buttons()

    def html(self) -> str:
        """The conversation's HTML as last drawn (tests)."""
        return self.browser.toHtml()

    # -- internals -----------------------------------------------------------------------------

    def _at_end(self) -> Callable[[], None]:
        """A call that keeps the view at its end after a change when it was there before."""
        bar = self.browser.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 4
        return (lambda: bar.setValue(bar.maximum())) if at_end else (lambda: None)

    @Slot()
    def _on_timer(self) -> None:
        live = self._live
        messages = self._controller.conversation.messages
        if self._full or live is None or live.index >= len(messages):
            self.redraw()
            return
        msg = messages[live.index]
        scroll = self._at_end()
        if self._finishing:  # a long reply ended: finished where it stands
            self._finishing = False
            self._live = None
            live.finish(msg.content, note_html(msg))
        else:
            live.update(msg.content)
        scroll()
        self._update_buttons()

    def _cached(self, index: int, message: ChatMessage) -> str:
        key = (message.content, message.state, message.note)
        hit = self._cache.get(index)
        if hit is not None and hit[0] == key:
            return hit[1]
        rendered = message_html(message)
        self._cache[index] = (key, rendered)
        return rendered

    @Slot(int)
    def _schedule(self, index: int = -1) -> None:
        live, messages = self._live, self._controller.conversation.messages
        if live is None or index != live.index or not 0 <= index < len(messages):
            self._full = True  # a message added, or another one changed
        else:
            msg = messages[index]
            if msg.state != "streaming":
                if len(msg.content) > FULL_REDRAW_CHARS:
                    self._finishing = True
                else:
                    self._full = True
            elif msg.note != live.note:
                self._full = True
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()
        self._update_buttons()

    @Slot()
    def _on_reset(self) -> None:
        self._cache.clear()
        self._full = True
        self.redraw()

    @Slot()
    def _update_buttons(self, *_args: object) -> None:
        busy = self._controller.busy
        self.stop_button.setEnabled(busy)
        self.retry_button.setVisible(self._controller.can_retry)

    @Slot(QUrl)
    def _on_anchor(self, url: QUrl) -> None:
        if url.scheme().lower() not in SAFE_SCHEMES:
            log.info("[chat_panel] link not opened (scheme %s)", url.scheme() or "none")
            return
        self._open_url(url)
        self.link_opened.emit(url)

    def _escape(self) -> None:
        if self._controller.busy or self._speaking():
            self._controller.stop()
            self.escape_pressed.emit()
        else:
            self.hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.input
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Escape
        ):
            self._escape()
            return True
        return super().eventFilter(watched, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self._escape()
            return
        super().keyPressEvent(event)
