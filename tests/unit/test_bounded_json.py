# SPDX-License-Identifier: GPL-3.0-or-later
"""Nesting-bounded JSON: deep documents are a ValueError, never a RecursionError."""

from __future__ import annotations

import json

import pytest

from companion import bounded_json


def test_ordinary_documents_parse_as_json_does() -> None:
    doc = {"a": [1, {"b": "x[{"}], "c": None, "d": 'quote " and [ brackets {'}
    assert bounded_json.loads(json.dumps(doc)) == doc
    assert bounded_json.loads(json.dumps(doc).encode()) == doc


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deep_nesting_is_a_value_error(opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    deep = opener * 100_000 + "1" + closer * 100_000
    with pytest.raises(bounded_json.JsonTooDeep):
        bounded_json.loads(deep)
    with pytest.raises(ValueError):
        bounded_json.loads(deep.encode())


def test_the_bound_is_exact() -> None:
    at_bound = "[" * bounded_json.MAX_DEPTH + "]" * bounded_json.MAX_DEPTH
    assert bounded_json.loads(at_bound) is not None
    with pytest.raises(bounded_json.JsonTooDeep):
        bounded_json.loads("[" + at_bound + "]")


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps(["[" * 1000, "{" * 1000, '\\"[[['])
    assert len(bounded_json.loads(text)) == 3


def test_bad_utf8_and_bad_json_are_value_errors() -> None:
    with pytest.raises(ValueError):
        bounded_json.loads(b"\xff\xfe[")
    with pytest.raises(ValueError):
        bounded_json.loads("[1,")
