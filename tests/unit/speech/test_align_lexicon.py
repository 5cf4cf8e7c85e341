# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: RUF001 - IPA letters are test data here
"""Pronunciations for PocketSphinx: the CMU dictionary by binary search, espeak-ng for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from companion.speech.align.arpabet import ipa_to_arpabet
from companion.speech.align.lexicon import CmuDict, tokens
from companion.speech.align.sphinx import DICTIONARY, model_dir
from companion.speech.espeak_engine import EspeakEngine


@pytest.fixture(scope="module")
def cmu() -> CmuDict:
    return CmuDict(model_dir() / DICTIONARY)


@pytest.fixture(scope="module")
def engine() -> EspeakEngine:
    return EspeakEngine(sample_rate=22050)


def test_lookup_finds_every_variant_first_middle_and_last(cmu: CmuDict) -> None:
    assert cmu.lookup("the") == [("DH", "AH"), ("DH", "IY")]
    assert cmu.lookup("hello")[0] == ("HH", "AH", "L", "OW")
    lines = cmu.path.read_text(encoding="ascii").splitlines()
    first, last = lines[0].split()[0], lines[-1].split()[0].split("(")[0]
    assert cmu.lookup(first) and cmu.lookup(last)
    assert cmu.lookup("zzzzqx") == [] and cmu.lookup("") == [] and cmu.lookup("naïve") == []


def test_a_small_dictionary_file_is_searched_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "tiny.dict"
    path.write_text("a AH\na(2) EY\nbee B IY\ncat K AE T\n", encoding="ascii")
    tiny = CmuDict(path)
    assert tiny.lookup("a") == [("AH",), ("EY",)]
    assert tiny.lookup("cat") == [("K", "AE", "T")]
    assert tiny.lookup("b") == [] and tiny.lookup("dog") == []


def test_words_outside_the_dictionary_are_read_by_espeak_not_spelled(
    cmu: CmuDict, engine: EspeakEngine
) -> None:
    words = tokens("Dr. Okafor paid $42, Wi-Fi too!", cmu, engine.phonemize)
    by_text = {w.text: w for w in words}
    assert [w.text for w in words] == ["Dr", "Okafor", "paid", "$42", "Wi", "Fi", "too"]
    assert by_text["paid"].in_dictionary
    okafor = by_text["Okafor"]
    assert not okafor.in_dictionary
    assert okafor.prons[0] == tuple(ipa_to_arpabet(engine.phonemize("Okafor")))
    money = by_text["$42"].prons[0]
    # "forty-two dollars", never "dollar sign four two" letters: F AO R T ...
    assert "F" in money and "D" in money and len(money) > 8


def test_ipa_maps_to_arpabet_longest_spellings_first() -> None:
    assert ipa_to_arpabet(["f", "ˈaɪɚ"]) == ["F", "AY", "ER"]
    assert ipa_to_arpabet(["tʃ", "ˈɔːɹ"]) == ["CH", "AO", "R"]
    assert ipa_to_arpabet(["b", "ˈʌ", "ʔ", "n̩"]) == ["B", "AH", "T", "N"]
    assert ipa_to_arpabet(["ʀ̃"]) == []  # no English phone: skipped
