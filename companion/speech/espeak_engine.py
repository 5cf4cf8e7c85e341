# SPDX-License-Identifier: GPL-3.0-or-later
"""espeak-ng through ctypes: the last-resort voice and the aligner's phoneme clock.

The ctypes binding lives in :mod:`companion.speech.espeak_binding`; this module is the
engine on top of it (voices, rates, the short data-path alias, phoneme events) and the
phonemizer the aligner asks for pronunciations (:meth:`EspeakEngine.phonemize`). Every call
into the library holds :data:`LOCK` (the library is one global state per process).
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from companion import paths
from companion.speech.espeak_binding import LOCK as _LOCK
from companion.speech.espeak_binding import NATIVE_RATE as NATIVE_RATE
from companion.speech.espeak_binding import PAUSE as PAUSE
from companion.speech.espeak_binding import EspeakUnavailable as EspeakUnavailable
from companion.speech.espeak_binding import Library, get_library
from companion.speech.types import AudioChunk, CancelToken, FloatArray, PhonemeEvent

log = logging.getLogger("companion.speech")

DEFAULT_VOICE = "en-us"
#: espeak-ng's words per minute at speed 1.0, and the range it accepts.
DEFAULT_WPM = 175
_MIN_WPM, _MAX_WPM = 80, 450

#: espeak-ng copies its data path into a fixed buffer (N_PATH_HOME, 160 bytes on Linux)
#: and appends file names to it; a longer path silently falls back to a compiled-in one.
#: Paths longer than this get a short alias (see :func:`short_data_path`).
MAX_DATA_PATH = 120


@dataclass(frozen=True, slots=True)
class SpokenWord:
    """One word as espeak-ng read it.

    Attributes:
        char_start: index of its first character in the text.
        char_end: index just past its last character.
        phonemes: its phonemes (no pauses), timed in espeak-ng's own audio.
    """

    char_start: int
    char_end: int
    phonemes: tuple[PhonemeEvent, ...]



def default_data_path() -> Path:
    """The ``espeak-ng-data`` folder shipped with espeakng-loader."""
    import espeakng_loader

    return Path(espeakng_loader.get_data_path())


def _alias_ok(alias: Path, target: Path) -> bool:
    """True when ``alias`` is our symlink to ``target`` or our copy of it."""
    try:
        st = alias.lstat()
    except OSError:
        return False
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return False
    if alias.is_symlink():
        return os.readlink(alias) == str(target)
    marker = alias / ".companion-source"
    try:
        return marker.read_text(encoding="utf-8") == str(target)
    except OSError:
        return False


def _make_alias(alias: Path, target: Path) -> bool:
    """Create ``alias`` → ``target`` atomically (a symlink, else a copy)."""
    tmp = alias.with_name(f".{alias.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        alias.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.symlink(target, tmp, target_is_directory=True)
        except OSError:
            # No symlinks (Windows without the privilege): a one-off copy.
            shutil.copytree(target, tmp)
            (tmp / ".companion-source").write_text(str(target), encoding="utf-8")
        try:
            os.replace(tmp, alias)
        except OSError:
            if not _alias_ok(alias, target):
                raise
    except OSError as exc:
        log.info("[espeak] cannot alias the data folder at a short path: %s", type(exc).__name__)
        return False
    finally:
        if tmp.is_symlink() or tmp.is_file():
            tmp.unlink(missing_ok=True)
        elif tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
    return _alias_ok(alias, target)


def short_data_path(data_dir: Path) -> Path:
    """``data_dir``, or an alias of it at a path espeak-ng can hold.

    espeak-ng fails on data paths longer than about 150 bytes (fixed-size buffers).
    The alias is made once and reused: a symlink (or a copy where symlinks are not
    allowed) in the cache dir, or the temp dir when the cache dir is itself too deep.
    """
    if len(os.fsencode(data_dir)) <= MAX_DATA_PATH:
        return data_dir
    target = data_dir.resolve()
    if len(os.fsencode(target)) <= MAX_DATA_PATH:
        return target
    digest = hashlib.sha256(os.fsencode(target)).hexdigest()[:16]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    candidates = (
        paths.cache_dir() / f"espeak-{digest}",
        Path(tempfile.gettempdir()) / f"companion-{uid}-espeak-{digest}",
    )
    for alias in candidates:
        if len(os.fsencode(alias)) > MAX_DATA_PATH:
            continue
        if _alias_ok(alias, target) or _make_alias(alias, target):
            return alias
    raise EspeakUnavailable("espeak-ng data path too long and no short alias could be made")


def _rate_wpm(speed: float) -> int:
    return round(min(_MAX_WPM, max(_MIN_WPM, DEFAULT_WPM * speed)))


class EspeakEngine:
    """espeak-ng speech with phoneme events (IPA).

    Attributes:
        name: ``"espeak-ng"``.
        sample_rate: rate of the chunks yielded (resampled from :attr:`native_rate`).
        native_rate: espeak-ng's own rate (22050 Hz).
        voice: the default espeak-ng voice (``en-us``); a request's voice is used when
            espeak-ng knows it, else this one.
    """

    name = "espeak-ng"

    def __init__(
        self,
        *,
        sample_rate: int,
        voice: str = DEFAULT_VOICE,
        data_dir: str | os.PathLike[str] | None = None,
        library_path: str | None = None,
    ) -> None:
        self.sample_rate = sample_rate
        self.voice = voice
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._library_path = library_path
        self._short_path: str | None = None
        self.native_rate = NATIVE_RATE

    def _ready(self) -> Library:
        """The library, initialised for this engine's data folder (call under _LOCK)."""
        if self._short_path is None:
            data = self._data_dir if self._data_dir is not None else default_data_path()
            if not (data / "phontab").is_file():
                raise EspeakUnavailable("espeak-ng data folder is missing or incomplete")
            self._short_path = str(short_data_path(data))
        lib = get_library(self._library_path)
        lib.ensure(self._short_path)
        self.native_rate = lib.native_rate
        return lib

    def _set_voice(self, lib: Library, voice: str | None) -> None:
        """``voice``, else this engine's, else en-us (call under _LOCK)."""
        wanted = voice or self.voice
        if not lib.set_voice(wanted):
            if wanted != self.voice:
                log.info("[espeak] unknown voice, using the default")
            if not lib.set_voice(self.voice) and not lib.set_voice(DEFAULT_VOICE):
                raise EspeakUnavailable("espeak-ng has no usable voice")

    def _run(
        self, text: str, *, voice: str | None, speed: float, cancel: CancelToken | None
    ) -> tuple[FloatArray, list[PhonemeEvent], list[SpokenWord]]:
        """Synthesise ``text``: native-rate float32 samples, phoneme events and words."""
        with _LOCK:
            lib = self._ready()
            self._set_voice(lib, voice)
            collected = lib.synth(text, _rate_wpm(speed), cancel)
            rate = lib.native_rate
            spelled = lib.phonemize(text)
        if cancel is not None:
            cancel.raise_if_cancelled()
        pcm = np.concatenate(collected.chunks) if collected.chunks else np.zeros(0, np.int16)
        samples = (pcm.astype(np.float32) / 32768.0).astype(np.float32)
        events = _restore_missing(_events_from_marks(collected.marks, len(samples), rate), spelled)
        words = _words_from_marks(collected.words, events, rate, len(text))
        return samples, events, words

    def phonemes_with_times(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> tuple[FloatArray, int, list[PhonemeEvent]]:
        """``text`` spoken by espeak-ng at its native rate, with IPA phoneme timings.

        Returns ``(samples, native_rate, events)``; pauses are events spelled ``"_"``.
        """
        samples, events, _ = self._run(text, voice=voice, speed=speed, cancel=None)
        return samples, self.native_rate, events

    def phonemize(self, text: str, *, voice: str | None = None) -> list[str]:
        """The IPA phonemes of ``text`` as espeak-ng would speak them (no audio, no times).

        Stress marks stay on the phonemes they precede; word breaks are not kept.
        """
        with _LOCK:
            lib = self._ready()
            self._set_voice(lib, voice)
            return lib.phonemize(text)

    def spoken_words(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> list[SpokenWord]:
        """The words of ``text`` as espeak-ng reads them: character spans and phonemes."""
        _, _, words = self._run(text, voice=voice, speed=speed, cancel=None)
        return words

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        """One chunk for ``text`` (the caller has already split it into sentences)."""
        cancel.raise_if_cancelled()
        if not text.strip():
            return
        samples, events, _ = self._run(text, voice=voice, speed=speed, cancel=cancel)
        if self.sample_rate != self.native_rate and len(samples):
            import soxr

            samples = np.asarray(
                soxr.resample(samples, self.native_rate, self.sample_rate, quality="HQ"),
                dtype=np.float32,
            )
        yield AudioChunk(
            samples=samples,
            sample_rate=self.sample_rate,
            text=text,
            phonemes=events,
        )


def _events_from_marks(marks: list[tuple[int, str]], total: int, rate: int) -> list[PhonemeEvent]:
    """Phoneme start marks → events that end where the next one starts.

    Time before the first mark is a pause; consecutive pauses are joined.
    """
    ordered = sorted(marks, key=lambda m: m[0])
    if not ordered or ordered[0][0] > 0:
        ordered.insert(0, (0, PAUSE))
    out: list[PhonemeEvent] = []
    for i, (sample, ipa) in enumerate(ordered):
        end = ordered[i + 1][0] if i + 1 < len(ordered) else total
        start = min(max(sample, 0), total)
        end = min(max(end, start), total)
        if end <= start:
            continue
        start_ms, end_ms = 1000.0 * start / rate, 1000.0 * end / rate
        if ipa == PAUSE and out and out[-1].phoneme == PAUSE:
            out[-1] = PhonemeEvent(out[-1].start_ms, end_ms, PAUSE)
            continue
        out.append(PhonemeEvent(start_ms, end_ms, ipa))
    return out


def _words_from_marks(
    words: list[tuple[int, int, int]], events: list[PhonemeEvent], rate: int, n_chars: int
) -> list[SpokenWord]:
    """Word marks (sample, 1-based position, length) → words with their phonemes.

    A phoneme belongs to the last word that started at or before it.
    """
    ordered = sorted(words)
    out: list[SpokenWord] = []
    for i, (sample, position, length) in enumerate(ordered):
        start_ms = 1000.0 * sample / rate
        end_ms = 1000.0 * ordered[i + 1][0] / rate if i + 1 < len(ordered) else float("inf")
        phonemes = tuple(
            ev
            for ev in events
            if ev.phoneme != PAUSE and start_ms - 1e-6 <= ev.start_ms < end_ms - 1e-6
        )
        char_start = min(max(position - 1, 0), n_chars)
        char_end = min(max(char_start + length, char_start), n_chars)
        out.append(SpokenWord(char_start, char_end, phonemes))
    return out


def _bare(phoneme: str) -> str:
    return phoneme.replace("\u02c8", "").replace("\u02cc", "")  # stress marks


def _restore_missing(events: list[PhonemeEvent], spelled: list[str]) -> list[PhonemeEvent]:
    """Put back phonemes espeak-ng speaks but reports no event for.

    WORKAROUND: espeak-ng sends no phoneme event for a liquid it merges into the vowel
    before it ("sells", "well" lose their /l/), though espeak_TextToPhonemes lists it and
    the audio has it. Such phonemes share the time of the event before them, evenly.
    """
    spoken = [i for i, ev in enumerate(events) if ev.phoneme != PAUSE]
    have = [_bare(events[i].phoneme) for i in spoken]
    want = [_bare(p) for p in spelled]
    if not have or have == want:
        return events
    before: dict[int, list[str]] = {}  # index in events → phonemes to add before it
    after: dict[int, list[str]] = {}  # … and after it
    matcher = difflib.SequenceMatcher(None, have, want, autojunk=False)
    for tag, i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag != "insert":
            continue
        if i1 > 0:
            after.setdefault(spoken[i1 - 1], []).extend(spelled[j1:j2])
        else:
            before.setdefault(spoken[0], []).extend(spelled[j1:j2])
    if not before and not after:
        return events
    out: list[PhonemeEvent] = []
    for i, ev in enumerate(events):
        names = [*before.get(i, []), ev.phoneme, *after.get(i, [])]
        step = (ev.end_ms - ev.start_ms) / len(names)
        for k, name in enumerate(names):
            out.append(PhonemeEvent(ev.start_ms + k * step, ev.start_ms + (k + 1) * step, name))
    return out
