# SPDX-License-Identifier: GPL-3.0-or-later
"""Text from standard input for ``companion speak``, ``say`` and ``ask``: UTF-8 text, or a
one-line reason why not (binary junk, another encoding). No Qt, no numpy: cheap to import."""

from __future__ import annotations

import unicodedata


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
