# SPDX-License-Identifier: GPL-3.0-or-later
"""Text from the user for ``companion speak``, ``say`` and ``ask``, the read-aloud box and the
mascot's socket: UTF-8 text within the one limit, or a one-line reason why not (binary junk,
another encoding, too long). No Qt, no numpy: cheap to import."""

from __future__ import annotations

import unicodedata
from typing import BinaryIO

#: The one limit for text from every entry point (say, say -, speak, speak -, ask, the
#: read-aloud box, the mascot's socket): about 25 pages, 1.5 hours of speech.
MAX_TEXT_CHARS = 100_000


class TextInputError(ValueError):
    """Standard input is not text; the message is one line for the terminal."""


def looks_binary(text: str) -> bool:
    """A NUL, or more control characters than text ever has (1 %, at least 3)."""
    if "\x00" in text:
        return True
    controls = sum(
        1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f\v\x1b"
    )
    return controls > max(2, len(text) // 100)


def decode_text(data: bytes, source: str = "standard input") -> str:
    """``data`` as text (UTF-8, a byte-order mark dropped); raises :class:`TextInputError`."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TextInputError(f"{source} is not UTF-8 text") from None
    if looks_binary(text):
        raise TextInputError(f"{source} looks like binary data, not text")
    return text


def too_long(source: str = "the text") -> str:
    """The line for text over :data:`MAX_TEXT_CHARS`."""
    return (
        f"{source} is too long: more than {MAX_TEXT_CHARS:,} characters "
        "(split it into parts)"
    )


def check_length(text: str, source: str = "the text") -> str:
    """``text`` when it is within the limit; raises :class:`TextInputError` otherwise."""
    if len(text) > MAX_TEXT_CHARS:
        raise TextInputError(too_long(source))
    return text


def read_stream(stream: BinaryIO, source: str = "standard input") -> str:
    """Text from ``stream`` within the limit (never reading much more than it allows)."""
    raw = stream.read(MAX_TEXT_CHARS * 4 + 1)  # UTF-8: at most 4 bytes a character
    if len(raw) > MAX_TEXT_CHARS * 4:
        raise TextInputError(too_long(source))
    return check_length(decode_text(raw, source), source)
