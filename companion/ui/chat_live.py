# SPDX-License-Identifier: GPL-3.0-or-later
"""The reply being written, drawn at the end of the chat panel's document by appending.

Setting the whole conversation's HTML again for every few characters costs what the whole
document holds (100,000 characters: 100 ms a time), so the streaming reply is drawn apart:
after the last finished message the panel draws its label and what it has of the reply; from
then on each redraw only adds. Finished markdown blocks (up to a blank line outside a code
fence) are rendered once and inserted where the cursor glyph stands; the block being written
is rendered again each time while it is short (:data:`TAIL_RENDER_CHARS`), past that it
grows as plain text, appended, in paragraphs of at most about :data:`PLAIN_BLOCK_CHARS`.
The reply stands in the document's root frame, not in a table cell as the others do: Qt lays
a table out whole at every change, a root-frame paragraph on its own.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from PySide6.QtGui import QTextCursor, QTextDocument

CURSOR = "\u258d"
#: The block being written is rendered as markdown while it is at most this long.
TAIL_RENDER_CHARS = 2000
#: Plain text appended is broken into paragraphs of about this many characters.
PLAIN_BLOCK_CHARS = 2000
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


def live_html(who: str, rendered: str) -> str:
    """The streaming reply's start: its label, what is rendered so far, the cursor glyph."""
    return f'<p class="who">{html.escape(who)}</p>{rendered}<p>{CURSOR}</p>'


class LiveReply:
    """The reply at ``index`` as it streams, drawn by appending to ``document``.

    Attributes:
        index: the message's index in the conversation.
        note: the message's note when drawing began (a change means a full redraw).
        done: characters of the reply rendered as finished blocks.
        shown: characters of the reply drawn.
    """

    def __init__(
        self, document: QTextDocument, index: int, note: str, render: Callable[[str], str]
    ) -> None:
        self._doc = document
        self._render = render
        self.index = index
        self.note = note
        self.done = 0
        self.shown = 0
        self._scan = 0  # the first line not yet looked at for a block end
        self._fence: str | None = None
        self._boundary = 0  # after the last blank line outside a fence
        self._plain = False  # the tail is plain text, appended
        self._run = 0  # characters of the plain tail's last paragraph
        backward = QTextDocument.FindFlag.FindBackward
        found = document.find(CURSOR, document.characterCount(), backward)
        self._start = self._end = found.selectionStart() if not found.isNull() else 0

    def boundary(self, content: str) -> int:
        """Where the finished blocks of ``content`` end (its new lines looked at once)."""
        pos = self._scan
        while True:
            nl = content.find("\n", pos)
            if nl < 0:
                break
            line = content[pos:nl]
            fence = _FENCE.match(line)
            if self._fence is not None:
                mark = fence.group(1) if fence else ""
                if (
                    mark[:1] == self._fence[0]
                    and len(mark) >= len(self._fence)
                    and not line.strip().lstrip(mark[0])
                ):
                    self._fence = None
            elif fence:
                self._fence = fence.group(1)
            elif not line.strip():
                self._boundary = nl + 1
            pos = nl + 1
        self._scan = pos
        return self._boundary

    def update(self, content: str) -> None:
        """Draw what arrived since the last update (costs what arrived, and a short tail)."""
        if len(content) == self.shown:
            return
        cur = QTextCursor(self._doc)
        if not self._plain:
            boundary = self.boundary(content)
            if boundary > self.done:
                self._replace(cur, self._html(content[self.done : boundary]))
                cur.insertBlock()
                self._start = self._end = cur.position()
                self.done = self.shown = boundary
            if len(content) - self.done <= TAIL_RENDER_CHARS:
                self._replace(cur, self._html(content[self.done :]))
                self._end = cur.position()
                self.shown = len(content)
                return
            # A block too long to render each time: from now on the rest is plain text.
            self._replace(cur, "")
            self._end = self._start
            self._plain, self.shown, self._run = True, self.done, 0
        cur.setPosition(self._end)
        self._append_plain(cur, content[self.shown :])
        self._end = cur.position()
        self.shown = len(content)

    def finish(self, content: str, note_html: str) -> None:
        """The reply ended: the rest drawn, the glyph replaced by the note (for a reply too
        long to draw the whole conversation again)."""
        self.update(content)
        cur = QTextCursor(self._doc)
        cur.setPosition(self._end)
        cur.setPosition(self._end + 1, QTextCursor.MoveMode.KeepAnchor)
        if cur.selectedText() == CURSOR:
            cur.removeSelectedText()
        if note_html:
            cur.insertBlock()
            cur.insertHtml(note_html)

    # -- internals ---------------------------------------------------------------------

    def _html(self, markdown: str) -> str:
        return self._render(markdown) if markdown.strip() else ""

    def _replace(self, cur: QTextCursor, html_text: str) -> None:
        """The tail's range becomes ``html_text`` (the cursor left at its end)."""
        cur.setPosition(self._start)
        cur.setPosition(self._end, QTextCursor.MoveMode.KeepAnchor)
        cur.removeSelectedText()
        if html_text:
            cur.insertHtml(html_text)

    def _append_plain(self, cur: QTextCursor, text: str) -> None:
        for i, line in enumerate(text.split("\n")):
            if i:
                cur.insertBlock()
                self._run = 0
            while self._run + len(line) > PLAIN_BLOCK_CHARS:
                space = line.find(" ", max(0, PLAIN_BLOCK_CHARS - self._run))
                if space < 0:
                    if self._run + len(line) <= 2 * PLAIN_BLOCK_CHARS:
                        break
                    space = max(0, 2 * PLAIN_BLOCK_CHARS - self._run)  # one enormous word
                cur.insertText(line[: space + 1])
                cur.insertBlock()
                self._run, line = 0, line[space + 1 :]
            cur.insertText(line)
            self._run += len(line)
