# SPDX-License-Identifier: GPL-3.0-or-later
"""What ``companion speak`` reads and writes: the text (argument or standard input, one
limit), the spoken reply, and the files it writes atomically (``--output``, ``--visemes``)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from companion.speech.types import FloatArray
from companion.speech.visemes import VisemeTimeline
from companion.textinput import MAX_TEXT_CHARS, TextInputError, check_length, read_stream
from companion.vocab import ExitCode

if TYPE_CHECKING:
    from companion.speech.pipeline import Utterance

MAX_INPUT_CHARS = MAX_TEXT_CHARS


class SpeakError(Exception):
    """An expected failure: its message is the one line shown to the user."""

    def __init__(self, message: str, code: int = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.code = code


# -- input ---------------------------------------------------------------------------------


def read_text(arg: str, stdin: Any = None) -> str:
    """The text to speak: ``arg`` itself, or standard input for ``-``."""
    source = "standard input" if arg == "-" else "the text"
    try:
        if arg == "-":
            text = read_stream(stdin if stdin is not None else sys.stdin.buffer)
        else:
            text = check_length(arg)
    except TextInputError as exc:
        raise SpeakError(str(exc)) from None
    if not text.strip():
        raise SpeakError(f"nothing to speak: {source} is empty")
    return text


# -- results ---------------------------------------------------------------------------------


@dataclass
class SpokenReply:
    """What was spoken: pieces, the whole timeline, and (for --output) the audio."""

    sample_rate: int
    keep_audio: bool
    pieces: int = 0
    frames: int = 0
    timeline: VisemeTimeline = field(default_factory=lambda: VisemeTimeline([]))
    audio: list[FloatArray] = field(default_factory=list)
    first_audio_at: float | None = None

    def add(self, utterance: Utterance) -> None:
        offset_ms = 1000.0 * self.frames / self.sample_rate
        self.timeline = self.timeline.extended(utterance.timeline, offset_ms)
        self.frames += len(utterance.samples)
        self.pieces += 1
        if self.keep_audio:
            self.audio.append(utterance.samples)

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    path = path.expanduser()
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


#: What ``--output`` writes, by the file's extension: (libsndfile format, subtype).
OUTPUT_FORMATS: dict[str, tuple[str, str]] = {
    ".wav": ("WAV", "PCM_16"),
    ".flac": ("FLAC", "PCM_16"),
    ".ogg": ("OGG", "VORBIS"),
    ".oga": ("OGG", "VORBIS"),
}


def output_format(path: Path) -> tuple[str, str]:
    """The format ``path``'s extension names; :class:`SpeakError` (before anything is
    synthesised) for one Companion does not write."""
    suffix = path.suffix.lower()
    found = OUTPUT_FORMATS.get(suffix)
    if found is None:
        named = f"“{suffix}” files" if suffix else "a file without an extension"
        raise SpeakError(
            f"cannot write {path}: Companion does not write {named}; "
            "name a .wav, .flac or .ogg file"
        )
    return found


def check_target(path: Path, what: str) -> None:
    """A file can be written at ``path`` (its folder exists): else one line naming it."""
    folder = path.expanduser().parent
    if path.expanduser().is_dir():
        raise SpeakError(f"cannot write the {what} {path}: it is a folder")
    if not folder.is_dir():
        raise SpeakError(f"cannot write the {what} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise SpeakError(f"cannot write the {what} {path}: the folder {folder} is not writable")


def write_wav(path: Path, reply: SpokenReply) -> None:
    """The reply's audio in the format ``path``'s extension names (WAV, FLAC, Ogg Vorbis)."""
    import soundfile

    audio = np.concatenate(reply.audio) if reply.audio else np.zeros(0, np.float32)
    fmt, subtype = output_format(path)

    def write(tmp: Path) -> None:
        soundfile.write(str(tmp), audio, reply.sample_rate, format=fmt, subtype=subtype)

    _write_atomically(path, write)


def write_visemes(path: Path, reply: SpokenReply) -> None:
    def write(tmp: Path) -> None:
        tmp.write_text(json.dumps(reply.timeline.to_json(), indent=1) + "\n", encoding="utf-8")

    _write_atomically(path, write)


