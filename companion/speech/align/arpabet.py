# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: RUF001, RUF002 - IPA letters are this file's data
"""espeak-ng's IPA ↔ the ARPAbet phones of PocketSphinx's en-us model and CMU dictionary.

:func:`ipa_to_arpabet` turns espeak-ng's phonemes of a word (names, brands, numbers the CMU
dictionary lacks) into a pronunciation PocketSphinx can align: multi-letter phonemes first
(``aɪ`` → ``AY``, ``tʃ`` → ``CH``, ``ɔːɹ`` → ``AO R``), stress and length marks dropped.
:func:`arpabet_units` does the same but keeps, for each ARPAbet phone, the IPA it came from:
that is how an aligned phone gets espeak-ng's vowel quality back (``AH`` is ``ʌ`` or ``ə``).
:data:`ARPABET_IPA` is the plain reading of each phone, for phones with no espeak-ng match.
"""

from __future__ import annotations

import unicodedata

#: How each ARPAbet phone is read when nothing better is known (AH as the stressed ʌ).
ARPABET_IPA: dict[str, str] = {
    "AA": "ɑ", "AE": "æ", "AH": "ʌ", "AO": "ɔ", "AW": "aʊ", "AY": "aɪ", "EH": "ɛ",
    "ER": "ɚ", "EY": "eɪ", "IH": "ɪ", "IY": "i", "OW": "oʊ", "OY": "ɔɪ", "UH": "ʊ",
    "UW": "u", "B": "b", "CH": "tʃ", "D": "d", "DH": "ð", "F": "f", "G": "ɡ", "HH": "h",
    "JH": "dʒ", "K": "k", "L": "l", "M": "m", "N": "n", "NG": "ŋ", "P": "p", "R": "ɹ",
    "S": "s", "SH": "ʃ", "T": "t", "TH": "θ", "V": "v", "W": "w", "Y": "j", "Z": "z",
    "ZH": "ʒ",
}  # fmt: skip
#: The phones of the en-us acoustic model (besides SIL and the noise fillers).
PHONES = frozenset(ARPABET_IPA)
VOWELS = frozenset(
    {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
)

# IPA (stress and length removed) → ARPAbet phones, longest spellings first.
_MULTI: dict[str, tuple[tuple[str, str], ...]] = {
    "aɪɚ": (("AY", "aɪ"), ("ER", "ɚ")), "aɪə": (("AY", "aɪ"), ("AH", "ə")),
    "aʊɚ": (("AW", "aʊ"), ("ER", "ɚ")), "eə": (("EH", "e"), ("R", "ə")),
    "ɛə": (("EH", "ɛ"), ("R", "ə")), "iə": (("IY", "i"), ("AH", "ə")),
    "ɪə": (("IH", "ɪ"), ("AH", "ə")), "ʊə": (("UH", "ʊ"), ("AH", "ə")),
    "əl": (("AH", "ə"), ("L", "l")), "ɔɪ": (("OY", "ɔɪ"),), "aɪ": (("AY", "aɪ"),),
    "aʊ": (("AW", "aʊ"),), "eɪ": (("EY", "eɪ"),), "oʊ": (("OW", "oʊ"),),
    "əʊ": (("OW", "əʊ"),), "tʃ": (("CH", "tʃ"),), "dʒ": (("JH", "dʒ"),),
}  # fmt: skip
_SINGLE: dict[str, str] = {
    "ɑ": "AA", "ɒ": "AA", "a": "AA", "æ": "AE", "ʌ": "AH", "ə": "AH",
    "ɐ": "AH", "ɚ": "ER", "ɝ": "ER", "ɜ": "ER", "ɛ": "EH", "e": "EH",
    "ɪ": "IH", "ᵻ": "IH", "ɨ": "IH", "i": "IY", "y": "IY", "ɔ": "AO",
    "o": "OW", "ʊ": "UH", "u": "UW", "ɯ": "UW", "ʉ": "UW",
    "p": "P", "b": "B", "t": "T", "d": "D", "ɾ": "T", "ʔ": "T",
    "k": "K", "ɡ": "G", "g": "G", "x": "K", "f": "F", "v": "V",
    "θ": "TH", "ð": "DH", "s": "S", "z": "Z", "ʃ": "SH", "ʒ": "ZH",
    "h": "HH", "ɦ": "HH", "ç": "HH", "m": "M", "ɱ": "M", "n": "N",
    "ɲ": "N", "ŋ": "NG", "l": "L", "ɫ": "L", "ɹ": "R", "r": "R",
    "ɻ": "R", "w": "W", "ʍ": "W", "j": "Y",
}  # fmt: skip
_LONGEST = max(len(k) for k in _MULTI)
_DROP = set("ˈˌːˑ‿")


def _clean(phoneme: str) -> str:
    """NFC letters without stress, length or combining marks (``n̩`` → ``n``)."""
    decomposed = unicodedata.normalize("NFD", phoneme)
    kept = "".join(ch for ch in decomposed if ch not in _DROP and not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", kept)


def arpabet_units(phonemes: list[str]) -> list[tuple[str, str]]:
    """(ARPAbet phone, the IPA it stands for) for espeak-ng phonemes, in order.

    The IPA keeps the phoneme's stress and length marks where it maps to one phone.
    """
    out: list[tuple[str, str]] = []
    for phoneme in phonemes:
        letters = _clean(phoneme)
        pieces: list[tuple[str, str]] = []
        i = 0
        while i < len(letters):
            for size in range(min(_LONGEST, len(letters) - i), 0, -1):
                chunk = letters[i : i + size]
                if chunk in _MULTI:
                    pieces.extend(_MULTI[chunk])
                elif size == 1 and chunk in _SINGLE:
                    pieces.append((_SINGLE[chunk], chunk))
                else:
                    continue
                i += size
                break
            else:
                i += 1  # a letter with no English phone: skipped
        if len(pieces) == 1:
            pieces = [(pieces[0][0], phoneme)]  # keeps its stress and length marks
        out.extend(pieces)
    return out


def ipa_to_arpabet(phonemes: list[str]) -> list[str]:
    """espeak-ng phonemes → ARPAbet phones (see the module docstring)."""
    return [phone for phone, _ipa in arpabet_units(phonemes)]
