# SPDX-License-Identifier: GPL-3.0-or-later
"""A voice's language code, in any spelling, to what text preparation and the splitter use."""

from __future__ import annotations

import pytest

from companion.speech.language import DEFAULT, PHRASES, family, language


@pytest.mark.parametrize(
    ("code", "expected"),
    [("de_DE", "de"), ("de-de", "de"), ("DE", "de"), ("en-us", "en"), ("", "en"), ("123", "en")],
)
def test_family(code: str, expected: str) -> None:
    assert family(code) == expected


def test_known_and_unknown_languages() -> None:
    de = language("de_DE")
    assert (de.code, de.segmenter, de.phrases.link) == ("de", "de", "ein Link")
    assert de.conjunction is not None and de.conjunction.search("gut und schön")
    sw = language("sw_CD")  # Swahili: neither phrases nor pysbd rules
    assert (sw.code, sw.segmenter, sw.phrases, sw.conjunction) == ("sw", "en", PHRASES["en"], None)
    assert language() is language(DEFAULT) is language("en_GB")


def test_every_language_has_every_phrase() -> None:
    for code, phrases in PHRASES.items():
        assert all(
            phrases.__getattribute__(f) for f in ("link", "code", "nothing", "times", "test")
        ), code
