# SPDX-License-Identifier: GPL-3.0-or-later
"""The end-of-session secrets search finds what it must (on evidence made here, not the
suite's own, which it searches after the last test)."""

from __future__ import annotations

from tests.faults.conftest import Evidence
from tests.faults.secrets_check import WHOLE_SUITE_TESTS, search

TOKEN = "tok-0123456789abcdef"
REPLY = "The owls count the stars tonight."


def test_a_token_or_a_reply_text_anywhere_is_a_hit_and_masked() -> None:
    evidence = Evidence()
    evidence.secret(TOKEN)
    evidence.secret(REPLY)
    evidence.add("a log", f"INFO ok\nDEBUG Authorization: Bearer {TOKEN}\nINFO done")
    evidence.add("an envelope", f'{{"message": "{REPLY}"}}')
    evidence.add("a clean log", "INFO [router] reply 1 done (2 pieces)")
    report = search(evidence)
    assert sorted(where for where, _ in report.hits) == ["a log", "an envelope"]
    assert all(TOKEN not in line and REPLY not in line for _, line in report.hits)
    assert "<20 chars>" in dict(report.hits)["a log"]


def test_files_that_hold_a_secret_by_design_are_searched_for_the_rest() -> None:
    evidence = Evidence()
    evidence.secret(TOKEN)
    evidence.secret(REPLY)
    evidence.chat_texts.add("What is the weather?")
    evidence.add("cfg/credentials.json", f'{{"http://x": "{TOKEN}"}}')  # the 0600 store
    evidence.add("state/conversation.json", '{"content": "What is the weather?"}')
    assert search(evidence).hits == []
    evidence.add("state/conversation.json", f'{{"token": "{TOKEN}"}}')
    assert len(search(evidence).hits) == 1


def test_a_whole_run_that_searched_nothing_is_a_problem() -> None:
    evidence = Evidence(tests=WHOLE_SUITE_TESTS)
    evidence.add("a log", "INFO nothing secret")
    report = search(evidence)
    assert report.hits == [] and len(report.problems) == 2
