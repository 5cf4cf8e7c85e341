# SPDX-License-Identifier: GPL-3.0-or-later
"""Text made safe for a terminal: no escape sequence or control character survives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.terminal_text import BIDI_CONTROLS, is_printable, printable

ESC = "\x1b"
#: What a hostile server answered ``ask --print`` with (issue 17).
ATTACKS = {
    "OSC title, BEL": f"{ESC}]0;pwned{chr(7)}",
    "OSC title, ST": f"{ESC}]2;pwned{ESC}\\",
    "OSC 52 clipboard": f"{ESC}]52;c;cm0gLXJmIH4K{chr(7)}",
    "clear screen": f"{ESC}[2J{ESC}[H",
    "colour": f"{ESC}[31;1m",
    "DCS": f"{ESC}Pq#0;2;0;0;0{ESC}\\",
    "APC": f"{ESC}_hidden{ESC}\\",
    "charset": f"{ESC}(0",
    "reset": f"{ESC}c",
    "8-bit CSI": "\x9b2J",
    "8-bit OSC": "\x9d0;pwned\x9c",
    "carriage return": "\roverwritten",
    "backspaces": "\b\b\b",
    "bidi override": "\u202eevil\u202c",
}


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_each_attack_is_removed_and_the_text_around_it_kept(attack: str) -> None:
    out = printable(f"Hello {attack} world")
    assert ESC not in out and is_printable(out)
    assert out.startswith("Hello ") and out.endswith(" world")
    assert "pwned" not in out and "cm0g" not in out  # the sequence's payload goes with it


def test_newlines_and_tabs_stay_and_one_line_makes_them_spaces() -> None:
    assert printable("a\n\tb\r\n") == "a\n\tb\n"
    assert printable("a\n\tb", one_line=True) == "a  b"


def test_ordinary_text_is_untouched() -> None:
    text = "Ünïcode, emoji 👩‍👩‍👧 (a joiner), 日本語, Ελληνικά, [brackets] and ]52; too."
    assert printable(text) == text


def test_a_sequence_cut_in_two_streamed_pieces_leaves_no_escape() -> None:
    """A reply streams in deltas: each piece is cleaned on its own, and no ESC gets through."""
    first, second = f"before {ESC}]52;c;", "cm0gLXJmIH4K\x07 after"
    out = printable(first) + printable(second)
    assert ESC not in out and "\x07" not in out and is_printable(out)


_ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from([ESC, "[", "]", "\\", "\x07", "\x9b", "\x9c", "P", "_", "\n", "\t"]),
        st.sampled_from(BIDI_CONTROLS),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(_ANY_TEXT)
def test_the_output_never_holds_a_control_character(text: str) -> None:
    out = printable(text)
    assert is_printable(out)
    for char in out:
        code = ord(char)
        assert char in "\n\t" or not (code < 0x20 or 0x7F <= code <= 0x9F)
        assert char not in BIDI_CONTROLS
    assert "\n" not in printable(text, one_line=True)


@settings(max_examples=200, deadline=None)
@given(_ANY_TEXT, _ANY_TEXT)
def test_pieces_cleaned_apart_are_as_safe_as_the_whole(first: str, second: str) -> None:
    assert is_printable(printable(first) + printable(second))
    assert printable(printable(first)) == printable(first)  # cleaning twice changes nothing
