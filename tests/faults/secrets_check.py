# SPDX-License-Identifier: GPL-3.0-or-later
"""At the end of the test session: everything the fault suite produced, searched for secrets.

Every log line of the app's threads (DEBUG and up), every crash-report envelope (the recording
transport's and the local ingest endpoint's), every settings and state file left in the tests'
config folders, and the standard error of every process the suite ran, searched for every
bearer token the reference backends issued and every reply text spoken: zero hits, or the
session fails. It runs after the last test whatever the order (``pytest_sessionfinish``), over
whatever part of the suite ran; when most of it ran it also checks that something was searched.

Two things hold a secret by design and are searched only for what they must not hold: the 0600
``credentials.json`` (the token store when there is no keyring: no reply text), and the chat's
``conversation.json`` (the conversation kept across restarts: no token).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

#: With at least this many fault tests run, the search must have had tokens, texts and reports.
WHOLE_SUITE_TESTS = 20


@dataclass
class SecretsReport:
    hits: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    summary: str = ""


def search(evidence: Any) -> SecretsReport:
    """Search what ``evidence`` (:class:`tests.faults.conftest.Evidence`) holds."""
    report = SecretsReport()
    tokens = {s for s in evidence.secrets if s.count(".") == 2 or s.startswith("tok-")}
    texts = evidence.secrets - tokens
    for where, content in evidence.items:
        wanted = set(texts if where.endswith("credentials.json") else evidence.secrets)
        if not where.endswith("conversation.json"):
            wanted |= evidence.chat_texts
        report.hits.extend((where, _context(content, s)) for s in wanted if s in content)
    searched = sum(len(content) for _, content in evidence.items)
    report.summary = (
        f"[faults] secrets: {len(tokens)} tokens and {len(texts) + len(evidence.chat_texts)} "
        f"reply texts searched in {len(evidence.items)} logs, envelopes, files and outputs "
        f"({searched / 1e6:.1f} MB) from {evidence.tests} tests, {evidence.envelopes} "
        f"envelopes: {len(report.hits)} hits"
    )
    if evidence.tests >= WHOLE_SUITE_TESTS:
        if not (tokens and texts):
            report.problems.append("no token or no reply text was recorded to search for")
        if evidence.envelopes == 0:
            report.problems.append("no crash-report envelope was searched")
    return report


def _context(content: str, secret: str) -> str:
    """The line around the first hit, the secret itself masked (for the failure message)."""
    at = content.index(secret)
    start, end = content.rfind("\n", 0, at) + 1, content.find("\n", at)
    line = content[start : end if end != -1 else len(content)]
    return line.replace(secret, f"<{len(secret)} chars>")[:400]


def finish(session: pytest.Session, evidence: Any) -> None:
    """Run the search once the last test ran; a hit fails the session."""
    if not evidence.items:
        return
    report = search(evidence)
    terminal = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [report.summary]
    lines += [f"  secret found in {where}: {line}" for where, line in report.hits]
    lines += [f"  {problem}" for problem in report.problems]
    if terminal is not None:
        for line in lines:
            terminal.write_line(line, red=bool(report.hits or report.problems))
    if report.hits or report.problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
