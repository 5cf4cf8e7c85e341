# SPDX-License-Identifier: GPL-3.0-or-later
"""The streaming chunker as it was before issue 17 (kept verbatim for comparison only): every
delta re-prepares the whole markdown block and re-runs pysbd over all of it not yet handed
out, so its cost grows with the square of a block's length. The property test of
:mod:`companion.speech.chunking` and ``benchmarks/chat_flood.py`` compare the incremental
chunker with it."""

from __future__ import annotations

from companion.speech.chunking import (
    _BLOCK_START,
    _FENCE,
    FIRST_MIN_WORDS,
    MAX_CHARS,
    _skip_words,
    _words,
    split_first_at_comma,
    split_long,
    split_sentences,
)
from companion.speech.language import DEFAULT
from companion.speech.text import speakable_text

__all__ = ["FIRST_MIN_WORDS", "LegacyStreamChunker"]


class LegacyStreamChunker:
    """Pieces of a streamed markdown reply, each handed out as soon as it can be spoken.

    ``feed(delta)`` returns the pieces completed by that delta: a sentence is complete once
    the text after it has started (so pysbd sees "Dr. Smith" together). The first piece of
    the reply is cut at its first comma, even before its sentence ends. Code fences are
    skipped; each markdown block (paragraph, list item, heading) is prepared with
    :func:`companion.speech.text.speakable_text`. ``flush()`` hands out the rest.

    Attributes:
        pieces_out: how many pieces were handed out so far.
    """

    def __init__(
        self,
        *,
        first_chunk_comma: bool = True,
        max_chars: int = MAX_CHARS,
        markdown: bool = True,
        lang: str = DEFAULT,
    ) -> None:
        self._lang = lang
        self._first_chunk_comma = first_chunk_comma
        self._max_chars = max_chars
        self._markdown = markdown
        self._partial = ""  # the line being received (no newline yet)
        self._block: list[str] = []  # complete lines of the current block
        self._fence: str | None = None  # the open fence's marker while inside a code fence
        self._emitted_words = 0  # words of the current block already handed out
        self._unchecked = False  # text arrived since the last sentence check
        self.pieces_out = 0

    def feed(self, delta: str) -> list[str]:
        out: list[str] = []
        if not delta:
            return out
        self._partial += delta
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            out.extend(self._take_line(line))
        self._unchecked = self._unchecked or any(ch.isspace() or ch == "," for ch in delta)
        if self._fence is None and self._unchecked:
            self._unchecked = False
            out.extend(self._emit(final=False))
        return out

    def flush(self) -> list[str]:
        out: list[str] = []
        if self._partial:
            line, self._partial = self._partial, ""
            out.extend(self._take_line(line))
        out.extend(self._finish_block())
        self._fence = None
        return out

    # -- internals ---------------------------------------------------------------------

    def _take_line(self, line: str) -> list[str]:
        if not self._markdown:
            self._block.append(line)
            return []
        fence = _FENCE.match(line)
        if self._fence is not None:
            closes = (
                fence is not None
                and fence.group(1)[0] == self._fence[0]
                and len(fence.group(1)) >= len(self._fence)
                and not line.strip().lstrip(fence.group(1)[0])
            )
            if closes:
                self._fence = None
            return []
        if fence:
            out = self._finish_block()
            self._fence = fence.group(1)
            return out
        if not line.strip():
            return self._finish_block()
        out = []
        if self._block and _BLOCK_START.match(line):
            out = self._finish_block()
        self._block.append(line)
        return out

    def _prepared(self, extra: str = "") -> str:
        raw = "\n".join([*self._block, extra] if extra else self._block)
        if not self._markdown:
            return " ".join(raw.split())
        return speakable_text(raw, lang=self._lang) if any(ch.isalnum() for ch in raw) else ""

    def _finish_block(self) -> list[str]:
        out = self._emit(final=True)
        self._block = []
        self._emitted_words = 0
        return out

    def _emit(self, *, final: bool) -> list[str]:
        prepared = self._prepared("" if final else self._partial)
        remainder = _skip_words(prepared, self._emitted_words).strip()
        if not remainder:
            return []
        sentences = split_sentences(remainder, lang=self._lang)
        ready = sentences if final else sentences[:-1]
        out: list[str] = []
        for sentence in ready:
            out.extend(split_long(sentence, self._max_chars, lang=self._lang))
        if self._first_chunk_comma and self.pieces_out == 0:
            if out:
                out[:1] = split_first_at_comma(out[0])
            elif sentences:
                head = split_first_at_comma(sentences[0])
                if len(head) == 2:
                    out = [head[0]]
        self._emitted_words += sum(len(_words(p)) for p in out)
        self.pieces_out += len(out)
        return out
