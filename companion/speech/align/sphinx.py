# SPDX-License-Identifier: GPL-3.0-or-later
"""PocketSphinx forced alignment: the words of the text against the audio, phone by phone.

The en-us acoustic model and the CMU dictionary ship with the ``pocketsphinx`` wheel (and in
the bundle, under ``pocketsphinx/model/en-us``); no language model is loaded (alignment does
not use one). Two passes, as PocketSphinx prescribes: ``set_align_text`` finds the words and
the pauses between them (a silence may follow any word), then ``set_alignment`` re-decodes
at phone and state level inside those word spans. Frames are 10 ms.

One decoder per process, made on first use (about 20 ms and 6 MB: the acoustic model with a
one-word dictionary) and reused under a lock (a decoder is not thread-safe). The words of
each utterance are added to its dictionary under stable names; after
:data:`_MAX_ADDED_WORDS` the decoder is made anew, so a long session does not grow it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from companion.speech.align.features import F64
from companion.speech.align.lexicon import CmuDict, Token

log = logging.getLogger("companion.speech")

FRAME_MS = 10.0
#: The acoustic model's files (what the bundle ships; the language models stay out).
MODEL_FILES = ("feat.params", "mdef", "means", "noisedict", "sendump", "transition_matrices",
               "variances")  # fmt: skip
DICTIONARY = "cmudict-en-us.dict"
_MAX_ADDED_WORDS = 20000
SILENCE = "SIL"


class SphinxUnavailable(RuntimeError):
    """pocketsphinx or its en-us model cannot be loaded (a one-line reason)."""


class AlignmentFailed(RuntimeError):
    """PocketSphinx could not align these words to this audio."""


@dataclass(frozen=True, slots=True)
class Phone:
    """One aligned phone: ARPAbet (``SIL`` for silence), word index, and its frames."""

    phone: str
    word: int  # index into the tokens, -1 for silence and fillers
    start_ms: float
    end_ms: float


def model_dir() -> Path:
    """The folder holding ``en-us/`` (the acoustic model) and the CMU dictionary."""
    candidates: list[Path] = []
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        candidates.append(Path(frozen_root) / "pocketsphinx" / "model" / "en-us")
    try:
        import pocketsphinx
    except ImportError as exc:
        raise SphinxUnavailable("the pocketsphinx package is not installed") from exc
    candidates.append(Path(pocketsphinx.__file__).resolve().parent / "model" / "en-us")
    for folder in candidates:
        if all((folder / "en-us" / name).is_file() for name in MODEL_FILES) and (
            folder / DICTIONARY
        ).is_file():
            return folder
    raise SphinxUnavailable("the PocketSphinx en-us model is missing")


def _word_name(pron: Sequence[str]) -> str:
    """A dictionary name for a pronunciation: the same phones always get the same name."""
    return "w" + hashlib.blake2s(" ".join(pron).encode("ascii"), digest_size=8).hexdigest()


class SphinxAligner:
    """The process's PocketSphinx decoder, used under a lock (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._decoder: Any = None
        self._known: set[str] = set()
        folder = model_dir()
        self.lexicon = CmuDict(folder / DICTIONARY)
        self._hmm = folder / "en-us"

    def _new_decoder(self) -> Any:
        from pocketsphinx import Decoder

        # The decoder wants a dictionary file at start; one word, written and removed.
        fd, seed = tempfile.mkstemp(prefix="companion-align-", suffix=".dict")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write("a AH\n")
            decoder = Decoder(hmm=str(self._hmm), dict=seed, lm=None, loglevel="FATAL",
                              topn=2)  # fmt: skip
        except RuntimeError as exc:
            raise SphinxUnavailable("PocketSphinx could not load its en-us model") from exc
        finally:
            os.unlink(seed)
        self._known = set()
        return decoder

    def _names(self, decoder: Any, words: Sequence[Token]) -> list[str]:
        """Dictionary names for ``words``, adding their pronunciations as needed."""
        names: list[str] = []
        for token in words:
            base = _word_name(token.prons[0])
            for k, pron in enumerate(token.prons):
                name = base if k == 0 else f"{base}({k + 1})"
                if name not in self._known:
                    decoder.add_word(name, " ".join(pron), update=False)
                    self._known.add(name)
            names.append(base)
        decoder.add_word("a", "AH", update=True)  # applies the additions
        return names

    def align(self, words: Sequence[Token], samples: F64) -> list[Phone]:
        """Phones of ``words`` in ``samples`` (16 kHz); raises :class:`AlignmentFailed`."""
        if not words:
            raise AlignmentFailed("no words")
        pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        with self._lock:
            if self._decoder is None or len(self._known) > _MAX_ADDED_WORDS:
                self._decoder = self._new_decoder()
            decoder = self._decoder
            try:
                names = self._names(decoder, words)
                decoder.set_align_text(" ".join(names))
                decoder.start_utt()
                decoder.process_raw(pcm, full_utt=True)
                decoder.end_utt()
                if decoder.hyp() is None:
                    raise AlignmentFailed("no word alignment")
                decoder.set_alignment()
                decoder.start_utt()
                decoder.process_raw(pcm, full_utt=True)
                decoder.end_utt()
                alignment = decoder.get_alignment()
                entries = [
                    (w.name, [(p.name, int(p.start), int(p.duration)) for p in w])
                    for w in alignment
                ]
            except RuntimeError as exc:
                raise AlignmentFailed("PocketSphinx alignment failed") from exc
        return _phones(entries, names)


def _phones(
    entries: Sequence[tuple[str, Sequence[tuple[str, int, int]]]], names: Sequence[str]
) -> list[Phone]:
    """Aligned words (name, [(phone, start frame, frames)]) → phones with word indices, in ms.

    Fillers (``<s>``, ``<sil>``, ``</s>``, noise) are silence.
    """
    out: list[Phone] = []
    k = 0
    for name, phones in entries:
        filler = name.startswith(("<", "[")) or name.split("(", 1)[0] not in names[k : k + 1]
        word = -1 if filler else k
        if not filler:
            k += 1
        for phone, start, frames in phones:
            silent = filler or phone == SILENCE or phone.startswith("+")
            out.append(Phone(SILENCE if silent else phone, -1 if silent else word,
                             start * FRAME_MS, (start + frames) * FRAME_MS))  # fmt: skip
    if k != len(names):
        raise AlignmentFailed("the alignment lost words")
    return out
