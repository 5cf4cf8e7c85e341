# SPDX-License-Identifier: GPL-3.0-or-later
"""Prepared text → pieces to synthesise one after another.

Sentence boundaries come from pysbd (it knows "Dr.", "e.g.", "U.S.", "3.14" and "...").
On top of it:

- the first piece is cut at its first comma when the part before it has at least
  :data:`FIRST_MIN_WORDS` words, so the voice starts sooner ("Hello there friend," →
  synthesised and playing while the rest is being made);
- a sentence longer than ``max_chars`` is split at clause boundaries (";", ":", dashes,
  commas, then before a conjunction), as a last resort between words; words are never cut.

Splitting only ever happens at whitespace, so the pieces joined with spaces hold exactly
the words of the input. :class:`StreamChunker` does the same for a reply that arrives in
deltas (a streamed chat completion). ``lang`` is the voice's language: pysbd's rules and the
conjunctions for it (``companion.speech.language``); English by default.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from companion.speech.language import DEFAULT, language
from companion.speech.text import speakable_text

if TYPE_CHECKING:
    import pysbd

MAX_CHARS = 200
FIRST_MIN_WORDS = 2

_WORD = re.compile(r"\S+")
# A split point is the whitespace after one of these (clause punctuation, in order of strength).
_STRONG_CLAUSE = re.compile("[;:\u2014\u2013](?=\\s)|\\s[\u2014\u2013-](?=\\s)")  # ; : em/en dash
_COMMA = re.compile(r",(?=\s)")
_SPACE = re.compile(r"\s")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_BLOCK_START = re.compile(r"^ {0,3}(?:#{1,6}\s|[-*+]\s|\d{1,9}[.)]\s|>)")
#: pysbd's time grows with the square of what it is given (each abbreviation it meets
#: rescans the whole text: 80,000 characters took 4 s, a megabyte would take ten minutes), so
#: longer texts are segmented in windows of this many characters, cut after a sentence end.
SEGMENT_WINDOW = 4000
# A sentence end that is no abbreviation ("Dr.", "e.g.", "U.S."): a period after three
# lower-case letters or digits, or "!", "?", "…"; then whitespace and a capital or a digit.
_WINDOW_CUT = re.compile(
    r"(?:(?<=[a-z0-9]{3})\.|[!?\u2026])[\"')\]\u201d\u2019]*\s+(?=[\"'(\[\u201c\u2018]?[A-Z0-9])"
)


def _segmenter(lang: str = DEFAULT) -> pysbd.Segmenter:
    # A fresh segmenter per call: pysbd keeps per-text state on the instance. Imported on first
    # use (the speech thread's warm-up), not by the GUI thread before the mascot is shown.
    import pysbd

    return pysbd.Segmenter(language=language(lang).segmenter, clean=False)


def _speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _words(text: str) -> list[str]:
    return text.split()


def _windows(text: str, size: int = SEGMENT_WINDOW) -> Iterator[str]:
    """``text`` in consecutive windows of about ``size`` characters, each cut after a
    sentence end when there is one in its second half (else at a line break, else between
    words); joined they are ``text``."""
    start = 0
    while len(text) - start > size:
        window = text[start : start + size]
        cut = 0
        for match in _WINDOW_CUT.finditer(window):
            cut = match.end()
        if cut < size // 2:
            cut = max(window.rfind("\n"), window.rfind(" ")) + 1
        if cut <= 0:
            cut = size  # no whitespace at all: one enormous "word"
        yield window[:cut]
        start += cut
    yield text[start:]


def _segment(text: str, lang: str = DEFAULT) -> list[str]:
    """pysbd's sentences of one window (words kept exactly, else the window whole)."""
    try:
        segments = [s.strip() for s in _segmenter(lang).segment(text)]
    except Exception:  # pysbd bugs on odd input must not stop speech
        segments = [text.strip()]
    segments = [s for s in segments if s]
    if _words(" ".join(segments)) != _words(text):
        # pysbd rewrote something (it has done so on odd input): keep the text whole.
        segments = [text.strip()]
    return segments


def split_sentences(text: str, *, lang: str = DEFAULT) -> list[str]:
    """Sentences of ``text`` (stripped, non-empty, words kept exactly)."""
    text = text.strip()
    if not text:
        return []
    segments = [s for window in _windows(text) for s in _segment(window, lang) if s]
    merged: list[str] = []
    for seg in segments:
        # A piece with nothing to say ("...", ")") belongs to the sentence before it.
        if merged and not (_speakable(seg) and _speakable(merged[-1])):
            merged[-1] = f"{merged[-1]} {seg}"
        else:
            merged.append(seg)
    return merged


def _split_points(text: str, pattern: re.Pattern[str]) -> Iterator[int]:
    """Indexes of the whitespace where ``text`` may be split after a ``pattern`` match."""
    for match in pattern.finditer(text):
        end = match.end()
        ws = end if end < len(text) and text[end].isspace() else match.start()
        if 0 < ws < len(text) and text[ws].isspace():
            yield ws


def _cut(text: str, at: int) -> tuple[str, str]:
    return text[:at].rstrip(), text[at:].lstrip()


def split_long(sentence: str, max_chars: int = MAX_CHARS, *, lang: str = DEFAULT) -> list[str]:
    """``sentence`` in pieces of at most ``max_chars`` (unless one word is longer)."""
    sentence = sentence.strip()
    if len(sentence) <= max_chars:
        return [sentence] if sentence else []
    conjunction = language(lang).conjunction
    patterns = [_STRONG_CLAUSE, _COMMA, *([conjunction] if conjunction else []), _SPACE]
    for pattern in patterns:
        points = [p for p in _split_points(sentence, pattern) if p <= max_chars]
        if not points and pattern is _SPACE:
            # The first word alone is too long: split right after it.
            points = list(_split_points(sentence, _SPACE))[:1]
        # Avoid a leading scrap of one or two words when a better point exists.
        good = [p for p in points if len(_words(sentence[:p])) >= 3]
        if good or points:
            left, right = _cut(sentence, (good or points)[-1])
            if left and right:
                return [left, *split_long(right, max_chars, lang=lang)]
    return [sentence]  # one very long word: never cut inside it


def split_first_at_comma(piece: str, min_words: int = FIRST_MIN_WORDS) -> list[str]:
    """``piece`` cut after its first comma when the part before is worth speaking alone."""
    for at in _split_points(piece, _COMMA):
        left, right = _cut(piece, at)
        if len(_words(left)) >= min_words and any(ch.isalnum() for ch in right):
            return [left, right]
        return [piece]  # only the first comma counts
    return [piece]


def split_for_speech(
    text: str, *, first_chunk_comma: bool = True, max_chars: int = MAX_CHARS, lang: str = DEFAULT
) -> list[str]:
    """Prepared text → pieces in speaking order; empty only for blank input."""
    pieces: list[str] = []
    for sentence in split_sentences(text, lang=lang):
        pieces.extend(split_long(sentence, max_chars, lang=lang))
    if first_chunk_comma and pieces:
        pieces[:1] = split_first_at_comma(pieces[0])
    return pieces


def _skip_words(text: str, count: int) -> str:
    """``text`` after its first ``count`` words."""
    if count <= 0:
        return text
    for i, match in enumerate(_WORD.finditer(text), start=1):
        if i == count:
            return text[match.end() :]
    return ""


class StreamChunker:
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
