# SPDX-License-Identifier: GPL-3.0-or-later
"""A voice added in Settings → Voice → Add…, then used by ``companion speak --voice``.

The voice is the German test voice (joe's model with a German config: tests/support/packs.py
says why); it is added through the real voice list (the test sentence is spoken, the files
copied in), then a real ``python -m companion speak`` process speaks with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from pytestqt.qtbot import QtBot

from companion.ui.voice_picker import VoicePicker
from tests.e2e.test_speak_cli import ROOT, TIMEOUT, _env
from tests.support.packs import GERMAN_ID, german_voice

TEXT = "Guten Morgen! Heute ist ein schöner Tag, siehe https://example.org."


def _speak(config: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "companion", "speak", *args],
        input=b"",
        capture_output=True,
        env=_env(config),
        cwd=ROOT,
        timeout=TIMEOUT,
    )


def _spoken(config: Path, out: Path, *args: str) -> tuple[np.ndarray, list[dict[str, object]]]:
    wav, visemes = out.with_suffix(".wav"), out.with_suffix(".json")
    result = _speak(config, TEXT, "--output", str(wav), "--visemes", str(visemes), *args)
    assert result.returncode == 0, result.stderr.decode()
    audio, rate = soundfile.read(str(wav), dtype="float32")
    assert rate == 22050 and len(audio) > rate
    return audio, json.loads(visemes.read_text())


def test_a_voice_added_in_settings_speaks_with_companion_speak(
    qtbot: QtBot, tmp_path: Path, _private_config_dir: Path
) -> None:
    picker = VoicePicker(current="")
    qtbot.add_widget(picker)
    picker.add(german_voice(tmp_path / "downloads"))
    qtbot.wait_until(lambda: not picker.checking, timeout=60000)
    assert picker.voice() == GERMAN_ID, picker.status.text()

    german, german_cues = _spoken(_private_config_dir, tmp_path / "de", "--voice", GERMAN_ID)
    english, english_cues = _spoken(_private_config_dir, tmp_path / "en")
    # The German reading is another sound and another mouth; "ein Link" is said for the URL.
    assert len(german) != len(english) or not np.allclose(german, english)
    assert german_cues != english_cues
    assert float(np.max(np.abs(german))) > 0.1


def test_an_unknown_voice_name_exits_1_naming_it(tmp_path: Path, _private_config_dir: Path) -> None:
    wav = tmp_path / "x.wav"
    result = _speak(_private_config_dir, TEXT, "--output", str(wav), "--voice", "xx_XX-nobody-low")
    lines = [line for line in result.stderr.decode().splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1, result.stderr.decode()
    assert "\u201cxx_XX-nobody-low\u201d" in lines[0] and not wav.exists()


@pytest.mark.parametrize("engine", ["espeak"])
def test_the_espeak_fallback_reads_in_the_chosen_voices_language(
    tmp_path: Path, _private_config_dir: Path, engine: str
) -> None:
    german_voice(_private_config_dir / "data" / "voices")
    (_private_config_dir / "settings.json").write_text(
        json.dumps({"engine": engine, "local_voice": GERMAN_ID})
    )
    german, _ = _spoken(_private_config_dir, tmp_path / "de")
    (_private_config_dir / "settings.json").write_text(json.dumps({"engine": engine}))
    english, _ = _spoken(_private_config_dir, tmp_path / "en")
    assert len(german) != len(english)
