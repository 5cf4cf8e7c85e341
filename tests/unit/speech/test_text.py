# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.speech.text import (
    NOTHING_TO_SAY,
    ONLY_CODE,
    prepare_for_speech,
    speakable_text,
    strip_emoji,
)


@pytest.mark.parametrize(
    ("markdown", "spoken"),
    [
        ("Hello there.", "Hello there."),
        ("Hello there", "Hello there."),
        ("Some **bold** and _italic_ words.", "Some bold and italic words."),
        ("Read [the docs](https://example.com/docs) first.", "Read the docs first."),
        ("Go to https://example.com/a?b=c, then wait.", "Go to a link, then wait."),
        ("See www.example.com.", "See a link."),
        ("See <https://example.com>.", "See a link."),
        ("See [https://example.com](https://example.com).", "See a link."),
        ("*waves* Hello there!", "Hello there!"),
        ("Hello! *smiles warmly*", "Hello!"),
        ("_nods_ Sure thing.", "Sure thing."),
        ("I *really* like it.", "I really like it."),
        ("*Really* good idea.", "Really good idea."),
        ("*This matters.* Do it.", "This matters. Do it."),
        ("Party time 🎉🎉 yes 👋🏽!", "Party time yes!"),
        ("Family 👨‍👩‍👧 here.", "Family here."),
        ("It is 25°C.", "It is 25°C."),
        ("Run `pip install x` now.", "Run pip install x now."),
        ("Old ~~price~~ price.", "Old price."),
        ("2 * 3 is 6.", "2 times 3 is 6."),
        ("![a cat](cat.png) Nice cat.", "Nice cat."),
        ("Text <b>bold</b> here.", "Text bold here."),
    ],
)
def test_inline(markdown: str, spoken: str) -> None:
    assert prepare_for_speech(markdown) == spoken


def test_blocks_become_sentences() -> None:
    markdown = (
        "# Shopping list\n\n"
        "Here is what we need\n\n"
        "- milk\n- eggs\n\n"
        "1. First step\n2. Second step: mix\n\n"
        "> A quote\n\n"
        "| item | price |\n|---|---|\n| tea | 3 |\n"
    )
    assert prepare_for_speech(markdown) == (
        "Shopping list. Here is what we need. milk. eggs. First step. Second step: mix. "
        "A quote. item, price. tea, 3."
    )


def test_code_is_dropped() -> None:
    markdown = "Try this:\n\n```python\nprint('hi')\n```\n\n    indented code\n\nDone."
    assert prepare_for_speech(markdown) == "Try this. Done."


@pytest.mark.parametrize(
    ("markdown", "fallback"),
    [
        ("", NOTHING_TO_SAY),
        ("   \n\n", NOTHING_TO_SAY),
        ("🎉🎉", NOTHING_TO_SAY),
        ("*waves*", NOTHING_TO_SAY),
        ("```\ncode only\n```", ONLY_CODE),
        ("---", NOTHING_TO_SAY),
    ],
)
def test_never_empty(markdown: str, fallback: str) -> None:
    assert prepare_for_speech(markdown) == fallback
    assert speakable_text(markdown) == ""


def test_strip_emoji_keeps_letters() -> None:
    assert strip_emoji("café ☕ naïve").split() == ["café", "naïve"]


@given(st.text(max_size=300))
def test_any_text_gives_speakable_text(text: str) -> None:
    spoken = prepare_for_speech(text)
    assert spoken
    assert spoken == spoken.strip()
    assert any(ch.isalnum() for ch in spoken)
    assert "```" not in spoken
    assert "  " not in spoken


def test_the_voices_language_chooses_the_words_put_in() -> None:
    from companion.speech.text import prepare_for_speech, speakable_text

    text = "Siehe https://example.org/x und 3 * 4."
    assert prepare_for_speech(text, lang="de") == "Siehe ein Link und 3 mal 4."
    assert prepare_for_speech(text) == "Siehe a link und 3 times 4."  # English by default
    assert prepare_for_speech("```\ncode\n```", lang="fr") == "Voici du code."
    assert prepare_for_speech("", lang="de_DE") == "Ich habe nichts zu sagen."
    assert speakable_text("[https://x.org](https://x.org)", lang="es") == "un enlace."
    assert prepare_for_speech("🙂", lang="sw") == "I have nothing to say."  # no phrases: English
