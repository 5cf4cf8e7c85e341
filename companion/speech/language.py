# SPDX-License-Identifier: GPL-3.0-or-later
"""What a voice's language changes: the words text preparation says, the sentence splitter.

A voice names its language (a Piper voice's config: ``language.code`` such as ``de_DE``, or its
espeak-ng voice such as ``de``); :func:`language` turns any of those into a :class:`Language`.
English is the default and stays exactly what it was. For other languages:

- the few words text preparation inserts (a link, a code block, nothing to say, "3 * 4") come
  from :data:`PHRASES` (English where a language is not listed there);
- sentences are split by pysbd in that language when pysbd knows it (:data:`PYSBD`), else by
  its English rules, which cut at ``.``, ``!`` and ``?`` too;
- a long sentence is split before a conjunction only for languages in :data:`CONJUNCTIONS`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from pysbd.languages import LANGUAGE_CODES

DEFAULT = "en"


@dataclass(frozen=True)
class Phrases:
    """Words text preparation says in place of what it drops."""

    link: str
    code: str
    nothing: str
    times: str
    test: str


PHRASES: dict[str, Phrases] = {
    "en": Phrases("a link", "Here is some code.", "I have nothing to say.", "times",
                  "Hello! This is how I sound."),
    "de": Phrases("ein Link", "Hier ist etwas Code.", "Ich habe nichts zu sagen.", "mal",
                  "Hallo! So klinge ich."),
    "fr": Phrases("un lien", "Voici du code.", "Je n'ai rien à dire.", "fois",
                  "Bonjour ! Voici ma voix."),
    "es": Phrases("un enlace", "Aquí hay algo de código.", "No tengo nada que decir.", "por",
                  "¡Hola! Así suena mi voz."),
    "it": Phrases("un link", "Ecco del codice.", "Non ho niente da dire.", "per",
                  "Ciao! Questa è la mia voce."),
    "pt": Phrases("um link", "Aqui está um código.", "Não tenho nada a dizer.", "vezes",
                  "Olá! Esta é a minha voz."),
    "nl": Phrases("een link", "Hier is wat code.", "Ik heb niets te zeggen.", "keer",
                  "Hallo! Zo klink ik."),
    "pl": Phrases("link", "Oto trochę kodu.", "Nie mam nic do powiedzenia.", "razy",
                  "Cześć! Tak brzmi mój głos."),
    "ru": Phrases("ссылка", "Вот немного кода.", "Мне нечего сказать.", "умножить на",
                  "Привет! Так звучит мой голос."),
}  # fmt: skip

#: Languages pysbd segments.
PYSBD: frozenset[str] = frozenset(LANGUAGE_CODES)

#: Words a long sentence may be split before, per language.
CONJUNCTIONS: dict[str, tuple[str, ...]] = {
    "en": ("and", "but", "or", "so", "because", "which", "while", "although", "though",
           "whereas", "then"),
    "de": ("und", "aber", "oder", "denn", "weil", "während", "obwohl", "sondern", "dann"),
    "fr": ("et", "mais", "ou", "donc", "car", "parce", "puis", "tandis"),
    "es": ("y", "pero", "o", "porque", "aunque", "mientras", "entonces"),
}  # fmt: skip


@dataclass(frozen=True)
class Language:
    """A language as text preparation and the splitter see it.

    Attributes:
        code: the family code (``en``, ``de``).
        phrases: the words inserted for links, code, nothing, "times".
        segmenter: the pysbd language used to find sentences.
        conjunction: a pattern matching the whitespace before a conjunction, or None.
    """

    code: str
    phrases: Phrases
    segmenter: str
    conjunction: re.Pattern[str] | None


def family(code: str) -> str:
    """``de_DE``, ``de-de``, ``DE`` → ``de``; empty → the default (English)."""
    head = re.split(r"[_\-.@]", code.strip().lower(), maxsplit=1)[0]
    return head if head.isalpha() else DEFAULT


def _conjunction(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w) for w in words)
    return re.compile(rf"\s(?=(?:{alternatives})\s)", re.IGNORECASE)


def language(code: str = DEFAULT) -> Language:
    """The :class:`Language` of a voice's language code (any form; unknown → English rules)."""
    return _language(family(code))


@functools.cache
def _language(key: str) -> Language:
    words = CONJUNCTIONS.get(key)
    return Language(
        code=key,
        phrases=PHRASES.get(key, PHRASES[DEFAULT]),
        segmenter=key if key in PYSBD else DEFAULT,
        conjunction=_conjunction(words) if words else None,
    )
