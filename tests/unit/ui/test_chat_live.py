# SPDX-License-Identifier: GPL-3.0-or-later
"""The streaming reply drawn by appending: what it shows equals the markdown rendered whole,
finished blocks are not drawn again, a long block grows as plain text, and the view ends with
the note in place of the cursor glyph."""

from __future__ import annotations

from PySide6.QtGui import QTextDocument

from companion.ui.chat_live import CURSOR, PLAIN_BLOCK_CHARS, LiveReply, live_html
from companion.ui.chat_panel import render_markdown


def _live(doc: QTextDocument) -> LiveReply:
    doc.setHtml(live_html("Companion", ""))
    return LiveReply(doc, 1, "", render_markdown)


def _text(doc: QTextDocument) -> str:
    return " ".join(doc.toPlainText().split())


def test_the_reply_grows_as_it_streams_and_matches_its_markdown(qtbot: object) -> None:
    reply = "Hello **there**.\n\n```\ncode. here\n\nmore\n```\n\nA second paragraph, with *stress*."
    doc = QTextDocument()
    live = _live(doc)
    for end in range(1, len(reply) + 1, 3):
        live.update(reply[:end])
        assert _text(doc).endswith(CURSOR) or CURSOR in _text(doc)
    live.update(reply)
    whole = QTextDocument()
    whole.setHtml(render_markdown(reply))
    assert _text(doc) == f"Companion {_text(whole)} {CURSOR}"
    assert live.done == reply.index("A second")  # the last block is the one re-rendered
    live.finish(reply, '<p class="note">The reply was cut.</p>')
    assert CURSOR not in doc.toPlainText() and _text(doc).endswith("The reply was cut.")


def test_a_long_block_is_appended_as_plain_text_in_paragraphs(qtbot: object) -> None:
    words = " ".join(["word"] * 3000)
    doc = QTextDocument()
    live = _live(doc)
    for end in range(0, len(words), 500):
        live.update(words[: end + 500])
    assert live.shown == len(words)
    assert doc.toPlainText().replace(CURSOR, " ").split()[1:] == words.split()  # after the label
    lengths = []
    block = doc.begin()
    while block.isValid():
        lengths.append(block.length())
        block = block.next()
    assert max(lengths) <= 2 * PLAIN_BLOCK_CHARS + 2  # no paragraph laid out whole each time
    assert len(lengths) >= len(words) // (2 * PLAIN_BLOCK_CHARS)
