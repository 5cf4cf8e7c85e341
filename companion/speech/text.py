# SPDX-License-Identifier: GPL-3.0-or-later
"""Markdown reply → plain text a voice can read aloud.

The reply is parsed with markdown-it-py and its tokens are walked; no regular
expression ever looks at markdown syntax. What is dropped and why:

- code fences and indented code blocks (nobody wants code read aloud), HTML, images;
- links keep their label; a bare URL (or a link whose label is its URL) reads "a link";
- emphasis markup, emoji and ``*actions*`` (a stage direction in single asterisks or
  underscores standing on its own, such as "*waves*") disappear;
- headings, list items, table rows and quotes become sentences of their own.

The result is never empty: if nothing speakable is left a short phrase is returned. The
words put in (a link, some code, nothing to say, "times") are the voice's language's
(``companion.speech.language``); English by default.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

from companion.speech.language import DEFAULT, Phrases, language

_ENGLISH = language(DEFAULT).phrases
NOTHING_TO_SAY = _ENGLISH.nothing
ONLY_CODE = _ENGLISH.code
LINK_WORDS = _ENGLISH.link


@functools.cache
def _markdown() -> MarkdownIt:
    """The parser, made on first use (the speech thread's warm-up): importing markdown-it-py
    is 40-80 ms the GUI thread need not spend before the mascot is shown."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


# Regexes below only ever run over *plain text* (the content of text tokens), never markdown.
_URL = re.compile(r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>()\[\]{}\"']+", re.IGNORECASE)
_URL_TRAILING_PUNCT = ".,;:!?'\""
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?…])")
_REPEATED_COMMAS = re.compile(r"(?:,\s*){2,}")
_TIMES = re.compile(r"(?<=\d)\s*\*\s*(?=\d)")
_TERMINAL = ".!?…"
_CLOSERS = "\"')]\u201d\u2019\u00bb"  # quotes and brackets that may follow a full stop
_MAX_ACTION_WORDS = 10

# Symbols that carry meaning when read ("25°", "©") are kept; other pictographs are emoji.
_KEEP_SYMBOLS = set("©®™°№℃℉")
_EMOJI_JOINERS = {"\u200d", "\ufe0e", "\ufe0f", "\u20e3"}


def _is_emoji(ch: str) -> bool:
    if ch in _KEEP_SYMBOLS:
        return False
    if ch in _EMOJI_JOINERS:
        return True
    cp = ord(ch)
    if 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F:  # skin tones, tag sequences
        return True
    return unicodedata.category(ch) == "So"


def strip_emoji(text: str) -> str:
    return "".join(" " if _is_emoji(ch) else ch for ch in text)


def _replace_urls(text: str, link_words: str = LINK_WORDS) -> str:
    def sub(match: re.Match[str]) -> str:
        url = match.group(0)
        trailing = ""
        while url and url[-1] in _URL_TRAILING_PUNCT:
            trailing = url[-1] + trailing
            url = url[:-1]
        return link_words + trailing

    return _URL.sub(sub, text)


def _looks_like_url(label: str) -> bool:
    stripped = label.strip()
    return bool(stripped) and _URL.fullmatch(stripped.rstrip(_URL_TRAILING_PUNCT)) is not None


def _clean_plain(text: str, phrases: Phrases = _ENGLISH) -> str:
    """Plain text from a text token: URLs, emoji and stray markup characters."""
    text = _replace_urls(text, phrases.link)
    text = strip_emoji(text)
    text = _TIMES.sub(f" {phrases.times} ", text)
    # Markup characters markdown-it left as text (an unmatched "*", "~~", "`").
    text = text.replace("*", " ").replace("~~", " ").replace("`", " ")
    return text


def normalize_spaces(text: str) -> str:
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _REPEATED_COMMAS.sub(", ", text)
    return text.strip(" ,;:")


def end_sentence(text: str) -> str:
    """``text`` with sentence punctuation at its end (headings, list items, cells)."""
    text = text.rstrip(" ,;:-\u2013\u2014")  # and en/em dashes
    if not text:
        return ""
    if text[-1] in _TERMINAL or (text[-1] in _CLOSERS and len(text) > 1 and text[-2] in _TERMINAL):
        return text
    return text + "."


def _inline_text(children: list[Token], phrases: Phrases = _ENGLISH) -> str:
    """Walk an inline token's children into plain text."""
    pieces: list[str] = []
    # Emphasis spans (single * or _) are collected separately so that a stand-alone
    # stage direction can be told from emphasis inside a sentence.
    em_spans: list[tuple[int, int]] = []  # indexes into pieces: [start, end)
    em_stack: list[int] = []
    link_stack: list[tuple[int, str]] = []  # (pieces index at link_open, href)
    skip_depth = 0  # inside strikethrough

    for tok in children:
        kind = tok.type
        if kind == "s_open":
            skip_depth += 1
            continue
        if kind == "s_close":
            skip_depth = max(0, skip_depth - 1)
            continue
        if skip_depth:
            continue
        if kind == "text":
            if link_stack:
                pieces.append(strip_emoji(tok.content))
            else:
                pieces.append(_clean_plain(tok.content, phrases))
        elif kind == "code_inline":
            pieces.append(strip_emoji(tok.content))
        elif kind in ("softbreak", "hardbreak"):
            pieces.append(" ")
        elif kind == "em_open":
            em_stack.append(len(pieces))
        elif kind == "em_close":
            if em_stack:
                em_spans.append((em_stack.pop(), len(pieces)))
        elif kind == "link_open":
            link_stack.append((len(pieces), str(tok.attrs.get("href", ""))))
        elif kind == "link_close" and link_stack:
            start, _href = link_stack.pop()
            label = "".join(pieces[start:])
            autolink = tok.markup == "autolink"
            if autolink or not label.strip() or _looks_like_url(label):
                del pieces[start:]
                pieces.append(phrases.link)
        # image, html_inline, strong_open/close: nothing to say

    for start, end in sorted(em_spans, reverse=True):
        if _is_action(pieces, start, end):
            for i in range(start, end):
                pieces[i] = ""
            pieces.insert(start, " ")
    return "".join(pieces)


def _is_action(pieces: list[str], start: int, end: int) -> bool:
    """An emphasis span that reads as a stage direction rather than stressed words.

    "*waves* Hello!" and "See you! *smiles warmly*" are actions: the span stands
    between sentences (nothing before it in its sentence, and what follows starts a
    new sentence or nothing). "I *really* mean it" and "*Really* good." are emphasis.
    """
    content = "".join(pieces[start:end]).strip()
    if not content or content[-1] in _TERMINAL or len(content.split()) > _MAX_ACTION_WORDS:
        return False
    before = "".join(pieces[:start]).rstrip()
    after = "".join(pieces[end:]).lstrip()
    starts_sentence = not before or before[-1] in _TERMINAL + ':"“'
    ends_sentence = (
        not after or after[0] in _TERMINAL or after[0].isupper() or not after[0].isalnum()
    )
    return starts_sentence and ends_sentence


def prepare_for_speech(markdown_text: str, *, lang: str = DEFAULT) -> str:
    """Plain, speakable text for ``markdown_text``; never empty. ``lang``: the voice's language."""
    phrases = language(lang).phrases
    spoken, dropped_code = _speakable(markdown_text, phrases)
    if not spoken:
        return phrases.code if dropped_code else phrases.nothing
    return spoken


def speakable_text(markdown_text: str, *, lang: str = DEFAULT) -> str:
    """Like :func:`prepare_for_speech` but empty when nothing is speakable (stream pieces)."""
    return _speakable(markdown_text, language(lang).phrases)[0]


def _speakable(markdown_text: str, phrases: Phrases = _ENGLISH) -> tuple[str, bool]:
    tokens = _markdown().parse(markdown_text)
    sentences: list[str] = []
    dropped_code = False
    row: list[str] = []
    in_cell = False

    for tok in tokens:
        kind = tok.type
        if kind in ("fence", "code_block"):
            dropped_code = True
            continue
        if kind in ("th_open", "td_open"):
            in_cell = True
            continue
        if kind in ("th_close", "td_close"):
            in_cell = False
            continue
        if kind == "tr_close":
            cells = [c for c in row if c]
            if cells:
                sentences.append(end_sentence(", ".join(cells)))
            row = []
            continue
        if kind != "inline":
            continue
        text = normalize_spaces(_inline_text(tok.children or [], phrases))
        if in_cell:
            row.append(text.rstrip(_TERMINAL))
            continue
        if text:
            sentences.append(end_sentence(text))

    spoken = normalize_spaces(" ".join(s for s in sentences if s))
    if not any(ch.isalnum() for ch in spoken):
        return "", dropped_code
    return spoken, dropped_code
