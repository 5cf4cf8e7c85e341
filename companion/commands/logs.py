# SPDX-License-Identifier: GPL-3.0-or-later
"""The commands' log set-up: quiet on the terminal by default, one format, once per process.

By default standard error shows warnings and errors only, and not the status table's line for
a backend error (the command's own line or the bubble says it for people). ``COMPANION_LOG_LEVEL``
(``debug``, ``info``, ``warning``, ``error``) shows more or less; other libraries (urllib3,
requests, PIL, markdown-it, …) stay at warnings unless it is ``debug``. The loggers themselves
stay at INFO, so crash reports keep their breadcrumbs.

Every line is scrubbed on its way out, whatever logger wrote it (:mod:`companion.commands.
log_redact`: tokens, JWTs, URL query strings → ``?[Filtered]``, as in crash reports).
"""

from __future__ import annotations

import logging
import os
import sys

from companion.commands.log_redact import Redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ENV_LOG_LEVEL = "COMPANION_LOG_LEVEL"
#: Libraries whose info and debug lines are noise for Companion's users.
THIRD_PARTY = (
    "urllib3",
    "requests",
    "httpx",
    "httpcore",
    "PIL",
    "markdown_it",
    "asyncio",
    "sentry_sdk",
    "filelock",
    "charset_normalizer",
    "onnxruntime",
    "piper",
    "pysbd",
)


def level_from_env(default: int = logging.WARNING) -> tuple[int, bool]:
    """The terminal's level from ``COMPANION_LOG_LEVEL`` (else ``default``), and whether the
    user chose it."""
    name = os.environ.get(ENV_LOG_LEVEL, "").strip().upper()
    level = logging.getLevelName(name) if name else None
    if isinstance(level, int):
        return level, True
    return default, False


#: ``extra={TOLD: True}``: a line the user was told in words (``companion.backend.headers``).
TOLD = "companion_told"


class _NotTold(logging.Filter):
    """Drops the status table's line for a backend error, and lines marked :data:`TOLD` (the
    user is told in words)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not hasattr(record, "backend") and not getattr(record, TOLD, False)


def setup_logging(default: int = logging.WARNING) -> int:
    """Log to standard error at the chosen level; returns it. Does nothing when logging is
    already set up (tests, an embedding program)."""
    level, chosen = level_from_env(default)
    root = logging.getLogger()
    if root.handlers:
        return level
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(level)
    handler.addFilter(Redact())  # on the handler: every logger's lines, urllib3's included
    if not chosen:
        handler.addFilter(_NotTold())
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO))
    if level > logging.DEBUG:
        for name in THIRD_PARTY:
            logging.getLogger(name).setLevel(logging.WARNING)
    return level
