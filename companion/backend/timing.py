# SPDX-License-Identifier: GPL-3.0-or-later
"""How long the backend client waits: the environment overrides of its timeouts, and the
server's ``Retry-After`` (and its vendor variants) read as seconds."""

from __future__ import annotations

import email.utils
import logging
import math
import os
from collections.abc import Mapping
from datetime import UTC, datetime

log = logging.getLogger("companion.backend")

#: How long one JSON request may take in all (connect, headers and the whole body).
JSON_DEADLINE_S = 30.0
ENV_CONNECT_TIMEOUT = "COMPANION_CONNECT_TIMEOUT"
ENV_READ_TIMEOUT = "COMPANION_READ_TIMEOUT"
ENV_DEADLINE = "COMPANION_REQUEST_DEADLINE"


def env_seconds(name: str) -> float | None:
    """A positive number of seconds from the environment variable ``name``, or None."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        log.warning("[backend_api] ignoring %s: not a number of seconds", name)
        return None
    if not math.isfinite(value) or value <= 0:
        log.warning("[backend_api] ignoring %s: not a positive number of seconds", name)
        return None
    return value


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = datetime.now(UTC).timestamp() if now is None else now
        seconds = when.timestamp() - current
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


#: Where servers put the wait they ask for: the standard header, OpenAI's milliseconds, and
#: LiteLLM's copies of its upstream's (it forwards ``Retry-After`` as ``llm_provider-…``).
RETRY_AFTER_HEADERS: tuple[tuple[str, float], ...] = (
    ("Retry-After", 1.0),
    ("retry-after-ms", 0.001),
    ("llm_provider-retry-after", 1.0),
    ("llm_provider-retry-after-ms", 0.001),
)


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    """Seconds a response asks us to wait, from the first of :data:`RETRY_AFTER_HEADERS`."""
    for name, scale in RETRY_AFTER_HEADERS:
        value = (headers.get(name) or "").strip()
        if not value:
            continue
        if scale == 1.0:
            seconds = parse_retry_after(value)
            if seconds is not None:
                return seconds
            continue
        try:
            number = float(value)  # milliseconds: a number, never a date
        except ValueError:
            continue
        if math.isfinite(number) and number >= 0:
            return number * scale
    return None

