# SPDX-License-Identifier: GPL-3.0-or-later
"""The voice and speed each character speaks with: the user's choice wins.

For a character, in order:

1. what the user chose for it (``Settings.character_voices[pack id]``, a voice and/or a speed);
2. what its pack prefers (``[voice] name`` and ``speed`` in ``character.toml``), the voice only
   when it is installed;
3. the built-in voice at normal speed.

Only choices that differ from 2-3 are kept, so a pack updated with a new preference is
followed until the user picks something else for it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from companion.characters.manifest import Manifest

NORMAL_SPEED = 1.0


@dataclass(frozen=True)
class VoiceChoice:
    """What a character speaks with, and where each half came from.

    Attributes:
        voice: a local Piper voice id ("" is the built-in voice).
        speed: 0.5-2.0.
        voice_from, speed_from: ``"you"``, ``"character"`` or ``"default"``.
        missing: the voice the pack prefers when it is not installed, else "".
    """

    voice: str
    speed: float
    voice_from: str
    speed_from: str
    missing: str = ""


class VoicePrefs:
    """The user's per-character choices, edited and resolved.

    Attributes:
        chosen: pack id → {"voice": id, "speed": x} (what is saved in the settings).
    """

    def __init__(
        self, chosen: dict[str, dict[str, Any]], installed: Collection[str], builtin: str = ""
    ) -> None:
        self.chosen = {k: dict(v) for k, v in chosen.items()}
        self._builtin = builtin
        self._installed = {self._norm(v) for v in installed} | {""}

    def _norm(self, voice: str) -> str:
        """The built-in voice is "" whatever name it is given by (its id, ``en_US-joe-medium``)."""
        return "" if voice == self._builtin else voice

    def preferred(self, manifest: Manifest | None) -> VoiceChoice:
        """The pack's own preference (2-3 above)."""
        voice, voice_from, missing = "", "default", ""
        if manifest is not None and manifest.voice:
            if self._norm(manifest.voice) in self._installed:
                voice, voice_from = self._norm(manifest.voice), "character"
            else:
                missing = manifest.voice
        speed, speed_from = NORMAL_SPEED, "default"
        if manifest is not None and manifest.speed is not None:
            speed, speed_from = manifest.speed, "character"
        return VoiceChoice(voice, speed, voice_from, speed_from, missing)

    def choice(self, pack_id: str, manifest: Manifest | None) -> VoiceChoice:
        """What ``pack_id`` speaks with (1-3 above)."""
        base = self.preferred(manifest)
        mine = self.chosen.get(pack_id, {})
        voice, voice_from = base.voice, base.voice_from
        wanted = mine.get("voice")
        # A voice removed since it was chosen no longer counts.
        if isinstance(wanted, str) and self._norm(wanted) in self._installed:
            voice, voice_from = self._norm(wanted), "you"
        speed, speed_from = base.speed, base.speed_from
        if isinstance(mine.get("speed"), int | float):
            speed, speed_from = float(mine["speed"]), "you"
        return VoiceChoice(voice, speed, voice_from, speed_from, base.missing)

    def record(self, pack_id: str, manifest: Manifest | None, voice: str, speed: float) -> None:
        """The user set ``voice`` and ``speed`` for ``pack_id``; keep what differs from 2-3."""
        base = self.preferred(manifest)
        voice = self._norm(voice)
        entry: dict[str, Any] = {}
        if voice != base.voice:
            entry["voice"] = voice
        if round(speed, 2) != round(base.speed, 2):
            entry["speed"] = round(speed, 2)
        if entry:
            self.chosen[pack_id] = entry
        else:
            self.chosen.pop(pack_id, None)
