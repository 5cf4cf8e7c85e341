# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest fixtures: the reference backend, and Sentry with a transport that records envelopes.

Registered from ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from companion import telemetry
from tests.support.reference_backend import ReferenceBackend, synthesize

TEST_DSN = "https://public@127.0.0.1:9/1"  # never contacted: the transport records instead


class RecordingTransport(Transport):
    """A real sentry-sdk transport that keeps every envelope instead of sending it
    (Sentry's own tests do the same: ``capture_envelopes``)."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []
        self._lock = threading.Lock()

    def capture_envelope(self, envelope: Envelope) -> None:
        with self._lock:
            self.envelopes.append(envelope)

    def flush(self, timeout: float, callback: Any = None) -> None:
        """Nothing is queued: envelopes are recorded as they are captured."""

    def kill(self) -> None:
        """Nothing to stop."""

    def clear(self) -> None:
        with self._lock:
            self.envelopes.clear()

    def _items(self, *types: str) -> list[Any]:
        with self._lock:
            envelopes = list(self.envelopes)
        return [
            item.payload.json
            for env in envelopes
            for item in env.items
            if item.type in types and item.payload.json is not None
        ]

    @property
    def events(self) -> list[dict[str, Any]]:
        return self._items("event")

    @property
    def sessions(self) -> list[dict[str, Any]]:
        """Session updates (single ``session`` items and ``sessions`` aggregates)."""
        return self._items("session", "sessions")

    def dump(self) -> str:
        """Every byte recorded, as text (for searching for secrets)."""
        with self._lock:
            envelopes = list(self.envelopes)
        parts = []
        for env in envelopes:
            parts.append(json.dumps(env.headers, default=str))
            for item in env.items:
                parts.append(item.payload.get_bytes().decode("utf-8", "replace"))
        return "\n".join(parts)


@pytest.fixture
def reference_backend() -> Iterator[ReferenceBackend]:
    """A running reference backend on 127.0.0.1; stopped (every thread joined) afterwards.

    The voice is loaded before the server starts (once per process), so a test's first
    speech request does not wait for Piper to load.
    """
    synthesize("Ready.")
    backend = ReferenceBackend().start()
    try:
        yield backend
    finally:
        backend.stop()
    left = [t.name for t in threading.enumerate() if t.name.startswith("reference-backend")]
    assert not left, f"reference backend threads still running: {left}"


@pytest.fixture
def sentry_transport() -> Iterator[RecordingTransport]:
    """Telemetry initialised with the real sentry-sdk and a recording transport."""
    transport = RecordingTransport()
    assert telemetry.init_telemetry(
        dsn=TEST_DSN, enabled=True, environment="test", transport=transport
    )
    try:
        yield transport
    finally:
        telemetry.shutdown()
