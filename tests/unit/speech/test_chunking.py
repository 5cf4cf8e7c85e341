# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.speech.chunking import (
    StreamChunker,
    split_first_at_comma,
    split_for_speech,
    split_long,
    split_sentences,
)


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (
            "Dr. Smith went to the U.S. yesterday. He came back.",
            ["Dr. Smith went to the U.S. yesterday.", "He came back."],
        ),
        ("Pi is 3.14 today. Really.", ["Pi is 3.14 today.", "Really."]),
        ("Use a tool, e.g. a hammer. Then rest.", ["Use a tool, e.g. a hammer.", "Then rest."]),
        ("I was thinking... maybe not. Okay.", ["I was thinking... maybe not.", "Okay."]),
        (
            "Mr. and Mrs. Jones left at 5 p.m. on Friday.",
            ["Mr. and Mrs. Jones left at 5 p.m. on Friday."],
        ),
        ("Hello! ... How are you?", ["Hello! ...", "How are you?"]),
        ("", []),
    ],
)
def test_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_first_chunk_cut_at_comma() -> None:
    assert split_for_speech("Hello there friend, how are you? I am fine.") == [
        "Hello there friend,",
        "how are you?",
        "I am fine.",
    ]
    # Only the first piece, and only when the part before the comma is worth it.
    assert split_for_speech("Well, I think so. Yes, it is, really.") == [
        "Well, I think so.",
        "Yes, it is, really.",
    ]
    assert split_for_speech("Hello there friend, how are you?", first_chunk_comma=False) == [
        "Hello there friend, how are you?"
    ]
    # A thousands separator is no clause boundary.
    assert split_first_at_comma("It costs 1,000 dollars.") == ["It costs 1,000 dollars."]


def test_long_sentence_split_at_clauses() -> None:
    sentence = (
        "This sentence goes on for quite a while without stopping; it has clauses that "
        "keep coming, and more clauses after those, because the speaker likes to talk and "
        "talk and talk about nothing in particular."
    )
    pieces = split_long(sentence, 80)
    assert len(pieces) > 1
    assert all(len(p) <= 80 for p in pieces)
    assert pieces[0].endswith(";")
    assert " ".join(pieces) == sentence


def test_long_word_is_never_cut() -> None:
    word = "x" * 300
    assert split_long(f"a {word} b", 50) == ["a", word, "b"]


words = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), min_size=1, max_size=12
)


@settings(max_examples=200, deadline=None)
@given(st.lists(words, max_size=60), st.integers(min_value=20, max_value=250), st.booleans())
def test_chunks_never_lose_words(parts: list[str], max_chars: int, comma: bool) -> None:
    text = " ".join(parts)
    pieces = split_for_speech(text, first_chunk_comma=comma, max_chars=max_chars)
    assert all(p and p == p.strip() for p in pieces)
    assert " ".join(pieces).split() == text.split()
    assert all(len(p) <= max_chars or " " not in p for p in pieces)


def _stream(text: str, cuts: list[int], **kwargs: bool) -> list[str]:
    chunker = StreamChunker(**kwargs)
    out: list[str] = []
    start = 0
    for cut in sorted(set(cuts)):
        out.extend(chunker.feed(text[start:cut]))
        start = cut
    out.extend(chunker.feed(text[start:]))
    out.extend(chunker.flush())
    return out


def test_stream_hands_out_sentences_early() -> None:
    chunker = StreamChunker()
    assert chunker.feed("Hello there friend") == []
    assert chunker.feed(", how") == ["Hello there friend,"]
    assert chunker.feed(" are you? ") == []
    assert chunker.feed("I am") == ["how are you?"]
    assert chunker.feed(" fine. Dr.") == ["I am fine."]
    assert chunker.feed(" Smith says hi.") == []
    assert chunker.flush() == ["Dr. Smith says hi."]


def test_stream_skips_code_and_splits_blocks() -> None:
    text = "Look:\n\n```py\nprint('no. no.')\n```\n\n# Title\n- one\n- two\n\n*waves* Bye now."
    assert _stream(text, list(range(0, len(text), 3))) == [
        "Look.",
        "Title.",
        "one.",
        "two.",
        "Bye now.",
    ]


@settings(max_examples=100, deadline=None)
@given(st.lists(words, min_size=1, max_size=40), st.lists(st.integers(0, 400), max_size=30))
def test_stream_keeps_words_at_any_split(parts: list[str], cuts: list[int]) -> None:
    text = " ".join(parts)
    cuts = [c for c in cuts if c < len(text)]
    pieces = _stream(text, cuts, markdown=False)
    assert all(p and p == p.strip() for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_stream_matches_one_shot_for_plain_text() -> None:
    text = "Hello there friend, how are you? Dr. Smith went to the U.S. today. Pi is 3.14. Bye."
    for step in (1, 2, 5, 17):
        cuts = list(range(step, len(text), step))
        assert _stream(text, cuts) == split_for_speech(text)


def test_a_long_text_is_segmented_in_windows_at_sentence_ends() -> None:
    """pysbd is quadratic in its input: long texts go to it in windows cut after a sentence
    end, so a megabyte splits in seconds; every word stays, no sentence is cut in two."""
    sentence = "Dr. Smith paid $3.14 for it, e.g. at the U.S. store. The clocks struck thirteen! "
    text = (sentence * 400).strip()  # about 33,000 characters: nine windows
    sentences = split_sentences(text)
    assert " ".join(sentences).split() == text.split()
    assert all(s.endswith((".", "!")) for s in sentences)
    assert "Dr. Smith paid $3.14 for it, e.g. at the U.S. store." in sentences
    assert sentences == split_sentences(sentence.strip()) * 400


def test_the_voices_language_chooses_the_sentence_rules() -> None:
    from companion.speech.chunking import StreamChunker, split_for_speech, split_sentences

    text = "Das kostet ca. 5 Euro, z. B. heute. Danach gehen wir nach Hause."
    assert split_sentences(text, lang="de") == [
        "Das kostet ca. 5 Euro, z. B. heute.", "Danach gehen wir nach Hause.",
    ]  # fmt: skip
    long = "Wir gehen heute in die Stadt " + "und kaufen viele schöne Sachen ein " * 6
    pieces = split_for_speech(long, lang="de", first_chunk_comma=False, max_chars=80)
    assert all(len(p) <= 80 for p in pieces) and pieces[1].startswith("und ")
    assert " ".join(pieces).split() == long.split()
    chunker = StreamChunker(lang="de")
    out = chunker.feed("Siehe https://example.org hier. Und ")
    assert out == ["Siehe ein Link hier."]
