# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings → Voice: the voices with language and quality; Add… checks before it keeps."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from companion.speech.voices import voices_dir
from companion.ui.voice_picker import VoicePicker
from tests.support.packs import GERMAN_ID, german_voice


def _rows(picker: VoicePicker) -> list[tuple[str, str, str]]:
    tree = picker.tree
    out = []
    for r in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(r)
        assert item is not None
        out.append((item.text(0), item.text(1), item.text(2)))
    return out


@pytest.fixture
def picker(qtbot: QtBot) -> VoicePicker:
    p = VoicePicker(current="", confirm=lambda _q: True)
    qtbot.add_widget(p)
    return p


def _add(qtbot: QtBot, picker: VoicePicker, model: Path) -> None:
    picker.add(model)
    assert picker.checking
    qtbot.wait_until(lambda: not picker.checking, timeout=60000)


def test_the_built_in_voice_with_its_language_and_quality(picker: VoicePicker) -> None:
    assert _rows(picker) == [("en_US-joe-medium (built in)", "English (United States)", "medium")]
    assert picker.voice() == "" and not picker.remove_button.isEnabled()
    assert picker.installed() == [""] and picker.builtin_id() == "en_US-joe-medium"


def test_add_checks_copies_lists_and_selects_the_voice(
    qtbot: QtBot, picker: VoicePicker, tmp_path: Path
) -> None:
    with qtbot.wait_signal(picker.voice_changed, timeout=60000) as changed:
        _add(qtbot, picker, german_voice(tmp_path / "downloads"))
    assert changed.args == [GERMAN_ID]
    assert _rows(picker)[1] == (GERMAN_ID, "German (Germany)", "medium")
    assert picker.voice() == GERMAN_ID and picker.remove_button.isEnabled()
    assert picker.status.text() == f"Added {GERMAN_ID} (German (Germany), medium)."
    assert (voices_dir() / f"{GERMAN_ID}.onnx").is_file()


def test_a_bad_voice_is_not_added_and_says_why(
    qtbot: QtBot, picker: VoicePicker, tmp_path: Path
) -> None:
    model = german_voice(tmp_path, phoneme_type="pinyin")
    with qtbot.assert_not_emitted(picker.voice_changed):
        _add(qtbot, picker, model)
    assert picker.status.text().startswith("Not added: ")
    assert "pinyin phonemiser" in picker.status.text()
    assert len(_rows(picker)) == 1 and not voices_dir().exists()
    garbage = tmp_path / "xx-garbage-low.onnx"
    garbage.write_bytes(b"not a model" * 50)
    config = Path(f"{model}.json").read_text().replace("pinyin", "espeak")
    Path(f"{garbage}.json").write_text(config)
    _add(qtbot, picker, garbage)
    assert "could not be loaded" in picker.status.text() and len(_rows(picker)) == 1


def test_a_broken_voice_dropped_in_the_folder_is_listed_greyed_out(qtbot: QtBot) -> None:
    german_voice(voices_dir(), "de_DE-nosound-low", audio={"quality": "low"})
    picker = VoicePicker(current="de_DE-nosound-low")
    qtbot.add_widget(picker)
    assert _rows(picker)[1] == ("de_DE-nosound-low.onnx", "cannot be used", "")
    assert picker.voice() == ""  # the broken voice cannot be chosen


def test_remove(qtbot: QtBot, picker: VoicePicker, tmp_path: Path) -> None:
    _add(qtbot, picker, german_voice(tmp_path / "downloads"))
    with qtbot.wait_signal(picker.voice_changed) as changed:
        picker.remove_button.click()
    assert changed.args == [""] and len(_rows(picker)) == 1
    assert not (voices_dir() / f"{GERMAN_ID}.onnx").exists()
