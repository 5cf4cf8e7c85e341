# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings: round-trip, validation, the corrupt-file path, environment overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from companion import config
from companion.config import Settings, load_settings, save_settings


def test_missing_file_gives_defaults_without_a_notice() -> None:
    result = load_settings()
    assert result.settings == Settings()
    assert result.notice is None


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    original = Settings(
        speed=1.5,
        volume=0.25,
        output_device="USB",
        engine="espeak",
        queue_mode="queue",
        always_on_top=False,
        position=[10, 20],
        scale="large",
        crash_reports=False,
        extra={"from_the_future": 1},
    )
    assert save_settings(original) is None
    assert load_settings().settings == original
    on_disk = json.loads(config.settings_path().read_text(encoding="utf-8"))
    assert on_disk["version"] == config.SETTINGS_VERSION
    assert on_disk["from_the_future"] == 1  # unknown keys survive a save


def test_out_of_range_values_are_forced_back() -> None:
    config.settings_path().parent.mkdir(parents=True)
    config.settings_path().write_text(
        json.dumps({"speed": 9, "volume": -1, "scale": "huge", "queue_mode": 3, "position": "x"})
    )
    s = load_settings().settings
    assert (s.speed, s.volume, s.scale, s.queue_mode, s.position) == (
        2.0,
        0.0,
        "medium",
        "interrupt",
        None,
    )


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00junk", b"[1, 2, 3]", b""])
def test_corrupt_file_gives_defaults_a_notice_and_is_kept_aside(content: bytes) -> None:
    path = config.settings_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    result = load_settings()
    assert result.settings == Settings()
    assert result.notice is not None and "damaged" in result.notice
    kept = [p for p in path.parent.iterdir() if p.name.startswith("settings.json.corrupt-")]
    assert len(kept) == 1 and kept[0].read_bytes() == content
    assert kept[0].name in result.notice
    assert not path.exists()


def test_future_version_keeps_known_fields_and_says_so() -> None:
    path = config.settings_path()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": 99, "speed": 1.25, "hologram": True}))
    result = load_settings()
    assert result.settings.speed == 1.25
    assert result.settings.extra == {"hologram": True}
    assert result.notice is not None and "newer" in result.notice


def test_unwritable_folder_gives_a_notice_not_an_exception(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    notice = save_settings(Settings(), blocker / "settings.json")  # parent is a file
    assert notice is not None and "could not be saved" in notice


def test_environment_wins_over_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings(backend_url="https://from-settings.example/", sentry_dsn="dsn-settings")
    assert config.backend_url(s) == "https://from-settings.example"
    monkeypatch.setenv("COMPANION_BACKEND_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("COMPANION_SENTRY_DSN", "dsn-env")
    assert config.backend_url(s) == "http://127.0.0.1:9/v1"
    assert config.sentry_dsn(s) == "dsn-env"


def test_response_format_is_one_of_the_choices() -> None:
    assert Settings().response_format == "auto"
    assert Settings(response_format="aac").validated().response_format == "auto"
    assert Settings(response_format="pcm").validated().response_format == "pcm"


def test_voice_precision_defaults_to_int8_and_is_checked() -> None:
    assert Settings().voice_precision == "int8"
    assert Settings(voice_precision="fp32").validated().voice_precision == "fp32"
    assert Settings(voice_precision="fp16").validated().voice_precision == "int8"
