# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings → Character: the installed characters, a preview, Install… and Remove.

The list shows every pack (``companion.characters.store``), the built-in one first; a broken
pack is listed greyed out with the reason, and cannot be chosen. The preview is the real
mascot view drawing the selected pack; "Preview speaking" runs its mouths through a sentence's
worth of shapes on a timer clock. Install… checks the pack in a background thread: a bad one
changes nothing and the page says why; a pack whose id is installed already is replaced only
after the user agrees. Choosing a character here takes effect when the dialog is applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, QSize, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from companion.characters.manifest import PackError, PackExists
from companion.characters.store import CharacterStore, Entry
from companion.speech.types import VisemeCue
from companion.speech.visemes import OPENNESS, VisemeTimeline
from companion.tasks import Background
from companion.ui.art import MascotArt
from companion.ui.mascot_view import MascotView

log = logging.getLogger("companion.ui")

ICON_SIDE = 48
#: The shapes "Preview speaking" runs through, 140 ms each.
PREVIEW_SHAPES = ("PP", "aa", "E", "SS", "O", "FF", "I", "U", "nn", "aa", "kk", "RR", "sil")
PREVIEW_STEP_MS = 140.0

PathChooser = Callable[[str], Path | None]
Confirm = Callable[[str], bool]


class _TimerClock:
    """A clock started now (the preview has no sound)."""

    def __init__(self) -> None:
        self._elapsed = QElapsedTimer()
        self._elapsed.start()

    def position_ms(self) -> float:
        return self._elapsed.nsecsElapsed() / 1e6


def preview_timeline() -> VisemeTimeline:
    cues = [
        VisemeCue(i * PREVIEW_STEP_MS, (i + 1) * PREVIEW_STEP_MS, v, OPENNESS[v] or 0.3)
        for i, v in enumerate(PREVIEW_SHAPES)
    ]
    return VisemeTimeline(cues)


def thumbnail(art: MascotArt, side: int = ICON_SIDE) -> QIcon:
    image = QImage(side, side, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    art.frames(side, 1.0).draw(painter, expression="happy")
    painter.end()
    return QIcon(QPixmap.fromImage(image))


def _ask_path(kind: str) -> Path | None:
    if kind == "folder":
        chosen = QFileDialog.getExistingDirectory(None, "Install a character from a folder")
    else:
        chosen, _ = QFileDialog.getOpenFileName(
            None, "Install a character", "", "Character packs (*.zip)"
        )
    return Path(chosen) if chosen else None


def _ask_yes(question: str) -> bool:
    answer = QMessageBox.question(None, "Companion", question)
    return answer == QMessageBox.StandardButton.Yes


class CharacterPage(QWidget):
    """The list of characters with a preview, Install… and Remove.

    Signals:
        character_selected(str): a usable character was selected (its id).
        removed(str): a pack was removed (its id).

    Attributes:
        list: one row per pack (data: the pack's id).
        preview: the mascot view drawing the selected pack.
        status: the last message (a failed install says why here).
    """

    character_selected = Signal(str)
    removed = Signal(str)

    def __init__(
        self,
        *,
        store: CharacterStore,
        current: str,
        ask_path: PathChooser = _ask_path,
        confirm: Confirm = _ask_yes,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._ask_path = ask_path
        self._confirm = confirm
        self._entries: dict[str, Entry] = {}
        self._arts: dict[str, MascotArt] = {}
        self._tasks = Background(self)
        self.installing = False

        self.list = QListWidget()
        self.list.setIconSize(QSize(ICON_SIDE, ICON_SIDE))
        self.list.setMinimumWidth(220)
        self.list.currentItemChanged.connect(self._on_current)
        self.preview = MascotView(scale="small")
        self.preview.setParent(self)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.PlainText)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.speak_button = QPushButton("Preview speaking")
        self.speak_button.clicked.connect(self._preview_speaking)
        self._stop_timer = QTimer(self)
        self._stop_timer.setSingleShot(True)
        self._stop_timer.timeout.connect(self.preview.stop_lipsync)

        self.install_button = QToolButton()
        self.install_button.setText("Install…")
        self.install_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.install_button)
        menu.addAction("From a .zip file…", lambda: self._install_asked("zip"))
        menu.addAction("From a folder…", lambda: self._install_asked("folder"))
        self.install_button.setMenu(menu)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove_asked)
        self.folder_button = QPushButton("Open folder")
        self.folder_button.setToolTip("Packs dropped in this folder are listed too")
        self.folder_button.clicked.connect(self._open_folder)

        right = QVBoxLayout()
        right.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignHCenter)
        right.addWidget(self.speak_button, 0, Qt.AlignmentFlag.AlignHCenter)
        right.addWidget(self.details, 1, Qt.AlignmentFlag.AlignTop)
        top = QHBoxLayout()
        top.addWidget(self.list, 1)
        top.addLayout(right, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.install_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        buttons.addWidget(self.folder_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.refresh(select=current)

    # -- the list ---------------------------------------------------------------------------

    def refresh(self, select: str | None = None) -> None:
        """List the packs again (after an install, a removal, a pack dropped in the folder)."""
        keep = select if select is not None else self.selected_id()
        entries = self._store.entries()
        self._entries = {e.id: e for e in entries if e.usable}
        self.list.blockSignals(True)
        self.list.clear()
        for entry in entries:
            item = QListWidgetItem(entry.name)
            item.setData(Qt.ItemDataRole.UserRole, entry.id if entry.usable else "")
            item.setData(Qt.ItemDataRole.UserRole + 1, str(entry.path))
            if entry.usable and entry.character is not None:
                art = self._arts.get(entry.id)
                if art is None or art.character.path != entry.path:
                    art = MascotArt(entry.character)
                    self._arts[entry.id] = art
                item.setIcon(thumbnail(art))
                author = entry.manifest.author if entry.manifest else "?"
                item.setToolTip(f"{entry.name} by {author}")
            else:
                item.setText(f"{entry.name} (cannot be used)")
                item.setToolTip(entry.problem or "")
                item.setForeground(self.palette().placeholderText())
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.set_selected(keep or "")

    def selected_id(self) -> str:
        if self.list.currentRow() < 0:
            return ""
        return str(self.list.currentItem().data(Qt.ItemDataRole.UserRole) or "")

    def selected_entry(self) -> Entry | None:
        return self._entries.get(self.selected_id())

    def entry(self, pack_id: str) -> Entry | None:
        """The usable pack ``pack_id`` as listed, None when there is none."""
        return self._entries.get(pack_id)

    def note(self, text: str) -> None:
        """Show ``text`` in the page's status line (the dialog's notes about voices)."""
        self._say(text)

    def set_selected(self, pack_id: str) -> None:
        """Select ``pack_id`` (the built-in character when it is not usable)."""
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == pack_id:
                self.list.setCurrentRow(row)
                return
        self.list.setCurrentRow(0)

    @Slot(QListWidgetItem, QListWidgetItem)
    def _on_current(self, item: QListWidgetItem | None, _previous: object) -> None:
        if item is None:
            return
        pack_id = str(item.data(Qt.ItemDataRole.UserRole) or "")
        entry = self._entries.get(pack_id)
        self.remove_button.setEnabled(not (entry is not None and entry.builtin))
        if entry is None:
            self.details.setText(item.toolTip())
            self.speak_button.setEnabled(False)
            return
        self.speak_button.setEnabled(True)
        self.preview.set_art(self._arts[pack_id])
        self.details.setText(_describe(entry))
        self.character_selected.emit(pack_id)

    @Slot()
    def _preview_speaking(self) -> None:
        self.preview.set_expression("speaking")
        self.preview.start_lipsync(_TimerClock(), preview_timeline())
        self._stop_timer.start(int(PREVIEW_STEP_MS * (len(PREVIEW_SHAPES) + 2)))

    # -- installing and removing -------------------------------------------------------------

    def _install_asked(self, kind: str) -> None:
        path = self._ask_path(kind)
        if path is not None:
            self.install(path)

    def install(self, path: Path, *, replace: bool = False) -> None:
        """Check and install the pack at ``path`` in the background; the page shows the result."""
        self.installing = True
        self.install_button.setEnabled(False)
        self._say(f"Checking {path.name}…")
        self._tasks.run(
            "install-character",
            lambda: self._store.install(path, replace=replace),
            lambda result, error: self._installed(path, result, error),
        )

    def _installed(self, path: Path, entry: Entry | None, error: BaseException | None) -> None:
        self.installing = False
        self.install_button.setEnabled(True)
        if isinstance(error, PackExists):
            if self._confirm(f"{error} Replace it with the one from {path.name}?"):
                self.install(path, replace=True)
            else:
                self._say("Nothing was installed.")
            return
        if isinstance(error, PackError):
            log.info("[characters] install refused: %s", error)
            self._say(f"Not installed: {error}", error=True)
            return
        if error is not None:
            raise error
        assert entry is not None
        self._arts.pop(entry.id, None)
        self._say(f"Installed {entry.name}.")
        self.refresh(select=entry.id)

    @Slot()
    def _remove_asked(self) -> None:
        if self.list.currentRow() < 0:
            return
        item = self.list.currentItem()
        entry = self._entries.get(self.selected_id())
        name = entry.name if entry is not None else item.text()
        if not self._confirm(f"Remove the character {name}? Its files are deleted."):
            return
        path = Path(str(item.data(Qt.ItemDataRole.UserRole + 1)))
        pack_id = entry.id if entry is not None else path.stem
        try:
            self._store.remove(pack_id)
        except PackError as exc:
            self._say(str(exc), error=True)
            return
        self._arts.pop(pack_id, None)
        self._say(f"Removed {name}.")
        self.refresh(select="")
        self.removed.emit(pack_id)

    @Slot()
    def _open_folder(self) -> None:
        self._store.root.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._store.root)))

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #b3261e;" if error else "")


def _describe(entry: Entry) -> str:
    m = entry.manifest
    assert m is not None
    lines = [m.name, f"by {m.author} · {m.licence}"]
    if m.description:
        lines.append(m.description)
    lines.append(f"Mouths: {'Rhubarb A-H, X' if m.mouths == 'rhubarb' else 'Oculus visemes'}")
    if m.voice or m.speed is not None:
        voice = m.voice or "the built-in voice"
        speed = f" at {m.speed:g}x" if m.speed is not None else ""
        lines.append(f"Prefers {voice}{speed}")
    return "\n".join(lines)
