# SPDX-License-Identifier: GPL-3.0-or-later
"""The espeak-ng engine the aligners share when the caller gives none."""

from __future__ import annotations

import functools

from companion.speech.espeak_engine import EspeakEngine
from companion.speech.types import PLAYER_RATE


@functools.lru_cache(maxsize=1)
def default_engine() -> EspeakEngine:
    """One engine per process (espeak-ng itself is one global state)."""
    return EspeakEngine(sample_rate=PLAYER_RATE)
