# SPDX-License-Identifier: GPL-3.0-or-later
"""The Settings dialog's voice and speed follow the character selected in it.

Each character keeps the voice and speed the user gives it
(:class:`~companion.characters.prefs.VoicePrefs`: the user's choice wins over the pack's
preference). When another character is selected in the Character page, what the voice list
and the speed box showed is kept for the previous one, and the new one's choice is shown.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QDoubleSpinBox

from companion.characters.prefs import VoicePrefs
from companion.ui.character_page import CharacterPage
from companion.ui.voice_picker import VoicePicker


class CharacterVoiceLink(QObject):
    """Keeps the voice list and the speed box on the selected character's choice.

    Attributes:
        current: the character selected in the page (its id).
    """

    def __init__(
        self,
        *,
        page: CharacterPage,
        picker: VoicePicker,
        speed: QDoubleSpinBox,
        chosen: dict[str, dict[str, Any]],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._page = page
        self._picker = picker
        self._speed = speed
        self._chosen = {k: dict(v) for k, v in chosen.items()}
        # The dialog opens with the values in use (the settings), for the character in use.
        self.current = page.selected_id()
        self._opened = (self.current, picker.voice(), round(speed.value(), 2))
        page.character_selected.connect(self._on_character)

    def _prefs(self) -> VoicePrefs:
        return VoicePrefs(self._chosen, self._picker.installed(), builtin=self._picker.builtin_id())

    def _record(self) -> None:
        entry = self._page.entry(self.current)
        prefs = self._prefs()
        prefs.record(
            self.current,
            entry.manifest if entry else None,
            self._picker.voice(),
            self._speed.value(),
        )
        self._chosen = prefs.chosen

    @Slot(str)
    def _on_character(self, pack_id: str) -> None:
        if pack_id == self.current:
            return
        self._record()
        self.current = pack_id
        entry = self._page.entry(pack_id)
        choice = self._prefs().choice(pack_id, entry.manifest if entry else None)
        self._picker.set_voice(choice.voice)
        self._speed.setValue(choice.speed)
        if choice.missing:
            self._page.note(
                f"{entry.name if entry else pack_id} prefers the voice {choice.missing}, which "
                "is not installed: add it under Voice (Add…) to hear it."
            )

    def chosen(self) -> dict[str, dict[str, Any]]:
        """Every character's choice, with what is on screen now kept for the selected one.

        Nothing is recorded when the dialog still shows what it opened with.
        """
        if (self.current, self._picker.voice(), round(self._speed.value(), 2)) != self._opened:
            self._record()
        return {k: dict(v) for k, v in self._chosen.items()}
