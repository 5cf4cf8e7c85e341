# SPDX-License-Identifier: GPL-3.0-or-later
"""Reply text → utterances: audio, a viseme timeline and word timings per piece.

prepare (markdown → speakable text) → chunk (sentences, first piece cut at a comma) →
``engine.synthesize`` per piece → viseme timeline → word timings. Each piece becomes one
:class:`Utterance` as soon as it is synthesised, so the first one plays while the next is
being made. When an engine yields several chunks for one piece (Piper splits at its own
sentence ends; a streamed backend body arrives in pieces) they are joined into one
utterance and their timings shifted by the audio before them.

Viseme sources, best first: cues sent by the backend; the engine's phoneme timings;
text-to-audio alignment (``companion.speech.align``, when installed); the audio envelope.
The cancel token is checked before each piece and between engine chunks. The language of
the voice that speaks (the engine's ``language_for(voice)`` or ``language``, else English)
drives text preparation, the splitter and the espeak-ng voice the aligner compares with.
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from companion.speech.chunking import MAX_CHARS, split_for_speech
from companion.speech.decode import resample
from companion.speech.language import DEFAULT, family
from companion.speech.text import prepare_for_speech
from companion.speech.types import (
    PLAYER_RATE,
    AudioChunk,
    CancelToken,
    CharAlignment,
    FloatArray,
    PhonemeEvent,
    SpeechEngine,
    VisemeCue,
    WordTiming,
)
from companion.speech.visemes import VisemeTimeline, cues_from_envelope, timeline_from_phonemes

if TYPE_CHECKING:
    from companion.speech.espeak_engine import EspeakEngine

log = logging.getLogger("companion.speech")

Aligner = Callable[[str, FloatArray, int], list[VisemeCue]]

_TEXT_WORD = re.compile(r"\S+")
_EMPTY: FloatArray = np.zeros(0, dtype=np.float32)
# Phoneme "words" are separated by pauses, spaces and punctuation.
_PHONEME_BREAKS = set(" _^$.,;:!?…-\"'()\u2013\u2014")  # and en/em dashes


@dataclass
class Utterance:
    """One piece of a reply, ready to play.

    Attributes:
        reply_id: the reply this piece belongs to.
        index: piece number in the reply, 0-based.
        text: the piece's prepared text (the subtitle); never logged.
        samples: float32 mono at ``sample_rate``.
        sample_rate: the player's rate.
        timeline: visemes relative to the start of this piece.
        words: word timings (may be empty).
        viseme_source: where the timeline came from: ``backend``, ``phonemes``,
            ``align`` or ``envelope`` (diagnostics and tests).
    """

    reply_id: int
    index: int
    text: str
    samples: FloatArray
    sample_rate: int
    timeline: VisemeTimeline
    words: list[WordTiming]
    viseme_source: str = ""

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.samples) / self.sample_rate


_aligner_cache: list[Aligner | None] = []


def load_aligner() -> Aligner | None:
    """``companion.speech.align.align_text_to_audio`` if that module is present."""
    if not _aligner_cache:
        try:
            module = importlib.import_module("companion.speech.align")
            _aligner_cache.append(cast(Aligner, module.align_text_to_audio))
        except (ImportError, AttributeError, OSError) as exc:
            log.info("[speech] text-to-audio alignment unavailable (%s)", type(exc).__name__)
            _aligner_cache.append(None)
    return _aligner_cache[0]


@functools.cache
def _espeak_for(lang: str) -> EspeakEngine:
    """An espeak-ng engine speaking ``lang`` (the aligner's reference voice)."""
    from companion.speech.espeak_engine import EspeakEngine

    return EspeakEngine(sample_rate=PLAYER_RATE, voice=lang)


def language_of(engine: SpeechEngine, voice: str | None) -> str:
    """The language family the voice ``voice`` of ``engine`` speaks (English when unknown).

    An engine says it with ``language_for(voice)`` or ``language`` (Piper's voices), or its
    default ``voice`` is a language's name (espeak-ng: ``de``, ``en-us``).
    """
    pick = getattr(engine, "language_for", None)
    lang = pick(voice) if callable(pick) else getattr(engine, "language", None)
    if not isinstance(lang, str) or not lang:
        named = getattr(engine, "voice", None)
        lang = family(named) if isinstance(named, str) else DEFAULT
    return lang


def _char_alignment_cues(
    text: str, alignment: Sequence[CharAlignment], lang: str = DEFAULT
) -> list[VisemeCue]:
    """A backend's character alignment → cues (``companion.speech.align``); [] when unusable."""
    try:
        from companion.speech.align import cues_from_char_alignment

        if lang != DEFAULT:
            return cues_from_char_alignment(text, alignment, engine=_espeak_for(lang))
        return cues_from_char_alignment(text, alignment)
    except Exception as exc:  # alignment is a nicety: fall back to the aligner / envelope
        log.warning("[speech] character alignment unusable (%s)", type(exc).__name__)
        return []


def _text_words(text: str) -> list[tuple[int, int]]:
    """Spans of the words of ``text`` that are spoken (contain a letter or digit)."""
    out = []
    for match in _TEXT_WORD.finditer(text):
        word = match.group(0)
        if not any(ch.isalnum() for ch in word):
            continue
        start, end = match.start(), match.end()
        while start < end and not text[start].isalnum():
            start += 1
        while end > start and not text[end - 1].isalnum():
            end -= 1
        out.append((start, end))
    return out


def _phoneme_words(events: Sequence[PhonemeEvent]) -> list[tuple[float, float, int]]:
    """(start_ms, end_ms, phoneme count) of each run of phonemes between breaks."""
    words: list[tuple[float, float, int]] = []
    current: list[PhonemeEvent] = []
    for ev in [*events, PhonemeEvent(0.0, 0.0, " ")]:
        if ev.phoneme and all(ch in _PHONEME_BREAKS for ch in ev.phoneme):
            if current:
                words.append((current[0].start_ms, current[-1].end_ms, len(current)))
                current = []
        else:
            current.append(ev)
    return words


def _expected_phonemes(word: str) -> float:
    """A rough phoneme count for a written word (digits are read as whole words)."""
    return sum(3.5 if ch.isdigit() else 1.0 if ch.isalpha() else 0.5 for ch in word) or 1.0


def _assign_groups(weights: Sequence[float], counts: Sequence[int]) -> list[tuple[int, int]] | None:
    """Split phoneme groups among text words in order, each word taking at least one group.

    Returns, per word, the range [first, last) of groups it takes, chosen so each word's
    share of phonemes is closest to its share of expected phonemes (dynamic programming).
    """
    n, m = len(weights), len(counts)
    if m < n:
        return None
    total_w = sum(weights)
    total_c = sum(counts)
    prefix = [0]
    for count in counts:
        prefix.append(prefix[-1] + count)
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back = [[0] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(1, n + 1):
        want = weights[i - 1] / total_w
        for j in range(i, m - (n - i) + 1):
            for k in range(i - 1, j):
                if cost[i - 1][k] == inf:
                    continue
                got = (prefix[j] - prefix[k]) / total_c
                candidate = cost[i - 1][k] + (got - want) ** 2
                if candidate < cost[i][j]:
                    cost[i][j] = candidate
                    back[i][j] = k
    out: list[tuple[int, int]] = []
    j = m
    for i in range(n, 0, -1):
        k = back[i][j]
        out.append((k, j))
        j = k
    return out[::-1]


def words_from_phonemes(text: str, events: Sequence[PhonemeEvent]) -> list[WordTiming]:
    """Word timings for ``text`` from phoneme events of the same audio.

    One phoneme word per text word when the counts agree. Otherwise ("3.14" is read as
    four words, "Dr." as one) the spoken words are shared among the text words in order,
    by expected length; with fewer spoken than written words the text is spread by length.
    """
    spans = _text_words(text)
    groups = _phoneme_words(events)
    if not spans or not groups:
        return []
    if len(spans) == len(groups):
        return [
            WordTiming(start, end, cs, ce)
            for (cs, ce), (start, end, _n) in zip(spans, groups, strict=True)
        ]
    weights = [_expected_phonemes(text[cs:ce]) for cs, ce in spans]
    assignment = _assign_groups(weights, [n for _s, _e, n in groups])
    if assignment is not None:
        return [
            WordTiming(groups[first][0], groups[last - 1][1], cs, ce)
            for (cs, ce), (first, last) in zip(spans, assignment, strict=True)
        ]
    # Fewer spoken than written words: spread the text over the speech by length.
    start_ms, end_ms = groups[0][0], groups[-1][1]
    total = sum(weights)
    out: list[WordTiming] = []
    seen = 0.0
    for (cs, ce), w in zip(spans, weights, strict=True):
        a = start_ms + (end_ms - start_ms) * seen / total
        seen += w
        out.append(WordTiming(a, start_ms + (end_ms - start_ms) * seen / total, cs, ce))
    return out


def words_from_alignment(text: str, alignment: Sequence[CharAlignment]) -> list[WordTiming]:
    """Word timings from a backend's character alignment (characters of ``text`` in order)."""
    spans = _text_words(text)
    if not spans or not alignment:
        return []
    # Match alignment characters to text characters in order, skipping what does not match.
    times: dict[int, tuple[float, float]] = {}
    pos = 0
    for item in alignment:
        found = text.find(item.char, pos) if item.char else -1
        if found < 0 or found - pos > 8:
            continue
        times[found] = (item.start_ms, item.end_ms)
        pos = found + len(item.char)
    out = []
    for cs, ce in spans:
        inside = [times[i] for i in range(cs, ce) if i in times]
        if inside:
            out.append(WordTiming(inside[0][0], inside[-1][1], cs, ce))
    return out


def _shift(events: Sequence[PhonemeEvent], offset_ms: float) -> list[PhonemeEvent]:
    return [PhonemeEvent(e.start_ms + offset_ms, e.end_ms + offset_ms, e.phoneme) for e in events]


def _shift_cues(cues: Sequence[VisemeCue], offset_ms: float) -> list[VisemeCue]:
    return [
        VisemeCue(c.start_ms + offset_ms, c.end_ms + offset_ms, c.viseme, c.weight) for c in cues
    ]


class SpeechPipeline:
    """Turns a reply into :class:`Utterance` objects with one engine.

    Attributes:
        engine: the speech engine (remote, Piper or espeak-ng).
        sample_rate: the player's rate; every utterance is at this rate.
    """

    def __init__(
        self,
        *,
        engine: SpeechEngine,
        sample_rate: int,
        aligner: Aligner | bool | None = True,
        max_chars: int = MAX_CHARS,
    ) -> None:
        self.engine = engine
        self.sample_rate = sample_rate
        self._aligner_choice = aligner
        self._max_chars = max_chars

    def _aligner(self, lang: str = DEFAULT) -> Aligner | None:
        choice = self._aligner_choice
        if choice is True:
            aligner = load_aligner()
            if aligner is None or lang == DEFAULT:
                return aligner
            return functools.partial(cast(Any, aligner), engine=_espeak_for(lang))
        if choice is False or choice is None:
            return None
        return choice

    def pieces(self, text: str, lang: str = DEFAULT) -> list[str]:
        """The prepared pieces ``text`` will be spoken in, by a voice speaking ``lang``."""
        prepared = prepare_for_speech(text, lang=lang)
        return split_for_speech(prepared, max_chars=self._max_chars, lang=lang)

    def utterances(
        self, reply_id: int, text: str, *, voice: str | None, speed: float, cancel: CancelToken
    ) -> Iterator[Utterance]:
        cancel.raise_if_cancelled()
        pieces = self.pieces(text, language_of(self.engine, voice))
        log.debug("[speech] reply %d: %d chars in %d pieces", reply_id, len(text), len(pieces))
        index = 0
        for piece in pieces:
            utterance = self.piece_utterance(
                reply_id, index, piece, voice=voice, speed=speed, cancel=cancel
            )
            if utterance is None:
                continue
            cancel.raise_if_cancelled()
            yield utterance
            index += 1

    # -- one piece ---------------------------------------------------------------------

    def piece_utterance(
        self,
        reply_id: int,
        index: int,
        piece: str,
        *,
        voice: str | None,
        speed: float,
        cancel: CancelToken,
    ) -> Utterance | None:
        """One prepared piece → its utterance (None when it makes no sound).

        Also used on its own for text that arrives in pieces (a streamed chat reply, cut
        by :class:`~companion.speech.chunking.StreamChunker`).
        """
        cancel.raise_if_cancelled()
        chunks: list[AudioChunk] = []
        for chunk in self.engine.synthesize(piece, voice=voice, speed=speed, cancel=cancel):
            cancel.raise_if_cancelled()
            chunks.append(chunk)
        return self._assemble(reply_id, index, piece, chunks, language_of(self.engine, voice))

    def _assemble(
        self, reply_id: int, index: int, piece: str, chunks: list[AudioChunk], lang: str
    ) -> Utterance | None:
        parts: list[FloatArray] = []
        offsets: list[float] = []
        total = 0
        for chunk in chunks:
            samples = np.asarray(chunk.samples, dtype=np.float32)
            if chunk.sample_rate != self.sample_rate:
                samples = resample(samples, chunk.sample_rate, self.sample_rate)
            offsets.append(1000.0 * total / self.sample_rate)
            parts.append(samples)
            total += len(samples)
        if total == 0:
            return None
        audio = np.concatenate(parts) if len(parts) > 1 else parts[0]
        timeline, source = self._timeline(piece, chunks, offsets, audio, lang)
        words = self._words(piece, chunks, offsets)
        return Utterance(
            reply_id=reply_id,
            index=index,
            text=piece,
            samples=audio,
            sample_rate=self.sample_rate,
            timeline=timeline,
            words=words,
            viseme_source=source,
        )

    def _timeline(
        self,
        piece: str,
        chunks: list[AudioChunk],
        offsets: list[float],
        audio: FloatArray,
        lang: str = DEFAULT,
    ) -> tuple[VisemeTimeline, str]:
        if all(c.visemes for c in chunks):
            cues = [
                cue
                for c, off in zip(chunks, offsets, strict=True)
                for cue in _shift_cues(c.visemes or [], off)
            ]
            return VisemeTimeline(cues), "backend"
        if all(c.phonemes for c in chunks):
            events = [
                e for c, off in zip(chunks, offsets, strict=True) for e in _shift(c.phonemes, off)
            ]
            return timeline_from_phonemes(events), "phonemes"
        if len(chunks) == 1 and chunks[0].alignment:
            cues = _char_alignment_cues(piece, chunks[0].alignment, lang)
            if cues:
                return VisemeTimeline(c for c in cues if c.viseme != "sil"), "char_alignment"
        aligner = self._aligner(lang)
        if aligner is not None:
            try:
                cues = aligner(piece, audio, self.sample_rate)
            except Exception as exc:  # alignment is a nicety: fall back to the envelope
                log.warning(
                    "[speech] alignment failed (%s); using the envelope", type(exc).__name__
                )
                cues = []
            if cues:
                return VisemeTimeline(c for c in cues if c.viseme != "sil"), "align"
        return VisemeTimeline(cues_from_envelope(audio, self.sample_rate)), "envelope"

    def _words(
        self, piece: str, chunks: list[AudioChunk], offsets: list[float]
    ) -> list[WordTiming]:
        if chunks and all(c.phonemes for c in chunks):
            events = [
                e for c, off in zip(chunks, offsets, strict=True) for e in _shift(c.phonemes, off)
            ]
            return words_from_phonemes(piece, events)
        if len(chunks) == 1 and chunks[0].alignment:
            return words_from_alignment(piece, chunks[0].alignment)
        return []
