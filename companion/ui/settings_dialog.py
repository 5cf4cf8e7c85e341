# SPDX-License-Identifier: GPL-3.0-or-later
"""The settings dialog: voice, speed, volume, output device, reply behaviour, look, privacy,
and the character (its own page, ``ui/character_page.py``; the local voices,
``ui/voice_picker.py``).

The dialog edits a copy; :meth:`SettingsDialog.edited` returns the new settings and the
composition root applies and saves them. "Test voice" speaks with the values on screen.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from companion.characters.store import CharacterStore
from companion.config import RESPONSE_FORMATS, SCALES, Settings
from companion.ui.character_page import CharacterPage
from companion.ui.character_voice import CharacterVoiceLink
from companion.ui.voice_picker import VoicePicker

log = logging.getLogger("companion.ui")

#: Voices a speech backend (OpenAI's names) understands; the embedded voices ignore them.
BACKEND_VOICES = ("alloy", "ash", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer")
TEST_SENTENCE = "Hello! This is how I sound with these settings."
#: How each ``response_format`` choice reads in the list.
RESPONSE_FORMAT_LABELS = {
    "auto": "Automatic (WAV first, then what the server gives)",
    "wav": "WAV",
    "mp3": "MP3",
    "opus": "Opus",
    "flac": "FLAC",
    "pcm": "Raw PCM",
}
PRECISION_LABELS = {"int8": "Compact (int8 weights)", "fp32": "Original (fp32 weights)"}


def _default_devices() -> list[str]:
    try:
        from companion.audio.devices import list_output_devices

        return list(list_output_devices())
    except Exception as exc:  # no PortAudio: the list is just "System default"
        log.info("[settings] output devices unavailable: %s", type(exc).__name__)
        return []


def _precisions() -> tuple[str, ...]:
    """The Piper voice precisions this installation has (a bundle may ship only int8)."""
    from companion.speech.piper_models import available_precisions

    return available_precisions()


class SettingsDialog(QDialog):
    """Edits a copy of the settings.

    Signals:
        test_voice_requested(Settings): speak a test sentence with the values on screen.

    Attributes:
        fields: the editors by settings key (for tests and for focus handling).
    """

    test_voice_requested = Signal(object)

    def __init__(
        self,
        *,
        settings: Settings,
        devices: Callable[[], list[str]] = _default_devices,
        characters: CharacterStore | None = None,
        voice_folder: Path | None = None,
        precisions: Callable[[], Sequence[str]] = _precisions,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Companion settings")
        self._original = settings
        form = QFormLayout()

        self.voice = QComboBox()
        self.voice.setEditable(True)
        self.voice.addItem("")
        self.voice.addItems(BACKEND_VOICES)
        self.voice.setCurrentText(settings.voice)
        voice_edit = self.voice.lineEdit()
        if voice_edit is not None:
            voice_edit.setPlaceholderText("default voice")
        form.addRow("Backend voice", self.voice)

        self.speed = QDoubleSpinBox()
        self.speed.setRange(0.5, 2.0)
        self.speed.setSingleStep(0.05)
        self.speed.setDecimals(2)
        self.speed.setSuffix(" x")
        self.speed.setValue(settings.speed)
        form.addRow("Speed", self.speed)

        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setValue(round(settings.volume * 100))
        volume_label = QLabel(f"{self.volume.value()} %")
        self.volume.valueChanged.connect(lambda v: volume_label.setText(f"{v} %"))
        volume_row = QHBoxLayout()
        volume_row.addWidget(self.volume, 1)
        volume_row.addWidget(volume_label)
        form.addRow("Volume", volume_row)

        self.device = QComboBox()
        self.device.addItem("System default", "")
        for name in devices():
            self.device.addItem(name, name)
        if settings.output_device and self.device.findData(settings.output_device) < 0:
            self.device.addItem(f"{settings.output_device} (not connected)", settings.output_device)
        self.device.setCurrentIndex(max(0, self.device.findData(settings.output_device)))
        form.addRow("Output device", self.device)

        self.autoplay = QCheckBox("Speak every reply as it arrives")
        self.autoplay.setChecked(settings.autoplay)
        form.addRow("Autoplay", self.autoplay)

        self.queue_mode = QComboBox()
        self.queue_mode.addItem("Interrupt the current reply", "interrupt")
        self.queue_mode.addItem("Wait for the current reply", "queue")
        self.queue_mode.setCurrentIndex(max(0, self.queue_mode.findData(settings.queue_mode)))
        form.addRow("A new reply", self.queue_mode)

        self.always_on_top = QCheckBox("Keep the mascot above other windows")
        self.always_on_top.setChecked(settings.always_on_top)
        form.addRow("Always on top", self.always_on_top)

        self.scale = QComboBox()
        for name in SCALES:
            self.scale.addItem(name.capitalize(), name)
        self.scale.setCurrentIndex(max(0, self.scale.findData(settings.scale)))
        form.addRow("Size", self.scale)

        self.crash_reports = QCheckBox("Send crash reports (never your text or token)")
        self.crash_reports.setChecked(settings.crash_reports)
        form.addRow("Crash reports", self.crash_reports)

        self.backend_url = QLineEdit(settings.backend_url)
        self.backend_url.setPlaceholderText("empty: the voice built into Companion")
        form.addRow("Backend URL", self.backend_url)

        self.engine = QComboBox()
        self.engine.addItem("The backend's voice, else the built-in one", "auto")
        self.engine.addItem("Built-in voice (Piper)", "piper")
        self.engine.addItem("Built-in voice (espeak-ng)", "espeak")
        self.engine.setToolTip(
            "Chat-only servers (Ollama, llama.cpp) have no voice: choose a built-in one."
        )
        self.engine.setCurrentIndex(max(0, self.engine.findData(settings.engine)))
        form.addRow("Voice engine", self.engine)

        self.response_format = QComboBox()
        for name in RESPONSE_FORMATS:
            self.response_format.addItem(RESPONSE_FORMAT_LABELS.get(name, name), name)
        self.response_format.setToolTip(
            "The audio format asked of the backend's voice. Automatic suits every server "
            "Companion knows; choose one only for a server that needs it."
        )
        self.response_format.setCurrentIndex(
            max(0, self.response_format.findData(settings.response_format))
        )
        form.addRow("Response format", self.response_format)
        self.voice_precision = QComboBox()
        for precision in precisions():
            self.voice_precision.addItem(PRECISION_LABELS[precision], precision)
        self.voice_precision.setToolTip(
            "The built-in Piper voice: int8 weights are a quarter of the size and sound the same."
        )
        index = self.voice_precision.findData(settings.voice_precision)
        self.voice_precision.setCurrentIndex(max(0, index))
        form.addRow("Built-in voice model", self.voice_precision)

        self.chat_model = QLineEdit(settings.chat_model)
        self.chat_model.setPlaceholderText("e.g. gpt-4o-mini, llama3.2")
        form.addRow("Chat model", self.chat_model)
        self.system_prompt = QPlainTextEdit(settings.system_prompt)
        self.system_prompt.setTabChangesFocus(True)
        self.system_prompt.setFixedHeight(self.system_prompt.fontMetrics().lineSpacing() * 4)
        form.addRow("System prompt", self.system_prompt)

        self.test_button = QPushButton("Test voice")
        self.test_button.clicked.connect(self._on_test)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.addButton(self.test_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        # -- the character and the local voices (issue 15): their own modules; a
        # reorganisation into pages only has to move these three widgets.
        self.voice_picker = VoicePicker(current=settings.local_voice, folder=voice_folder)
        form.insertRow(1, "Embedded voice", self.voice_picker)
        self.character_page = CharacterPage(
            store=characters if characters is not None else CharacterStore(),
            current=settings.character,
        )
        self._character_voice = CharacterVoiceLink(
            page=self.character_page,
            picker=self.voice_picker,
            speed=self.speed,
            chosen=settings.character_voices,
            parent=self,
        )
        general = QWidget()
        general.setLayout(form)
        self.tabs = QTabWidget()
        self.tabs.addTab(general, "General")
        self.tabs.addTab(self.character_page, "Character")
        # -- end of the character block

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(buttons)
        self.fields: dict[str, QWidget] = {
            "voice": self.voice,
            "speed": self.speed,
            "volume": self.volume,
            "output_device": self.device,
            "autoplay": self.autoplay,
            "queue_mode": self.queue_mode,
            "always_on_top": self.always_on_top,
            "scale": self.scale,
            "crash_reports": self.crash_reports,
            "backend_url": self.backend_url,
            "engine": self.engine,
            "response_format": self.response_format,
            "voice_precision": self.voice_precision,
            "chat_model": self.chat_model,
            "system_prompt": self.system_prompt,
            "local_voice": self.voice_picker,
            "character": self.character_page,
        }

    def edited(self) -> Settings:
        """A new Settings with the dialog's values (the original is left untouched)."""
        return dataclasses.replace(
            self._original,
            voice=self.voice.currentText().strip(),
            speed=round(self.speed.value(), 2),
            volume=self.volume.value() / 100.0,
            output_device=str(self.device.currentData() or ""),
            autoplay=self.autoplay.isChecked(),
            queue_mode=str(self.queue_mode.currentData()),
            always_on_top=self.always_on_top.isChecked(),
            scale=str(self.scale.currentData()),
            crash_reports=self.crash_reports.isChecked(),
            backend_url=self.backend_url.text().strip(),
            engine=str(self.engine.currentData()),
            response_format=str(self.response_format.currentData()),
            voice_precision=str(self.voice_precision.currentData() or "int8"),
            chat_model=self.chat_model.text().strip() or self._original.chat_model,
            system_prompt=self.system_prompt.toPlainText().strip(),
            character=self.character_page.selected_id() or self._original.character,
            local_voice=self.voice_picker.voice(),
            character_voices=self._character_voice.chosen(),
            extra=dict(self._original.extra),
        ).validated()

    @Slot()
    def _on_test(self) -> None:
        self.test_voice_requested.emit(self.edited())
