# SPDX-License-Identifier: GPL-3.0-or-later
"""Log redaction: every line a handler writes is scrubbed the way crash reports are.

:class:`Redact` is a :class:`logging.Filter` set on the handler (not on a logger), so it sees
every logger's records, urllib3's and requests' debug lines included (they print request paths
with their query strings). It rewrites the message, the formatted traceback and the stack with
:func:`companion.telemetry.scrub_text` (``Bearer …``, ``sk-…``, ``token=…``, JWT-shaped
strings, URL query strings → ``?[Filtered]``, and the tokens this process sent,
:func:`companion.backend.headers.known_tokens`, wherever they appear, whatever their shape).

A record is changed in place (message formatted once, ``args`` dropped), and only when
something was replaced.
"""

from __future__ import annotations

import logging

from companion.telemetry import scrub_text

FILTERED = "[Filtered]"
_FORMATTER = logging.Formatter()


def redact(text: str) -> str:
    """``text`` with the tokens in use and every secret-shaped string replaced: what crash
    reports get (:func:`companion.telemetry.scrub_text`)."""
    return scrub_text(text)


class Redact(logging.Filter):
    """Scrubs a record's message, traceback and stack; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it when it formats
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
