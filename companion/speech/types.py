# SPDX-License-Identifier: GPL-3.0-or-later
"""Value types shared by the speech pipeline, the player and the mascot.

Times are milliseconds relative to the start of the audio they belong to.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

# The engines take a CancelToken: re-exported for them (defined below every package).
from companion.tasks import Cancelled as Cancelled
from companion.tasks import CancelToken as CancelToken

FloatArray = npt.NDArray[np.float32]

#: The player's rate, for every engine and every piece of audio: Piper's native rate, so the
#: embedded voice needs no resampling (other engines' audio is resampled to it).
PLAYER_RATE = 22050


@dataclass(frozen=True)
class WordTiming:
    """When a word of an utterance's text (``text[char_start:char_end]``) is spoken."""

    start_ms: float
    end_ms: float
    char_start: int
    char_end: int


@dataclass(frozen=True, slots=True)
class PhonemeEvent:
    """One phoneme (IPA, as espeak-ng / Piper write it) and when it sounds."""

    start_ms: float
    end_ms: float
    phoneme: str


@dataclass(frozen=True, slots=True)
class VisemeCue:
    """One mouth shape (an Oculus-15 code) over an interval.

    ``weight`` is how open/strong the shape is at its peak, 0..1.
    """

    start_ms: float
    end_ms: float
    viseme: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class CharAlignment:
    """A backend's character alignment: ``char`` sounds from ``start_ms`` to ``end_ms``."""

    char: str
    start_ms: float
    end_ms: float


@dataclass(slots=True)
class AudioChunk:
    """A piece of synthesised speech, ready for the player.

    Attributes:
        samples: float32 mono samples in [-1, 1] at ``sample_rate``.
        sample_rate: samples per second.
        text: the (prepared) text this chunk speaks; never logged.
        phonemes: phoneme timings from the engine (Piper alignments, espeak events), if any.
        visemes: viseme cues sent by a backend, if any.
        alignment: a backend's character alignment, if any.
    """

    samples: FloatArray
    sample_rate: int
    text: str = ""
    phonemes: list[PhonemeEvent] = field(default_factory=list)
    visemes: list[VisemeCue] | None = None
    alignment: list[CharAlignment] | None = None

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.samples) / self.sample_rate


@dataclass(frozen=True, slots=True)
class SpeechRequest:
    """What to say and how. ``text`` is the raw reply (prepared by the engine's caller)."""

    text: str
    voice: str | None = None
    speed: float = 1.0


class SpeechEngine(Protocol):
    """Text in, audio chunks out, each yielded as soon as it is ready."""

    name: str

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        """Speak ``text`` (already prepared and chunked by the caller)."""
        ...


class PlaybackClock(Protocol):
    """The player's clock: milliseconds of the current utterance actually heard."""

    def position_ms(self) -> float: ...
