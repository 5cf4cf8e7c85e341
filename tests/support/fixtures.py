# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest fixtures around the reference backend (registered from ``tests/conftest.py``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.support.reference_backend import ReferenceBackend


@pytest.fixture
def reference_backend() -> Iterator[ReferenceBackend]:
    """A running reference backend on 127.0.0.1; stopped (every thread joined) afterwards."""
    backend = ReferenceBackend().start()
    try:
        yield backend
    finally:
        backend.stop()
    left = [t.name for t in threading.enumerate() if t.name.startswith("reference-backend")]
    assert not left, f"reference backend threads still running: {left}"
