# SPDX-License-Identifier: GPL-3.0-or-later
"""Text from elsewhere made safe for a terminal: what ``companion ask --print`` writes (the
reply, the mascot's notices and errors) carries no control or escape characters.

A reply comes from a model and a server, and a notice from the mascot's socket: an escape
sequence in either would reach the user's terminal, which obeys it (set the window title, clear
the screen, write the clipboard with OSC 52, ...). :func:`printable` removes whole ESC
sequences (CSI, OSC, DCS, SOS, PM, APC with their BEL or ST terminators, and two-character
ones), then every remaining control character: C0 except newline and tab, DEL, C1
(U+0080-U+009F, which includes the 8-bit CSI and OSC) and the bidirectional overrides and
isolates (which reorder what the user sees). A sequence cut in two (a streamed reply's deltas)
loses its ESC in the first piece, and the rest is plain text: no ESC ever reaches the terminal.
"""

from __future__ import annotations

import re

# ESC [ ... final (CSI); ESC ] P X ^ _ ... up to BEL or ST or the end (OSC, DCS, SOS, PM,
# APC); ESC, intermediates, a final (the other escape sequences, e.g. ESC ( B, ESC c); the
# same with the 8-bit introducers (CSI U+009B; OSC, DCS, SOS, PM, APC; ST U+009C).
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?",
)
#: Bidirectional embeddings, overrides, isolates and the Arabic letter mark.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f" + BIDI_CONTROLS + "]")
_LINE_BREAKS = re.compile(r"[\n\t]")


def printable(text: str, *, one_line: bool = False) -> str:
    """``text`` without escape sequences or control characters (newline and tab kept, or each
    made a space with ``one_line``)."""
    text = _CONTROL.sub("", _SEQUENCE.sub("", text))
    if one_line:
        text = _LINE_BREAKS.sub(" ", text)
    return text


def is_printable(text: str) -> bool:
    """True when ``text`` has no control character but newline and tab (what
    :func:`printable` gives)."""
    return _CONTROL.search(text) is None
