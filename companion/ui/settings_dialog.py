# SPDX-License-Identifier: GPL-3.0-or-later
"""The settings dialog, in pages: Voice (engine, the local voices ``ui/voice_picker.py``, speed,
volume, output device), Backend and account (address checked as typed, ``ui/settings_rows.py``),
Chat, Appearance, Character (``ui/character_page.py``) and Privacy (crash reports, only where
a DSN is configured).

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
    QVBoxLayout,
    QWidget,
)

from companion.characters.store import CharacterStore
from companion.config import RESPONSE_FORMATS, SCALES, Settings
from companion.ui.character_page import CharacterPage
from companion.ui.character_voice import CharacterVoiceLink
from companion.ui.settings_pages import PageList
from companion.ui.settings_rows import BackendUrlField, crash_reports_row
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
ACCOUNT_NOTE = (
    "Signing in is needed only for a server that asks for it: use Sign in… in the mascot's "
    "menu. The built-in voice needs no server and no account."
)


def _form() -> QFormLayout:
    form = QFormLayout()
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return form


def _page(form: QFormLayout) -> QWidget:
    """A page: its rows at the top, combo boxes free to narrow (the dialog fits small screens)."""
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.addLayout(form)
    layout.addStretch(1)
    for combo in page.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(16)
    return page


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


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
        voice_form, backend_form, chat_form, look_form, privacy_form = (
            _form() for _ in range(5)
        )

        # -- Voice: which voice speaks, how fast and loud, where to.
        self.engine = QComboBox()
        self.engine.addItem("The backend's voice, else the built-in one", "auto")
        self.engine.addItem("Built-in voice (Piper)", "piper")
        self.engine.addItem("Built-in voice (espeak-ng)", "espeak")
        self.engine.setToolTip(
            "Chat-only servers (Ollama, llama.cpp) have no voice: the built-in one speaks."
        )
        self.engine.setCurrentIndex(max(0, self.engine.findData(settings.engine)))
        voice_form.addRow("Voice engine", self.engine)
        self.voice_picker = VoicePicker(current=settings.local_voice, folder=voice_folder)
        voice_form.addRow("Built-in voices", self.voice_picker)
        self.voice_precision = QComboBox()
        for precision in precisions():
            self.voice_precision.addItem(PRECISION_LABELS[precision], precision)
        self.voice_precision.setToolTip(
            "The built-in Piper voice: int8 weights are a quarter of the size and sound the same."
        )
        index = self.voice_precision.findData(settings.voice_precision)
        self.voice_precision.setCurrentIndex(max(0, index))
        voice_form.addRow("Built-in voice model", self.voice_precision)

        self.speed = QDoubleSpinBox()
        self.speed.setRange(0.5, 2.0)
        self.speed.setSingleStep(0.05)
        self.speed.setDecimals(2)
        self.speed.setSuffix(" x")
        self.speed.setValue(settings.speed)
        voice_form.addRow("Speed", self.speed)

        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setValue(round(settings.volume * 100))
        volume_label = QLabel(f"{self.volume.value()} %")
        self.volume.valueChanged.connect(lambda v: volume_label.setText(f"{v} %"))
        volume_row = QHBoxLayout()
        volume_row.addWidget(self.volume, 1)
        volume_row.addWidget(volume_label)
        voice_form.addRow("Volume", volume_row)

        self.device = QComboBox()
        self.device.addItem("System default", "")
        for name in devices():
            self.device.addItem(name, name)
        if settings.output_device and self.device.findData(settings.output_device) < 0:
            self.device.addItem(f"{settings.output_device} (not connected)", settings.output_device)
        self.device.setCurrentIndex(max(0, self.device.findData(settings.output_device)))
        voice_form.addRow("Output device", self.device)

        # -- Backend and account: the server, its voice and audio format.
        self.backend_url_field = BackendUrlField(settings)
        self.backend_url = self.backend_url_field.edit
        backend_form.addRow("Backend URL", self.backend_url_field)
        self.voice = QComboBox()
        self.voice.setEditable(True)
        self.voice.addItem("")
        self.voice.addItems(BACKEND_VOICES)
        self.voice.setCurrentText(settings.voice)
        voice_edit = self.voice.lineEdit()
        if voice_edit is not None:
            voice_edit.setPlaceholderText("the server's default voice")
        backend_form.addRow("Backend voice", self.voice)
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
        backend_form.addRow("Response format", self.response_format)
        self.refuse_plain_http = QCheckBox("Refuse plain HTTP to another machine")
        self.refuse_plain_http.setToolTip(
            "Never send the sign-in token over http:// to a server that is not this computer "
            "(it would travel unencrypted); 127.0.0.1 and localhost are always allowed."
        )
        self.refuse_plain_http.setChecked(settings.refuse_plain_http)
        backend_form.addRow("Security", self.refuse_plain_http)
        backend_form.addRow(_note(ACCOUNT_NOTE))

        # -- Chat: the model, its instructions, and how replies are spoken.
        self.chat_model = QLineEdit(settings.chat_model)
        self.chat_model.setPlaceholderText("e.g. gpt-4o-mini, llama3.2")
        chat_form.addRow("Chat model", self.chat_model)
        self.system_prompt = QPlainTextEdit(settings.system_prompt)
        self.system_prompt.setTabChangesFocus(True)
        self.system_prompt.setFixedHeight(self.system_prompt.fontMetrics().lineSpacing() * 5)
        chat_form.addRow("System prompt", self.system_prompt)
        self.autoplay = QCheckBox("Speak every reply as it arrives")
        self.autoplay.setChecked(settings.autoplay)
        chat_form.addRow("Autoplay", self.autoplay)
        self.queue_mode = QComboBox()
        self.queue_mode.addItem("Interrupt the current reply", "interrupt")
        self.queue_mode.addItem("Wait for the current reply", "queue")
        self.queue_mode.setCurrentIndex(max(0, self.queue_mode.findData(settings.queue_mode)))
        chat_form.addRow("A new reply", self.queue_mode)

        # -- Appearance: the mascot's size and whether it stays above other windows.
        self.always_on_top = QCheckBox("Keep the mascot above other windows")
        self.always_on_top.setChecked(settings.always_on_top)
        look_form.addRow("Always on top", self.always_on_top)
        self.scale = QComboBox()
        for name in SCALES:
            self.scale.addItem(name.capitalize(), name)
        self.scale.setCurrentIndex(max(0, self.scale.findData(settings.scale)))
        look_form.addRow("Size", self.scale)

        # -- Privacy: crash reports (only where there is somewhere to send them).
        self.crash_reports, self.crash_reports_note = crash_reports_row(settings)
        privacy_form.addRow(self.crash_reports)
        privacy_form.addRow(self.crash_reports_note)

        self.test_button = QPushButton("Test voice")
        self.test_button.clicked.connect(self._on_test)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.addButton(self.test_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.backend_url_field.validity_changed.connect(self._update_ok)

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
        self.pages = PageList()
        self.pages.add("Voice", _page(voice_form))
        self.pages.add("Backend and account", _page(backend_form))
        self.pages.add("Chat", _page(chat_form))
        self.pages.add("Appearance", _page(look_form))
        self.pages.add("Character", self.character_page)
        self.pages.add("Privacy", _page(privacy_form))

        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.buttons)
        self._update_ok()
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
            "refuse_plain_http": self.refuse_plain_http,
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
            crash_reports=(
                self.crash_reports.isChecked()
                if self.crash_reports.isEnabled()
                else self._original.crash_reports  # kept for when a DSN is set
            ),
            backend_url=self.backend_url_field.value(),
            refuse_plain_http=self.refuse_plain_http.isChecked(),
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
    def _update_ok(self, *_args: object) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        if ok is not None:
            ok.setEnabled(self.backend_url_field.valid)

    def accept(self) -> None:
        """OK (or Enter): refused while the backend address cannot be used (its page shows)."""
        if not self.backend_url_field.valid:
            self.pages.show_page("Backend and account")
            self.backend_url.setFocus()
            return
        super().accept()

    @Slot()
    def _on_test(self) -> None:
        self.test_voice_requested.emit(self.edited())
