# SPDX-License-Identifier: GPL-3.0-or-later
"""The incremental :class:`~companion.speech.chunking.StreamChunker` against the chunker it
replaced (``tests/support/legacy_chunker.py``, which re-read the whole block at each delta):
on ordinary replies, cut into deltas anywhere, both hand out the same pieces; where no
sentence ends the new one still speaks, in parts, every word kept, and it keeps no more than
its cap of text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from companion.speech.chunking import PENDING_CAP, StreamChunker
from tests.support.legacy_chunker import LegacyStreamChunker

_VOCABULARY = "the a cat dog sat on mat it was very good and then we went home but not yet"
_WORDS = st.sampled_from([*_VOCABULARY.split(), "Dr.", "e.g.", "U.S.", "3.14", "Paris", "Smith"])


@st.composite
def _sentence(draw: st.DrawFn) -> str:
    words = draw(st.lists(_WORDS, min_size=1, max_size=18))
    if draw(st.booleans()) and len(words) > 3:
        words[draw(st.integers(0, len(words) - 2))] += ","
    if draw(st.integers(0, 5)) == 0:
        i = draw(st.integers(0, len(words) - 1))
        words[i] = f"**{words[i]}**"
    text = " ".join(words)
    return text[0].upper() + text[1:] + draw(st.sampled_from([".", ".", "!", "?", "..."]))


@st.composite
def _block(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    sentences = " ".join(draw(st.lists(_sentence(), min_size=1, max_size=6)))
    if kind == 0:
        return "# " + sentences
    if kind == 1:
        return "\n".join("- " + s for s in draw(st.lists(_sentence(), min_size=1, max_size=4)))
    if kind == 2:
        return "```py\nprint('no. no.')\n\nx = 1. Y\n```"
    return sentences


@st.composite
def _reply(draw: st.DrawFn) -> str:
    return "\n\n".join(draw(st.lists(_block(), min_size=1, max_size=5)))


def _run(chunker: StreamChunker | LegacyStreamChunker, text: str, cuts: list[int]) -> list[str]:
    out: list[str] = []
    start = 0
    for cut in sorted({c for c in cuts if c < len(text)}):
        out.extend(chunker.feed(text[start:cut]))
        start = cut
    out.extend(chunker.feed(text[start:]))
    out.extend(chunker.flush())
    return out


@settings(max_examples=300, deadline=None)
@given(_reply(), st.lists(st.integers(0, 3000), max_size=80), st.booleans())
def test_ordinary_replies_give_the_old_pieces_at_any_split(
    text: str, cuts: list[int], comma: bool
) -> None:
    old = _run(LegacyStreamChunker(first_chunk_comma=comma), text, cuts)
    new = _run(StreamChunker(first_chunk_comma=comma), text, cuts)
    assert new == old


@settings(max_examples=60, deadline=None)
@given(_reply())
def test_one_character_deltas_give_the_old_pieces(text: str) -> None:
    old = _run(LegacyStreamChunker(), text, list(range(len(text))))
    new = _run(StreamChunker(), text, list(range(len(text))))
    assert new == old


def test_a_block_without_a_sentence_end_is_spoken_in_parts() -> None:
    text = " ".join(["word"] * 3000)  # 15,000 characters, no full stop
    chunker = StreamChunker()
    early: list[str] = []
    for ch in text:
        early.extend(chunker.feed(ch))
        assert len(chunker._text) + len(chunker._partial) <= PENDING_CAP + 1
    pieces = early + chunker.flush()
    assert len(early) >= len(text) // PENDING_CAP
    assert " ".join(pieces).split() == [*text.split()[:-1], "word."]  # the end: a full stop
    assert all(len(p) <= 200 for p in pieces)
    assert not any(p.endswith(".") for p in early)  # no full stop where none was written


def test_one_enormous_word_is_cut_at_the_cap() -> None:
    chunker = StreamChunker(markdown=False)
    pieces = chunker.feed("x" * (3 * PENDING_CAP)) + chunker.flush()
    assert "".join(pieces) == "x" * (3 * PENDING_CAP)


def test_a_code_fence_line_without_an_end_is_not_kept() -> None:
    chunker = StreamChunker()
    assert chunker.feed("Look here.\n\n```\n") == ["Look here."]
    for _ in range(1000):
        assert chunker.feed("y" * 100) == []
    assert len(chunker._partial) <= 64
    assert chunker.feed("\n```\n\nDone now.") == []
    assert chunker.flush() == ["Done now."]
