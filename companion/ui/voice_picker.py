# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings → Voice: the Piper voices on disk, with their language and quality, and Add….

The list is ``companion.speech.voices.find_voices``: the built-in voice first, then the user's
(``paths.data_dir()/voices``); a pair that cannot be used is listed greyed out with the reason.
Add… asks for a ``.onnx`` model (and its ``.onnx.json`` config when it is not beside it); the
voice is checked in a background thread (its config, then Piper speaks a test sentence in its
language) and copied in only if it passes: a bad voice changes nothing and the page says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from companion.speech.voices import (
    VoiceError,
    VoiceExists,
    VoiceInfo,
    add_voice,
    find_voices,
    remove_voice,
    voices_dir,
)
from companion.tasks import Background

log = logging.getLogger("companion.ui")

#: Asks for (model, config or None when it is beside the model); None when cancelled.
VoiceChooser = Callable[[], tuple[Path, Path | None] | None]
Confirm = Callable[[str], bool]


def _ask_voice() -> tuple[Path, Path | None] | None:
    model, _ = QFileDialog.getOpenFileName(
        None, "Add a Piper voice", "", "Piper voices (*.onnx)"
    )
    if not model:
        return None
    if Path(f"{model}.json").is_file():
        return Path(model), None
    config, _ = QFileDialog.getOpenFileName(
        None, "The voice's config", str(Path(model).parent), "Piper voice configs (*.json)"
    )
    return (Path(model), Path(config)) if config else None


def _ask_yes(question: str) -> bool:
    answer = QMessageBox.question(None, "Companion", question)
    return answer == QMessageBox.StandardButton.Yes


class VoicePicker(QWidget):
    """The local voices: a list (voice, language, quality), Add… and Remove.

    Signals:
        voice_changed(str): the user chose a voice ("" is the built-in one).

    Attributes:
        tree: one row per voice (data: its id, "" for the built-in one).
        status: the last message (a refused voice says why here).
        checking: True while a voice is being checked.
    """

    voice_changed = Signal(str)

    def __init__(
        self,
        *,
        current: str = "",
        folder: Path | None = None,
        ask_voice: VoiceChooser = _ask_voice,
        confirm: Confirm = _ask_yes,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._folder = folder if folder is not None else voices_dir()
        self._ask_voice = ask_voice
        self._confirm = confirm
        self._tasks = Background(self)
        self._ids: list[str] = []
        self._builtin_id = ""
        self.checking = False

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Voice", "Language", "Quality"])
        self.tree.setRootIsDecorated(False)
        self.tree.setMinimumHeight(110)
        self.tree.currentItemChanged.connect(self._on_current)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.add_button = QPushButton("Add…")
        self.add_button.clicked.connect(self._add_asked)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove_asked)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.refresh(select=current)

    # -- the list ---------------------------------------------------------------------------

    def installed(self) -> list[str]:
        """The ids of the usable voices ("" for the built-in one)."""
        return list(self._ids)

    def builtin_id(self) -> str:
        """The built-in voice's own id (``en_US-joe-medium``), "" when it is missing."""
        return self._builtin_id

    def refresh(self, select: str | None = None) -> None:
        keep = select if select is not None else self.voice()
        good, bad = find_voices(self._folder)
        self._builtin_id = next((v.id for v in good if v.builtin), "")
        self.tree.blockSignals(True)
        self.tree.clear()
        self._ids = []
        for info in good:
            self._ids.append("" if info.builtin else info.id)
            self.tree.addTopLevelItem(_row(info))
        for model, problem in bad:
            item = QTreeWidgetItem([model.name, "cannot be used", ""])
            item.setToolTip(0, problem)
            item.setData(0, Qt.ItemDataRole.UserRole, None)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            item.setForeground(0, self.palette().placeholderText())
            self.tree.addTopLevelItem(item)
        for col in range(3):
            self.tree.resizeColumnToContents(col)
        self.tree.blockSignals(False)
        self.set_voice(keep)

    def voice(self) -> str:
        """The selected voice ("" for the built-in one)."""
        item = self.tree.currentItem()
        if item is None:
            return ""
        value = item.data(0, Qt.ItemDataRole.UserRole)
        return str(value) if isinstance(value, str) else ""

    def set_voice(self, voice_id: str) -> None:
        """Select ``voice_id`` (the built-in voice when it is not installed); no signal."""
        wanted = "" if voice_id == self._builtin_id else voice_id
        self.tree.blockSignals(True)
        items = [self.tree.topLevelItem(r) for r in range(self.tree.topLevelItemCount())]
        rows = [i for i in items if i is not None]
        match = [i for i in rows if i.data(0, Qt.ItemDataRole.UserRole) == wanted]
        if match or rows:
            self.tree.setCurrentItem((match or rows)[0])
        self.tree.blockSignals(False)
        self._update_buttons()

    @Slot(QTreeWidgetItem, QTreeWidgetItem)
    def _on_current(self, _item: object, _previous: object) -> None:
        self._update_buttons()
        self.voice_changed.emit(self.voice())

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(bool(self.voice()) and not self.checking)

    # -- adding and removing ---------------------------------------------------------------

    @Slot()
    def _add_asked(self) -> None:
        chosen = self._ask_voice()
        if chosen is not None:
            self.add(*chosen)

    def add(self, model: Path, config: Path | None = None, *, replace: bool = False) -> None:
        """Check the voice ``model`` in the background and copy it in when it passes."""
        self.checking = True
        self.add_button.setEnabled(False)
        self._update_buttons()
        self._say(f"Checking {model.name} (it speaks a test sentence)…")
        folder = self._folder
        self._tasks.run(
            "add-voice",
            lambda: add_voice(model, config, folder=folder, replace=replace),
            lambda result, error: self._added(model, config, result, error),
        )

    def _added(
        self, model: Path, config: Path | None, info: VoiceInfo | None, error: BaseException | None
    ) -> None:
        self.checking = False
        self.add_button.setEnabled(True)
        if isinstance(error, VoiceExists):
            if self._confirm(f"{error} Replace it?"):
                self.add(model, config, replace=True)
            else:
                self._say("Nothing was added.")
            self._update_buttons()
            return
        if isinstance(error, VoiceError):
            log.info("[voices] voice refused: %s", error)
            self._say(f"Not added: {error}", error=True)
            self._update_buttons()
            return
        if error is not None:
            raise error
        assert info is not None
        self._say(f"Added {info.label}.")
        self.refresh(select=info.id)
        self.voice_changed.emit(self.voice())

    @Slot()
    def _remove_asked(self) -> None:
        voice_id = self.voice()
        question = f"Remove the voice {voice_id}? Its files are deleted."
        if not voice_id or not self._confirm(question):
            return
        try:
            remove_voice(voice_id, self._folder)
        except VoiceError as exc:
            self._say(str(exc), error=True)
            return
        self._say(f"Removed {voice_id}.")
        self.refresh(select="")
        self.voice_changed.emit(self.voice())

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #b3261e;" if error else "")


def _row(info: VoiceInfo) -> QTreeWidgetItem:
    name = f"{info.id} (built in)" if info.builtin else info.id
    quality = info.quality.replace("_", "-") if info.quality else "unknown"
    item = QTreeWidgetItem([name, info.language_name, quality])
    item.setData(0, Qt.ItemDataRole.UserRole, "" if info.builtin else info.id)
    item.setToolTip(0, f"{info.model} ({info.sample_rate} Hz)")
    return item
