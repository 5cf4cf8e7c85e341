# SPDX-License-Identifier: GPL-3.0-or-later
"""PocketSphinx forced alignment: the words of the text against the audio, phone by phone.

The en-us acoustic model and the CMU dictionary ship with the ``pocketsphinx`` wheel (and in
the bundle, under ``pocketsphinx/model/en-us``); no language model is loaded (alignment does
not use one). Two passes, as PocketSphinx prescribes: ``set_align_text`` finds the words and
the pauses between them (a silence may follow any word), then ``set_alignment`` re-decodes
at phone and state level inside those word spans. Frames are 10 ms.

One decoder per process, made on first use (about 20 ms and 6 MB: the acoustic model with a
one-word dictionary) and reused under a lock (a decoder is not thread-safe); a second one,
with no silences between words, only when the first finds no path. The words of each
utterance are added to the dictionary under stable names (one per pronunciation); after
:data:`_MAX_ADDED_WORDS` a decoder is made anew, so a long session does not grow it.
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
#: Audio fed to the decoder per call: 100 ms of 16-bit samples at 16 kHz (about 5 ms of CPU).
_BLOCK_BYTES = 3200


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


class _Decoder:
    """One PocketSphinx decoder and the words added to its dictionary."""

    def __init__(self, hmm: Path, *, fillers: bool, topn: int) -> None:
        from pocketsphinx import Decoder

        # The decoder wants a dictionary file at start; one word, written and removed.
        fd, seed = tempfile.mkstemp(prefix="companion-align-", suffix=".dict")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write("a AH\n")
            # bestpath=False: its lattice rescoring can leave a phone fewer frames than its
            # HMM has states, and the phone-level pass then fails ("impossible duration").
            # Wide beams: with the default ones the word pass found no path for half the
            # texts of a slow British espeak-ng voice.
            self.decoder: Any = Decoder(
                hmm=str(hmm), dict=seed, lm=None, loglevel="FATAL", bestpath=False,
                beam=1e-150, pbeam=1e-150, wbeam=1e-120, fsgusefiller=fillers, topn=topn,
            )  # fmt: skip
        except RuntimeError as exc:
            raise SphinxUnavailable("PocketSphinx could not load its en-us model") from exc
        finally:
            os.unlink(seed)
        self.known: set[str] = {"a"}

    def names(self, words: Sequence[Token]) -> list[str]:
        """Dictionary names for ``words``, adding their pronunciations as needed."""
        names: list[str] = []
        new: dict[str, str] = {}
        for token in words:
            base = _word_name(token.prons[0])
            for k, pron in enumerate(token.prons):
                name = base if k == 0 else f"{base}({k + 1})"
                if name not in self.known:
                    new[name] = " ".join(pron)
            names.append(base)
        for k, (name, phones) in enumerate(new.items()):
            self.decoder.add_word(name, phones, update=k == len(new) - 1)  # the last applies
            self.known.add(name)
        return names

    def _decode(self, pcm: bytes) -> None:
        """One utterance, fed in blocks: ``process_raw`` holds the GIL for its whole call
        (pocketsphinx's Cython binding never releases it), so one call for a whole reply
        would stall the GUI thread for as long as the pass takes."""
        self.decoder.start_utt()
        for k in range(0, len(pcm), _BLOCK_BYTES):
            self.decoder.process_raw(pcm[k : k + _BLOCK_BYTES])
        self.decoder.end_utt()

    def words_pass(self, names: Sequence[str], pcm: bytes) -> bool:
        """The word-level pass; False when it found no path through all the words."""
        self.decoder.set_align_text(" ".join(names))
        self._decode(pcm)
        return self.decoder.hyp() is not None

    def phones_pass(self, pcm: bytes) -> list[tuple[str, list[tuple[str, int, int]]]]:
        """The phone-level pass inside the word pass's spans."""
        self.decoder.set_alignment()
        self._decode(pcm)
        return [
            (w.name, [(p.name, int(p.start), int(p.duration)) for p in w])
            for w in self.decoder.get_alignment()
        ]


class SphinxAligner:
    """The process's PocketSphinx decoders, used under a lock (see the module docstring).

    First the fast decoder: a silence may follow any word (pauses are found), two Gaussians
    per codebook (``topn`` 2, a fifth faster than 4). When it finds no path, a careful one
    tries (made on first need): no silences between words, four Gaussians; on the
    development texts that one never failed.
    """

    #: (silences between words, Gaussians per codebook) of the decoders, in order.
    PASSES = ((True, 2), (False, 4))

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._decoders: dict[tuple[bool, int], _Decoder] = {}
        folder = model_dir()
        self.lexicon = CmuDict(folder / DICTIONARY)
        self._hmm = folder / "en-us"

    def _decoder(self, fillers: bool, topn: int) -> _Decoder:
        current = self._decoders.get((fillers, topn))
        if current is None or len(current.known) > _MAX_ADDED_WORDS:
            current = _Decoder(self._hmm, fillers=fillers, topn=topn)
            self._decoders[(fillers, topn)] = current
        return current

    def align(self, words: Sequence[Token], samples: F64) -> list[Phone]:
        """Phones of ``words`` in ``samples`` (16 kHz); raises :class:`AlignmentFailed`."""
        if not words:
            raise AlignmentFailed("no words")
        pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        with self._lock:
            for fillers, topn in self.PASSES:
                decoder = self._decoder(fillers, topn)
                try:
                    names = decoder.names(words)
                    if decoder.words_pass(names, pcm):
                        return _phones(decoder.phones_pass(pcm), names)
                except RuntimeError:
                    del self._decoders[(fillers, topn)]  # it may be mid-utterance: afresh
        raise AlignmentFailed("no alignment")


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
