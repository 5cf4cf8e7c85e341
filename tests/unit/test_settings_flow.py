# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings applied to the running mascot: the character switched live, each character's
voice and speed, a pack that broke meanwhile, removing the character on screen."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from companion import config
from companion.app import AppOptions, Companion, ensure_qapp
from companion.characters.store import BUILTIN_ID, CharacterStore
from companion.speech.voices import voices_dir
from tests.support.packs import EXAMPLE, GERMAN_ID, german_voice

# WORKAROUND for the offscreen platform (see tests/unit/test_app.py).
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (raise|propagateSizeHints)")


@pytest.fixture
def make_app(qtbot: QtBot, _private_config_dir: Path) -> Iterator[Callable[..., Companion]]:
    apps: list[Companion] = []

    def make(**settings: Any) -> Companion:
        _private_config_dir.mkdir(parents=True, exist_ok=True)
        values = {"engine": "piper", "greeted": True, **settings}
        (_private_config_dir / "settings.json").write_text(json.dumps(values))
        app = Companion(qapp=ensure_qapp(), options=AppOptions(signals=False, telemetry=False))
        qtbot.add_widget(app.window)
        apps.append(app)
        assert app.start()
        return app

    yield make
    for app in apps:
        app.shutdown()


def test_choosing_a_character_swaps_the_art_live_and_moves_the_bubble(
    qtbot: QtBot, make_app: Callable[..., Companion]
) -> None:
    CharacterStore().install(EXAMPLE)
    app = make_app()
    view = app.window.view
    assert view.art.character.id == BUILTIN_ID
    anchor_before = view.bubble_anchor()
    app.open_settings()
    dialog = app.settings_flow.dialog
    assert dialog is not None
    dialog.character_page.set_selected("miso")
    assert dialog.speed.value() == pytest.approx(1.1)  # Miso's own speed
    with qtbot.wait_signal(view.art_changed):
        dialog.accept()
    assert view.art.character.id == "miso" and app.settings.character == "miso"
    assert view.bubble_anchor() != anchor_before
    assert app.settings.speed == pytest.approx(1.1)
    saved = config.load_settings().settings
    assert saved.character == "miso" and saved.character_voices == {}
    # The mouth still follows speech with the new art.
    shapes: list[str] = []
    view.mouth_changed.connect(lambda shape, _o: shapes.append(shape))
    with qtbot.wait_signal(app.router.reply_finished, timeout=60000):
        app.router.say("Hello, I am Miso.", force=True)
    assert len(set(shapes) - {"sil"}) >= 3


def test_each_character_keeps_the_voice_and_speed_the_user_gives_it(
    qtbot: QtBot, make_app: Callable[..., Companion]
) -> None:
    CharacterStore().install(EXAMPLE)
    german_voice(voices_dir())
    app = make_app()
    app.open_settings()
    dialog = app.settings_flow.dialog
    assert dialog is not None
    dialog.character_page.set_selected("miso")
    dialog.voice_picker.set_voice(GERMAN_ID)
    dialog.speed.setValue(1.3)
    dialog.character_page.set_selected(BUILTIN_ID)
    assert dialog.voice_picker.voice() == "" and dialog.speed.value() == pytest.approx(1.0)
    dialog.character_page.set_selected("miso")
    assert dialog.voice_picker.voice() == GERMAN_ID and dialog.speed.value() == pytest.approx(1.3)
    made: list[str] = []  # engine_ready comes from the speech thread: count, then wait
    app.worker.engine_ready.connect(made.append)
    dialog.accept()  # a new default voice: the engine is made again in the speech thread
    qtbot.wait_until(lambda: len(made) == 1, timeout=60000)
    assert (app.settings.local_voice, app.settings.speed) == (GERMAN_ID, pytest.approx(1.3))
    assert app.settings.character_voices == {"miso": {"voice": GERMAN_ID, "speed": 1.3}}
    assert config.load_settings().settings.character_voices == app.settings.character_voices


def test_a_pack_that_broke_meanwhile_leaves_the_current_character(
    qtbot: QtBot, make_app: Callable[..., Companion]
) -> None:
    entry = CharacterStore().install(EXAMPLE)
    app = make_app()
    app.open_settings()
    dialog = app.settings_flow.dialog
    assert dialog is not None
    dialog.character_page.set_selected("miso")
    (entry.path / "mouth" / "D.svg").unlink()  # between choosing and applying
    with qtbot.wait_signal(app.settings_flow.notice) as notice:
        dialog.accept()
    assert "no layer mouth/D" in notice.args[0]
    assert app.window.view.art.character.id == BUILTIN_ID
    assert app.settings.character == BUILTIN_ID
    assert "could not be shown" in app.window.bubble.text()


def test_a_broken_character_at_start_shows_the_built_in_one_and_says_why(
    make_app: Callable[..., Companion],
) -> None:
    entry = CharacterStore().install(EXAMPLE)
    shutil.rmtree(entry.path / "eyes")
    app = make_app(character="miso")
    assert app.window.view.art.character.id == BUILTIN_ID
    assert "Your character could not be shown" in app.window.bubble.text()
    assert "no layer eyes/closed" in app.window.bubble.text()


def test_removing_the_character_on_screen_shows_the_built_in_one(
    qtbot: QtBot, make_app: Callable[..., Companion]
) -> None:
    CharacterStore().install(EXAMPLE)
    app = make_app(character="miso")
    assert app.window.view.art.character.id == "miso"
    app.open_settings()
    dialog = app.settings_flow.dialog
    assert dialog is not None
    page = dialog.character_page
    page._confirm = lambda _q: True
    page.set_selected("miso")
    page.remove_button.click()
    assert app.window.view.art.character.id == BUILTIN_ID
    assert config.load_settings().settings.character == BUILTIN_ID
    dialog.reject()


def test_refusing_plain_http_reaches_the_guard_and_its_warning_the_bubble(
    qtbot: QtBot, make_app: Callable[..., Companion], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The setting at start and from the dialog; the once-per-backend warning, made in a
    network thread, is the bubble's notice."""
    import threading

    from companion.backend import headers

    monkeypatch.delenv(headers.ENV_REFUSE_PLAIN_HTTP, raising=False)
    headers.reset()
    app = make_app(refuse_plain_http=True)
    try:
        assert headers.refuse_plain_http()
        app.open_settings()
        dialog = app.settings_flow.dialog
        assert dialog is not None and dialog.refuse_plain_http.isChecked()
        dialog.refuse_plain_http.setChecked(False)
        dialog.accept()
        assert not headers.refuse_plain_http() and not app.settings.refuse_plain_http
        assert config.load_settings().settings.refuse_plain_http is False
        with qtbot.wait_signal(app.settings_flow.notice) as told:
            thread = threading.Thread(
                target=headers.went_out, args=("http://192.0.2.9", {"Authorization": "Bearer x"})
            )
            thread.start()
            thread.join()
        assert told.args == [headers.plain_http_line("http://192.0.2.9")]
        qtbot.wait_until(lambda: "plain HTTP" in app.window.bubble.text())
    finally:
        headers.reset()
