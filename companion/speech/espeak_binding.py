# SPDX-License-Identifier: GPL-3.0-or-later
"""libespeak-ng through ctypes: the process-wide library, its callback and its lock.

libespeak-ng comes from ``espeakng-loader``. It is used synchronously
(``AUDIO_OUTPUT_SYNCHRONOUS``): ``espeak_Synth`` calls our callback on the calling thread
with 16-bit samples and events, among them one ``espeakEVENT_PHONEME`` per phoneme with
its IPA spelling (``espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_PHONEME_IPA``).

The library keeps all its state in globals and is not thread-safe: every call goes
through :data:`LOCK`, and the library is (re)initialised only when the data folder
changes. :mod:`companion.speech.espeak_engine` is the engine built on it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from dataclasses import dataclass

import numpy as np

from companion.speech.types import CancelToken

log = logging.getLogger("companion.speech")

NATIVE_RATE = 22050
# espeak_AUDIO_OUTPUT / options / flags / event types (speak_lib.h).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_INIT_DONT_EXIT = 0x8000  # without it a failed initialisation calls exit()
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_PHONEME = 7
_PARAM_RATE = 1
_PHONEMES_IPA = 0x02

#: Phoneme string for pauses (espeak reports them as phoneme events with no text).
PAUSE = "_"

LOCK = threading.RLock()


class EspeakUnavailable(RuntimeError):
    """libespeak-ng or its data could not be loaded."""



class _Id(ctypes.Union):
    _fields_ = (
        ("number", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("string", ctypes.c_char * 8),
    )


class _Event(ctypes.Structure):
    _fields_ = (
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _Id),
    )


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass
class _Collector:
    """What one ``espeak_Synth`` call produced (filled by the callback)."""

    cancel: CancelToken | None
    chunks: list[np.ndarray]
    marks: list[tuple[int, str]]  # (sample index, IPA or PAUSE)
    words: list[tuple[int, int, int]]  # (sample index, 1-based character position, length)
    total: int = 0


class Library:
    """The loaded library: process-wide, used only while holding :data:`LOCK`."""

    def __init__(self, library_path: str) -> None:
        try:
            lib = ctypes.CDLL(library_path)
        except OSError as exc:
            raise EspeakUnavailable(f"cannot load libespeak-ng: {exc}") from exc
        lib.espeak_Initialize.argtypes = (
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
        )
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = (_SynthCallback,)
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = (ctypes.c_char_p,)
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int)
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = (
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        )
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = ()
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_Terminate.argtypes = ()
        lib.espeak_Terminate.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = (
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.c_int,
            ctypes.c_int,
        )
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib = lib
        self.data_path: str | None = None
        self.voice: str | None = None
        self.collector: _Collector | None = None
        self.native_rate = NATIVE_RATE
        # Kept referenced for the life of the process: the library holds the pointer.
        self._callback = _SynthCallback(self._on_synth)

    def ensure(self, data_path: str) -> None:
        """Initialise for ``data_path`` (already short enough) unless already done."""
        if self.data_path == data_path:
            return
        if self.data_path is not None:
            self.lib.espeak_Terminate()
            self.data_path = None
            self.voice = None
        options = _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT
        rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, os.fsencode(data_path), options
        )
        if rate <= 0:
            raise EspeakUnavailable("espeak-ng could not read its data folder")
        if rate != NATIVE_RATE:
            log.info("[espeak] native rate %d Hz", rate)
        self.lib.espeak_SetSynthCallback(self._callback)
        self.data_path = data_path
        self.native_rate = rate

    def set_voice(self, voice: str) -> bool:
        if self.voice == voice:
            return True
        if self.lib.espeak_SetVoiceByName(voice.encode("ascii", "ignore")) != 0:
            return False
        self.voice = voice
        return True

    def synth(self, text: str, wpm: int, cancel: CancelToken | None) -> _Collector:
        self.lib.espeak_SetParameter(_PARAM_RATE, wpm, 0)
        collector = _Collector(cancel=cancel, chunks=[], marks=[], words=[])
        self.collector = collector
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data, len(data))
        try:
            err = self.lib.espeak_Synth(
                buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            self.lib.espeak_Synchronize()
        finally:
            self.collector = None
        if err != 0 and not (cancel is not None and cancel.cancelled):
            raise EspeakUnavailable(f"espeak_Synth failed (status {err})")
        return collector

    def phonemize(self, text: str) -> list[str]:
        """The IPA phonemes of ``text`` (espeak_TextToPhonemes, one clause per call)."""
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data, len(data))
        ptr = ctypes.c_void_p(ctypes.addressof(buf))
        out: list[str] = []
        mode = _PHONEMES_IPA | (ord("|") << 8)  # IPA, "|" between the phonemes of a word
        for _ in range(len(data)):  # each call consumes at least one clause
            if not ptr.value:
                break
            raw = self.lib.espeak_TextToPhonemes(ctypes.byref(ptr), _CHARS_UTF8, mode)
            if raw is None:
                break
            for word in raw.decode("utf-8", "ignore").split():
                out.extend(p for p in word.split("|") if p)
        return out

    def _on_synth(
        self,
        wav: ctypes._Pointer[ctypes.c_short],
        count: int,
        events: ctypes._Pointer[_Event],
    ) -> int:
        collector = self.collector
        if collector is None:
            return 1
        if count > 0 and wav:
            # Not np.ctypeslib.as_array(wav, (count,)): it makes a ctypes array type per
            # distinct count, and ctypes keeps every one (17 MB after 3,000 lengths).
            data = ctypes.string_at(wav, count * ctypes.sizeof(ctypes.c_short))
            collector.chunks.append(np.frombuffer(data, dtype=np.int16).copy())
            collector.total += count
        if events:
            i = 0
            while events[i].type != _EVENT_LIST_TERMINATED:
                ev = events[i]
                if ev.type == _EVENT_PHONEME:
                    ipa = ev.id.string.decode("utf-8", "ignore")
                    collector.marks.append((int(ev.sample), ipa or PAUSE))
                elif ev.type == _EVENT_WORD:
                    collector.words.append((int(ev.sample), int(ev.text_position), int(ev.length)))
                i += 1
        if collector.cancel is not None and collector.cancel.cancelled:
            return 1  # non-zero aborts the synthesis
        return 0


_library: Library | None = None


def get_library(library_path: str | None) -> Library:
    global _library  # libespeak-ng itself is one global state per process
    if _library is None:
        if library_path is None:
            import espeakng_loader

            library_path = str(espeakng_loader.get_library_path())
        _library = Library(library_path)
    return _library
