# SPDX-License-Identifier: GPL-3.0-or-later
"""Each character's voice and speed: the user's choice, else the pack's, else the built-in."""

from __future__ import annotations

import dataclasses

from companion.characters.manifest import parse_manifest
from companion.characters.prefs import VoicePrefs
from tests.support.packs import EXAMPLE

MISO = parse_manifest((EXAMPLE / "character.toml").read_bytes())  # prefers joe at 1.1
JOE = "en_US-joe-medium"


def test_the_pack_preference_when_the_user_chose_nothing() -> None:
    prefs = VoicePrefs({}, ["", "de_DE-x-medium"], builtin=JOE)
    choice = prefs.choice("miso", MISO)
    assert (choice.voice, choice.speed, choice.voice_from, choice.speed_from) == (
        "",
        1.1,
        "character",
        "character",
    )  # fmt: skip  (joe is the built-in voice: "")
    plain = prefs.choice("companion", None)
    assert (plain.voice, plain.speed, plain.voice_from) == ("", 1.0, "default")


def test_the_users_choice_wins_and_only_differences_are_kept() -> None:
    prefs = VoicePrefs({}, ["de_DE-x-medium"], builtin=JOE)
    prefs.record("miso", MISO, "de_DE-x-medium", 1.1)
    assert prefs.chosen == {"miso": {"voice": "de_DE-x-medium"}}  # the speed is the pack's
    choice = prefs.choice("miso", MISO)
    assert (choice.voice, choice.voice_from, choice.speed_from) == (
        "de_DE-x-medium",
        "you",
        "character",
    )
    prefs.record("miso", MISO, JOE, 1.1)  # back to what the pack prefers: nothing kept
    assert prefs.chosen == {}


def test_a_preferred_voice_that_is_not_installed_is_named() -> None:
    wants_german = dataclasses.replace(MISO, voice="de_DE-thorsten-medium")
    choice = VoicePrefs({}, [], builtin=JOE).choice("miso", wants_german)
    assert (choice.voice, choice.voice_from, choice.missing) == (
        "",
        "default",
        "de_DE-thorsten-medium",
    )


def test_a_chosen_voice_that_was_removed_no_longer_counts() -> None:
    prefs = VoicePrefs({"miso": {"voice": "gone", "speed": 1.4}}, [], builtin=JOE)
    choice = prefs.choice("miso", MISO)
    assert (choice.voice, choice.voice_from, choice.speed, choice.speed_from) == (
        "", "character", 1.4, "you",
    )  # fmt: skip
