# SPDX-License-Identifier: GPL-3.0-or-later
"""Last in the fault suite (file order): everything the suite produced, searched for secrets.

Every log line of the app's threads (DEBUG and up), every crash-report envelope (the recording
transport's and the local ingest endpoint's), every settings and state file left in the tests'
config folders, and the standard error of every process the suite ran, searched for every
bearer token the reference backends issued and every reply text spoken: zero hits.

Two things hold a secret by design and are searched only for what they must not hold: the 0600
``credentials.json`` (the token store when there is no keyring: no reply text), and the chat's
``conversation.json`` (the conversation kept across restarts: no token).
"""

from __future__ import annotations

import os

import pytest

from tests.faults.conftest import EVIDENCE


def test_no_token_or_reply_text_anywhere() -> None:
    if not EVIDENCE.items:
        if os.environ.get("CI"):
            pytest.fail("the fault suite must run before this test (run tests/faults whole)")
        pytest.skip("run the whole tests/faults directory: this test reads what it produced")
    tokens = {s for s in EVIDENCE.secrets if s.count(".") == 2 or s.startswith("tok-")}
    texts = EVIDENCE.secrets - tokens
    assert tokens and texts
    hits: list[tuple[str, str]] = []
    for where, content in EVIDENCE.items:
        wanted = set(texts if where.endswith("credentials.json") else EVIDENCE.secrets)
        if not where.endswith("conversation.json"):
            wanted |= EVIDENCE.chat_texts
        hits.extend((where, _context(content, secret)) for secret in wanted if secret in content)
    searched = sum(len(content) for _, content in EVIDENCE.items)
    print(
        f"\n[faults] secrets: {len(tokens)} tokens and {len(texts) + len(EVIDENCE.chat_texts)} "
        f"reply texts searched in {len(EVIDENCE.items)} logs, envelopes, files and outputs "
        f"({searched / 1e6:.1f} MB) from {EVIDENCE.tests} tests, {EVIDENCE.envelopes} "
        f"envelopes: {len(hits)} hits"
    )
    assert hits == []
    assert EVIDENCE.envelopes > 0  # the reports were searched too, not only logs


def _context(content: str, secret: str) -> str:
    """The line around the first hit, the secret itself masked (for the failure message)."""
    at = content.index(secret)
    start, end = content.rfind("\n", 0, at) + 1, content.find("\n", at)
    line = content[start : end if end != -1 else len(content)]
    return line.replace(secret, f"<{len(secret)} chars>")[:400]
