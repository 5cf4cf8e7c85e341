# SPDX-License-Identifier: GPL-3.0-or-later
"""JSON read where input crosses a trust boundary (HTTP answers, the IPC socket, settings and
state files): nesting bounded before the parser recurses, so a hostile document is a clear
``ValueError`` instead of a ``RecursionError`` traceback.

The depth check is one linear scan over the bracket characters outside strings; the document is
then parsed by :func:`json.loads` as usual.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: The deepest nesting any document of ours or any backend's answer needs, with room to spare.
MAX_DEPTH = 64

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class JsonTooDeep(ValueError):
    """A JSON document nested deeper than the bound (a ``ValueError``, like any bad JSON)."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nested deeper than {max_depth} levels")
        self.max_depth = max_depth


def check_depth(text: str, max_depth: int = MAX_DEPTH) -> None:
    """Raises :class:`JsonTooDeep` when ``text`` opens more than ``max_depth`` brackets at once
    (brackets inside strings do not count)."""
    if text.count("[") + text.count("{") <= max_depth:
        return  # cannot be too deep: the common case costs two counts
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            if depth > max_depth:
                raise JsonTooDeep(max_depth)
        else:
            depth -= 1


def loads(data: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH) -> Any:
    """:func:`json.loads` with nesting bounded: ``ValueError`` (``json.JSONDecodeError``,
    :class:`JsonTooDeep`, ``UnicodeDecodeError``) for anything that is not a bounded document."""
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    check_depth(text, max_depth)
    try:
        return json.loads(text)
    except RecursionError as exc:  # belt and braces: a bound above the interpreter's limit
        raise JsonTooDeep(max_depth) from exc
