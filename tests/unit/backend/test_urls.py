# SPDX-License-Identifier: GPL-3.0-or-later
"""Backend addresses: what cannot be one says why; what is shown has no secret."""

from __future__ import annotations

import pytest

from companion.backend.urls import shown_url, url_problem


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/v1", "https://api.example.com", "http://[::1]:11434/v1", "http://h/"],
)
def test_good_addresses(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("", "empty"),
        ("localhost:8000", "http://"),
        ("htp://x", "http://"),
        ("http://", "no host"),
        ("http://a b", "space"),
        ("http://x:99999", "port"),
        ("http://x:abc", "port"),
        ("http://x..y", "host name"),
        ("http://.", "host name"),
    ],
)
def test_bad_addresses_say_why(url: str, why: str) -> None:
    problem = url_problem(url)
    assert problem is not None and why in problem


def test_shown_url_drops_credentials_and_query() -> None:
    assert shown_url("http://me:pw@h:1/v1?token=3#x") == "http://h:1/v1"
    assert "pw" not in shown_url("nonsense://me:pw@")
