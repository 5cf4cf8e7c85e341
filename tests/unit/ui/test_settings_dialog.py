# SPDX-License-Identifier: GPL-3.0-or-later
"""The settings dialog, and settings surviving a save and a load."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QPushButton
from pytestqt.qtbot import QtBot

from companion import config
from companion.config import Settings
from companion.ui.settings_dialog import SettingsDialog


def _dialog(qtbot: QtBot, settings: Settings, devices: list[str] | None = None) -> SettingsDialog:
    dialog = SettingsDialog(settings=settings, devices=lambda: list(devices or []))
    qtbot.add_widget(dialog)
    return dialog


def test_shows_the_current_settings(qtbot: QtBot) -> None:
    s = Settings(voice="nova", speed=1.25, volume=0.4, output_device="Speakers",
                 autoplay=False, queue_mode="queue", always_on_top=False, scale="large",
                 crash_reports=False, backend_url="https://example.invalid",
                 chat_model="llama3.2", system_prompt="Be terse.", engine="piper")  # fmt: skip
    d = _dialog(qtbot, s, ["Speakers", "Headphones"])
    assert d.voice.currentText() == "nova"
    assert d.speed.value() == pytest.approx(1.25)
    assert d.volume.value() == 40
    assert d.device.currentData() == "Speakers"
    assert not d.autoplay.isChecked()
    assert d.queue_mode.currentData() == "queue"
    assert not d.always_on_top.isChecked()
    assert d.scale.currentData() == "large"
    assert not d.crash_reports.isChecked()
    assert d.backend_url.text() == "https://example.invalid"
    assert d.chat_model.text() == "llama3.2"
    assert d.engine.currentData() == "piper"
    assert d.system_prompt.toPlainText() == "Be terse."
    assert d.edited() == s


def test_edits_make_new_settings_and_leave_the_original(qtbot: QtBot) -> None:
    original = Settings()
    d = _dialog(qtbot, original, ["Headphones"])
    d.voice.setCurrentText("echo")
    d.speed.setValue(0.8)
    d.volume.setValue(70)
    d.device.setCurrentIndex(d.device.findData("Headphones"))
    d.autoplay.setChecked(False)
    d.queue_mode.setCurrentIndex(d.queue_mode.findData("queue"))
    d.scale.setCurrentIndex(d.scale.findData("small"))
    qtbot.keyClicks(d.backend_url, "http://127.0.0.1:9")
    d.chat_model.setText("qwen2.5:3b")
    d.engine.setCurrentIndex(d.engine.findData("espeak"))
    d.system_prompt.setPlainText("  Answer in French.  ")
    new = d.edited()
    assert (new.voice, new.speed, new.volume, new.output_device) == ("echo", 0.8, 0.7, "Headphones")
    assert (new.autoplay, new.queue_mode, new.scale) == (False, "queue", "small")
    assert new.backend_url == "http://127.0.0.1:9"
    assert (new.chat_model, new.system_prompt) == ("qwen2.5:3b", "Answer in French.")
    assert new.engine == "espeak"
    d.chat_model.setText("")
    assert d.edited().chat_model == original.chat_model  # a model name is required
    assert original == Settings()


def test_a_missing_device_stays_selected(qtbot: QtBot) -> None:
    d = _dialog(qtbot, Settings(output_device="USB headset"), [])
    assert d.device.currentData() == "USB headset"
    assert "not connected" in d.device.currentText()


def test_test_voice_sends_the_values_on_screen(qtbot: QtBot) -> None:
    d = _dialog(qtbot, Settings())
    d.speed.setValue(1.5)
    with qtbot.wait_signal(d.test_voice_requested) as blocker:
        qtbot.mouseClick(d.test_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].speed == 1.5


def test_ok_and_cancel(qtbot: QtBot) -> None:
    d = _dialog(qtbot, Settings())
    box = d.findChild(QDialogButtonBox)
    assert box is not None
    with qtbot.wait_signal(d.accepted):
        qtbot.mouseClick(box.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    d2 = _dialog(qtbot, Settings())
    box2 = d2.findChild(QDialogButtonBox)
    assert box2 is not None
    with qtbot.wait_signal(d2.rejected):
        qtbot.mouseClick(
            box2.button(QDialogButtonBox.StandardButton.Cancel), Qt.MouseButton.LeftButton
        )


def test_settings_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    s = Settings(voice="nova", speed=1.3, volume=0.25, output_device="Speakers", autoplay=False,
                 queue_mode="queue", always_on_top=False, position=[10, 20], scale="small",
                 crash_reports=False, greeted=True)  # fmt: skip
    assert config.save_settings(s, path) is None
    loaded = config.load_settings(path)
    assert loaded.notice is None
    assert loaded.settings == s


def test_a_corrupt_file_gives_defaults_a_notice_and_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{ not json")
    loaded = config.load_settings(path)
    assert loaded.settings == Settings()
    assert loaded.notice and "damaged" in loaded.notice
    assert list(tmp_path.glob("settings.json.corrupt-*"))


@pytest.mark.parametrize("choice", config.RESPONSE_FORMATS)
def test_the_response_format_row(qtbot: QtBot, choice: str, tmp_path: Path) -> None:
    d = _dialog(qtbot, Settings(response_format=choice))
    assert d.response_format.currentData() == choice
    assert d.response_format.count() == len(config.RESPONSE_FORMATS)
    d.response_format.setCurrentIndex(d.response_format.findData("flac"))
    edited = d.edited()
    assert edited.response_format == "flac"
    config.save_settings(edited, tmp_path / "s.json")
    assert config.load_settings(tmp_path / "s.json").settings.response_format == "flac"


def test_voice_precision_row(qtbot: QtBot) -> None:
    d = SettingsDialog(settings=Settings(voice_precision="fp32"), devices=list)
    qtbot.add_widget(d)
    assert d.voice_precision.currentData() == "fp32"
    d.voice_precision.setCurrentIndex(d.voice_precision.findData("int8"))
    assert d.edited().voice_precision == "int8"
    # A bundle that ships only the int8 voice offers only that one.
    only = SettingsDialog(
        settings=Settings(voice_precision="fp32"), devices=list, precisions=lambda: ("int8",)
    )
    qtbot.add_widget(only)
    assert only.voice_precision.count() == 1
    assert only.edited().voice_precision == "int8"


# -- pages, the backend address, the environment, crash reports ------------------------------------


def test_the_settings_are_grouped_into_pages(qtbot: QtBot) -> None:
    d = _dialog(qtbot, Settings())
    assert d.pages.names == [
        "Voice", "Backend and account", "Chat", "Appearance", "Character", "Privacy",
    ]  # fmt: skip
    where = {
        "Voice": [d.engine, d.voice_picker, d.voice_precision, d.speed, d.volume, d.device],
        "Backend and account": [d.backend_url, d.voice, d.response_format],
        "Chat": [d.chat_model, d.system_prompt, d.autoplay, d.queue_mode],
        "Appearance": [d.always_on_top, d.scale],
        "Privacy": [d.crash_reports],
    }
    for name, widgets in where.items():
        page = d.pages.page(name)
        assert all(page.isAncestorOf(w) for w in widgets), name
    d.pages.show_page("Chat")
    assert d.pages.current() == "Chat"


def _ok(d: SettingsDialog) -> QPushButton:
    button = d.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert button is not None
    return button


@pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")
@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("htp://127.0.0.1:8000", "must start with http:// or https://"),
        ("127.0.0.1:8000", "must start with http:// or https://"),
        ("http://", "has no server name"),
        ("http://127.0.0.1:99999", "port that is not a number from 1 to 65535"),
        ("http://my server", "has a space"),
    ],
)
def test_a_bad_backend_address_is_named_as_it_is_typed_and_ok_waits(
    qtbot: QtBot, typed: str, says: str
) -> None:
    d = _dialog(qtbot, Settings())
    d.show()
    d.pages.show_page("Backend and account")
    qtbot.keyClicks(d.backend_url, typed)
    message = d.backend_url_field.message
    assert says in message.text() and f"“{typed}”" in message.text()
    assert message.isVisible() and not _ok(d).isEnabled()
    d.accept()  # Enter, whatever the button says: refused
    assert d.isVisible() and d.result() != SettingsDialog.DialogCode.Accepted
    d.backend_url.clear()
    qtbot.keyClicks(d.backend_url, "https://api.example.com/v1")
    assert _ok(d).isEnabled() and message.text() == ""
    d.backend_url.clear()
    assert "built into Companion" in message.text() and _ok(d).isEnabled()


def test_an_address_set_by_the_environment_is_shown_as_such(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPANION_BACKEND_URL", "http://127.0.0.1:11434/v1")
    d = _dialog(qtbot, Settings(backend_url="https://saved.example"))
    assert d.backend_url.text() == "http://127.0.0.1:11434/v1" and d.backend_url.isReadOnly()
    assert "Set by COMPANION_BACKEND_URL" in d.backend_url_field.message.text()
    assert "built into" not in d.backend_url_field.message.text()
    assert d.edited().backend_url == "https://saved.example"  # the file keeps its own


def test_crash_reports_are_off_and_say_why_without_a_dsn(qtbot: QtBot) -> None:
    d = _dialog(qtbot, Settings(crash_reports=True))
    assert not d.crash_reports.isChecked() and not d.crash_reports.isEnabled()
    assert "COMPANION_SENTRY_DSN" in d.crash_reports_note.text()
    assert d.edited().crash_reports is True  # the choice waits for a DSN


def test_with_a_dsn_crash_reports_can_be_switched(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPANION_SENTRY_DSN", "https://key@127.0.0.1:9/1")
    d = _dialog(qtbot, Settings(crash_reports=True))
    assert d.crash_reports.isEnabled() and d.crash_reports.isChecked()
    d.crash_reports.setChecked(False)
    assert d.edited().crash_reports is False


def test_refuse_plain_http_is_a_checkbox_on_the_backend_page(qtbot: QtBot) -> None:
    d = _dialog(qtbot, Settings())
    assert not d.refuse_plain_http.isChecked()
    assert d.pages.page("Backend and account").isAncestorOf(d.refuse_plain_http)
    assert d.fields["refuse_plain_http"] is d.refuse_plain_http
    d.refuse_plain_http.setChecked(True)
    assert d.edited().refuse_plain_http is True
    assert _dialog(qtbot, Settings(refuse_plain_http=True)).refuse_plain_http.isChecked()


def test_refuse_plain_http_survives_a_save_and_a_load(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    assert config.save_settings(Settings(refuse_plain_http=True), path) is None
    assert config.load_settings(path).settings.refuse_plain_http is True
    path.write_text('{"refuse_plain_http": "yes"}')  # not a bool: the default
    assert config.load_settings(path).settings.refuse_plain_http is False
