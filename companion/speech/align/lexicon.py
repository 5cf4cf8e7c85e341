# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: RUF001 - typographic quotes and dashes are this file's data
"""The words of a text as PocketSphinx aligns them: each with its ARPAbet pronunciations.

A word of the prepared text (split at spaces, outer punctuation stripped, hyphenated words
split) is looked up in the CMU pronouncing dictionary that ships with PocketSphinx, all its
variants (``the``, ``the(2)``); the aligner chooses among them on the audio. A word the
dictionary lacks (a name, a brand, a number, "3B", "$5") is pronounced the way espeak-ng
reads it, its IPA mapped to ARPAbet (:mod:`.arpabet`): never spelled letter by letter.

The dictionary (135,000 words, 3.3 MB) is not loaded: :class:`CmuDict` maps the file and
binary-searches it (it is sorted by word), so a lookup reads a few pages and the aligner
adds only the words of the utterance to the decoder.
"""

from __future__ import annotations

import mmap
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from companion.speech.align.arpabet import PHONES, ipa_to_arpabet

#: A dictionary-shaped word: letters with inner apostrophes ("it's", "o'neill").
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_EDGE = "\"'()[]{}<>.,;:!?…“”‘’«»*_-–—/\\"


@dataclass(frozen=True, slots=True)
class Token:
    """One word to align.

    Attributes:
        text: the word as written (after outer punctuation is stripped).
        prons: its pronunciations, ARPAbet phones each, the first the most common.
        in_dictionary: found in the CMU dictionary (else espeak-ng's reading).
    """

    text: str
    prons: tuple[tuple[str, ...], ...]
    in_dictionary: bool


class CmuDict:
    """The CMU dictionary file, read by binary search (thread-safe, opened lazily)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._map: mmap.mmap | None = None

    def _data(self) -> mmap.mmap:
        with self._lock:
            if self._map is None:
                with self.path.open("rb") as fh:
                    self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            return self._map

    def _line_at(self, data: mmap.mmap, pos: int) -> tuple[int, int]:
        """Start and end of the line holding byte ``pos``."""
        start = data.rfind(b"\n", 0, pos) + 1
        end = data.find(b"\n", pos)
        return start, len(data) if end < 0 else end

    def lookup(self, word: str) -> list[tuple[str, ...]]:
        """Every pronunciation of ``word`` (lower case), in the file's order; [] if none."""
        key = word.encode("ascii", "ignore")
        if not key or key != word.encode("utf-8"):
            return []
        data = self._data()
        lo, hi = 0, len(data)
        while lo < hi:  # first line whose word (variant suffix removed) is >= key
            mid = (lo + hi) // 2
            start, end = self._line_at(data, mid)
            head = data[start:end].split(b" ", 1)[0].split(b"(", 1)[0]
            if head < key:
                lo = end + 1
            else:
                hi = start
        out: list[tuple[str, ...]] = []
        pos = lo
        while pos < len(data):
            start, end = self._line_at(data, pos)
            entry, _, phones = data[start:end].decode("ascii", "replace").partition(" ")
            if entry.split("(", 1)[0] != word:
                break
            pron = tuple(p for p in phones.split() if p in PHONES)
            if pron:
                out.append(pron)
            pos = end + 1
        return out


def _parts(chunk: str) -> list[str]:
    """A whitespace-separated chunk → the words to look up (hyphenated words split)."""
    stripped = chunk.strip(_EDGE)
    if not stripped:
        return []
    pieces = [p.strip(_EDGE) for p in re.split(r"(?<=[A-Za-z])[-–—/](?=[A-Za-z])", stripped)]
    return [p for p in pieces if p]


def tokens(
    text: str, lexicon: CmuDict, phonemize: Callable[[str], list[str]]
) -> list[Token]:
    """The words of ``text`` with their pronunciations (module docstring).

    ``phonemize`` is espeak-ng's reading of a piece of text (IPA phonemes); a word it reads
    as nothing (a lone symbol) is left out.
    """
    out: list[Token] = []
    for chunk in text.split():
        for part in _parts(chunk):
            lower = part.lower().replace("’", "'")
            prons = lexicon.lookup(lower) if _WORD.fullmatch(lower) else []
            if prons:
                out.append(Token(part, tuple(prons), True))
                continue
            phones = tuple(ipa_to_arpabet(phonemize(part)))
            if phones:
                out.append(Token(part, (phones,), False))
    return out
