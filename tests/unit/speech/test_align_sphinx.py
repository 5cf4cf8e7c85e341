# SPDX-License-Identifier: GPL-3.0-or-later

"""PocketSphinx forced alignment on real speech (Piper), and how its phones are named."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from companion.speech.align.acoustic import identities, looks_english
from companion.speech.align.features import at_16k
from companion.speech.align.lexicon import tokens
from companion.speech.align.sphinx import MODEL_FILES, AlignmentFailed, Phone, SphinxAligner
from companion.speech.espeak_engine import EspeakEngine
from companion.speech.types import FloatArray


@pytest.fixture(scope="module")
def aligner() -> SphinxAligner:
    return SphinxAligner()


@pytest.fixture(scope="module")
def engine() -> EspeakEngine:
    return EspeakEngine(sample_rate=22050)


def _speech(engine: EspeakEngine, text: str) -> FloatArray:
    samples, rate, _events = engine.phonemes_with_times(text, voice="en-us+f2")
    pad = np.zeros(rate // 4, dtype=np.float32)
    return np.asarray(at_16k(np.concatenate([pad, samples, pad]), rate), dtype=np.float32)


def test_the_model_files_alignment_needs_are_there(aligner: SphinxAligner) -> None:
    assert len(MODEL_FILES) == 7
    assert aligner.lexicon.lookup("moon")


def test_phones_cover_the_audio_in_order_with_every_word(
    aligner: SphinxAligner, engine: EspeakEngine
) -> None:
    text = "Bob met Siobhan at 9:30 by the blue moon."
    x = _speech(engine, text)
    words = tokens(text, aligner.lexicon, engine.phonemize)
    phones = aligner.align(words, np.asarray(x, dtype=np.float64))
    assert phones[0].start_ms == 0.0
    assert phones[-1].end_ms == pytest.approx(10.0 * round(len(x) / 160), abs=20.0)
    for a, b in itertools.pairwise(phones):
        assert a.end_ms == b.start_ms
    assert sorted({p.word for p in phones if p.word >= 0}) == list(range(len(words)))
    assert phones[0].phone == "SIL" and phones[-1].phone == "SIL"  # the padding
    first_b = next(p for p in phones if p.phone == "B")
    assert 200.0 <= first_b.start_ms <= 330.0  # "Bob" starts after 250 ms of silence


def test_the_same_aligner_serves_many_utterances(
    aligner: SphinxAligner, engine: EspeakEngine
) -> None:
    for text in ("One.", "Two more words.", "One."):
        words = tokens(text, aligner.lexicon, engine.phonemize)
        assert aligner.align(words, np.asarray(_speech(engine, text), dtype=np.float64))


def test_no_words_or_no_audio_is_a_typed_failure(aligner: SphinxAligner) -> None:
    with pytest.raises(AlignmentFailed):
        aligner.align([], np.zeros(16000))
    words = tokens("a rather long sentence for no audio at all", aligner.lexicon, lambda t: [])
    with pytest.raises(AlignmentFailed):
        aligner.align(words, np.zeros(800))


def test_identities_take_espeaks_vowels_for_matched_phones() -> None:
    phones = [
        Phone("SIL", -1, 0, 100), Phone("DH", 0, 100, 140), Phone("AH", 0, 140, 180),
        Phone("K", 1, 180, 240), Phone("AH", 1, 240, 320), Phone("P", 1, 320, 380),
    ]  # fmt: skip
    # espeak-ng: "the cup" → ð ə k ˈʌ p: the first AH is a schwa, the second the open ʌ.
    assert identities(phones, ["ð", "ə", "k", "ˈʌ", "p"]) == ["_", "ð", "ə", "k", "ˈʌ", "p"]
    # Nothing to match: AH is read as a schwa.
    assert identities(phones, [])[2] == "ə"


def test_a_text_mostly_outside_the_dictionary_is_not_english(
    aligner: SphinxAligner, engine: EspeakEngine
) -> None:
    english = "Please pass me the paper before the meeting."
    german = "Könnten Sie mir bitte das Papier geben, bevor die Sitzung beginnt?"
    assert looks_english(tokens(english, aligner.lexicon, engine.phonemize), english)
    assert not looks_english(tokens(german, aligner.lexicon, engine.phonemize), german)
    assert looks_english([], "42")
