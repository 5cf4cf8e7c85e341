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
deltas (a streamed chat completion), incrementally: each delta costs what it adds. ``lang``
is the voice's language: pysbd's rules and the conjunctions for it
(``companion.speech.language``); English by default.
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


#: Text of a block held without a sentence end before it is cut anyway, at its last space
#: (a reply that never ends a sentence still becomes pieces, and no step works on more).
PENDING_CAP = 1000
#: Sentence checks in a row that hand nothing out before the held text is cut anyway.
STALE_CHECKS = 64
# Characters after which pysbd (or a table row, a line) may end a sentence: only text holding
# one of these is worth segmenting; without one no sentence can be complete yet.
_TRIGGERS = frozenset(".!?\u2026\u3002\uff01\uff1f\u061f\u06d4\u0964\u0965\u0589;\u037e\n")
# Where the raw markdown may be cut after a sentence (the pieces before it all handed out).
_RAW_END = re.compile(
    "[.!?\u2026\u3002\uff01\uff1f\u061f\u06d4\u0964\u0965\u0589;\u037e]"
    "[\"')\\]\u201d\u2019\u00bb]*\\s+|\n"
)
_COMMIT_TRIES = 4
_FENCE_LINE_KEEP = 64  # of a line inside a code fence: enough to see a closing fence


class StreamChunker:
    """Pieces of a streamed markdown reply, each handed out as soon as it can be spoken.

    ``feed(delta)`` returns the pieces completed by that delta: a sentence is complete once
    the text after it has started (so pysbd sees "Dr. Smith" together). The first piece of
    the reply is cut at its first comma, even before its sentence ends. Code fences are
    skipped; each markdown block (paragraph, list item, heading) is prepared with
    :func:`companion.speech.text.speakable_text`. ``flush()`` hands out the rest.

    Incremental: a delta costs what it adds. Only the text not yet handed out is kept
    (once pieces are out, the raw markdown before the next sentence is dropped, when
    preparing the two parts apart gives the same words as together); sentences are only
    looked for when that text holds a character that can end one (a comma too, for the
    first piece). Text held past :data:`PENDING_CAP` without a sentence end (or after
    :data:`STALE_CHECKS` fruitless checks) is cut at its last space and handed out, so one
    endless sentence still speaks; that is the one place the pieces differ from cutting the
    whole reply at once.

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
        self._text = ""  # the block's complete lines not yet dropped, each ending in "\n"
        self._partial = ""  # the line being received (no newline yet)
        self._line_cut = False  # the current line's start was dropped (or, in a fence, its end)
        self._lines = 0  # complete lines of the current block
        self._fence: str | None = None  # the open fence's marker while inside a code fence
        self._emitted_words = 0  # words of the held text already handed out
        self._unchecked = False  # text arrived since the last sentence check
        self._armed = False  # the held text may hold a sentence end (or a first comma)
        self._stale = 0  # checks since pieces were last handed out
        self.pieces_out = 0

    def feed(self, delta: str) -> list[str]:
        out: list[str] = []
        if not delta:
            return out
        if "\n" in delta:
            *lines, rest = delta.split("\n")
            for part in lines:
                line, cut = self._partial + part, self._line_cut
                self._partial, self._line_cut = "", False
                out.extend(self._take_line(line, cut))
            self._partial = rest
        else:
            self._partial += delta
        if self._fence is not None:
            if len(self._partial) > _FENCE_LINE_KEEP:
                self._partial, self._line_cut = self._partial[:_FENCE_LINE_KEEP], True
            return out
        if not _TRIGGERS.isdisjoint(delta) or (self._first_open and "," in delta):
            self._armed = True
        self._unchecked = self._unchecked or any(ch.isspace() or ch == "," for ch in delta)
        if self._unchecked:
            self._unchecked = False
            if self._armed:
                out.extend(self._emit(final=False))
        if len(self._text) + len(self._partial) > PENDING_CAP or self._stale > STALE_CHECKS:
            out.extend(self._cut_held())
        return out

    def flush(self) -> list[str]:
        out: list[str] = []
        if self._partial:
            line, cut = self._partial, self._line_cut
            self._partial, self._line_cut = "", False
            out.extend(self._take_line(line, cut))
        out.extend(self._finish_block())
        self._fence = None
        return out

    # -- internals ---------------------------------------------------------------------

    @property
    def _first_open(self) -> bool:
        return self._first_chunk_comma and self.pieces_out == 0

    def _take_line(self, line: str, cut: bool) -> list[str]:
        """A complete line (``cut``: its start was dropped, or it was too long to keep)."""
        if not self._markdown:
            return self._add_line(line)
        fence = None if cut else _FENCE.match(line)
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
        if not cut and not line.strip():
            return self._finish_block()
        out = []
        if self._lines and not cut and _BLOCK_START.match(line):
            out = self._finish_block()
        out.extend(self._add_line(line))
        return out

    def _add_line(self, line: str) -> list[str]:
        self._text += line + "\n"
        self._lines += 1
        self._armed = True  # a table row, a line of its own: it may end a sentence
        return []

    def _prepared(self, raw: str) -> str:
        if not self._markdown:
            return " ".join(raw.split())
        return speakable_text(raw, lang=self._lang) if any(ch.isalnum() for ch in raw) else ""

    def _finish_block(self) -> list[str]:
        out = self._emit(final=True)
        self._text, self._lines, self._emitted_words = "", 0, 0
        self._armed, self._stale = False, 0
        return out

    def _emit(self, *, final: bool) -> list[str]:
        raw = self._text + self._partial
        prepared = self._prepared(raw)
        remainder = _skip_words(prepared, self._emitted_words).strip()
        if not remainder:
            return []
        sentences = split_sentences(remainder, lang=self._lang)
        ready = sentences if final else sentences[:-1]
        out: list[str] = []
        for sentence in ready:
            out.extend(split_long(sentence, self._max_chars, lang=self._lang))
        if self._first_open:
            if out:
                out[:1] = split_first_at_comma(out[0])
            elif sentences:
                head = split_first_at_comma(sentences[0])
                if len(head) == 2:
                    out = [head[0]]
        self._emitted_words += sum(len(_words(p)) for p in out)
        self.pieces_out += len(out)
        self._stale = 0 if out else self._stale + 1
        if out and not final:
            self._drop_handed_out(raw, _words(prepared))
        return out

    def _drop_handed_out(self, raw: str, words: list[str]) -> None:
        """Drop the raw text before the last sentence end whose words are all handed out,
        when its words and the rest's, prepared apart, are those of ``raw`` prepared whole."""
        ends = [m.end() for m in _RAW_END.finditer(raw)][-_COMMIT_TRIES:]
        for at in reversed(ends):
            head = _words(self._prepared(raw[:at]))
            if len(head) > self._emitted_words or head != words[: len(head)]:
                continue
            if _words(self._prepared(raw[at:])) != words[len(head) :]:
                continue
            self._drop(at)
            self._emitted_words -= len(head)
            return

    def _drop(self, at: int) -> None:
        """Forget the first ``at`` characters of the held text."""
        if at <= len(self._text):
            self._text = self._text[at:]
        else:
            self._partial = self._partial[at - len(self._text) :]
            self._text, self._line_cut = "", True
        held = self._text + self._partial
        self._armed = not _TRIGGERS.isdisjoint(held) or (self._first_open and "," in held)

    def _cut_held(self) -> list[str]:
        """The held text's first :data:`PENDING_CAP` characters (to their last space) as
        pieces: a sentence that does not end is spoken in parts."""
        raw = self._text + self._partial
        window = raw[:PENDING_CAP]
        space = max(window.rfind(" "), window.rfind("\n"), window.rfind("\t"))
        at = space + 1 if space > 0 else len(window)
        part = raw[:at]
        prepared = self._prepared(part)
        if prepared.endswith(".") and part.rstrip()[-1:] not in _TRIGGERS:
            prepared = prepared[:-1]  # no full stop where the sentence goes on
        words = len(_words(prepared))
        remainder = _skip_words(prepared, self._emitted_words).strip()
        out: list[str] = []
        for sentence in split_sentences(remainder, lang=self._lang) if remainder else []:
            out.extend(split_long(sentence, self._max_chars, lang=self._lang))
        if self._first_open and out:
            out[:1] = split_first_at_comma(out[0])
        self.pieces_out += len(out)
        self._emitted_words = max(0, self._emitted_words - words)
        self._stale = 0
        self._drop(at)
        return out
