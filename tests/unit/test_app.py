# SPDX-License-Identifier: GPL-3.0-or-later
"""The composition root, in the test process: greeting, notices, IPC, menu wiring, shut-down."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from companion import config
from companion.app import AppOptions, Companion, ensure_qapp
from companion.replies import ipc

# WORKAROUND for the offscreen platform: Qt raises Tool windows when they are shown (and
# propagates size hints for dialogs), and the offscreen plugin answers each with a warning
# (QPlatformWindow defaults, qtbase src/gui/kernel/qplatformwindow.cpp). Real platforms do not.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (raise|propagateSizeHints)")


def _write_settings(cfg: Path, **values: Any) -> None:
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "settings.json").write_text(json.dumps({"engine": "espeak", **values}))


@pytest.fixture
def make_app(qtbot: QtBot) -> Iterator[Callable[..., Companion]]:
    apps: list[Companion] = []

    def make(**options: Any) -> Companion:
        opts = AppOptions(signals=False, telemetry=False, **options)
        app = Companion(qapp=ensure_qapp(), options=opts)
        qtbot.add_widget(app.window)
        apps.append(app)
        assert app.start()
        return app

    yield make
    for app in apps:
        app.shutdown()


def test_first_start_greets_aloud_and_remembers(
    qtbot: QtBot, make_app: Callable[..., Companion], _private_config_dir: Path
) -> None:
    _write_settings(_private_config_dir)
    app = make_app()
    assert app.window.isVisible()
    with qtbot.wait_signal(app.router.reply_finished, timeout=30000):
        pass
    assert app.router.last_reply is not None and app.router.last_reply.source == "greeting"
    assert config.load_settings().settings.greeted is True


def test_no_greeting_once_greeted(
    qtbot: QtBot, make_app: Callable[..., Companion], _private_config_dir: Path
) -> None:
    _write_settings(_private_config_dir, greeted=True)
    app = make_app()
    qtbot.wait_until(lambda: bool(app.engine_name), timeout=30000)  # the engine warmed up
    assert app.router.current_reply is None and app.router.last_reply is None


def test_a_corrupt_settings_file_gives_a_notice(
    qtbot: QtBot, make_app: Callable[..., Companion], _private_config_dir: Path
) -> None:
    _private_config_dir.mkdir(parents=True)
    (_private_config_dir / "settings.json").write_text("{ broken")
    app = make_app(greet=False)
    assert "damaged" in app.window.bubble.text()
    assert app.settings.engine == "auto"


def test_say_over_ipc_reaches_the_mascot(
    qtbot: QtBot, make_app: Callable[..., Companion], _private_config_dir: Path
) -> None:
    _write_settings(_private_config_dir, greeted=True)
    app = make_app()
    answers: list[Any] = []
    with qtbot.wait_signal(app.router.reply_started, timeout=30000):
        # The client blocks on a plain socket (GIL released) while the GUI thread serves it.
        thread = threading.Thread(
            target=lambda: answers.append(
                ipc.send_request({"cmd": "say", "text": "Hello from the terminal."})
            )
        )
        thread.start()
    qtbot.wait_until(lambda: not thread.is_alive())
    assert answers == [{"ok": True, "pid": os.getpid()}]
    assert app.router.current_reply is not None
    assert app.router.current_reply.text == "Hello from the terminal."
    assert app.router.current_reply.source == "say"


def test_a_second_mascot_defers_to_the_first(
    qtbot: QtBot, make_app: Callable[..., Companion], _private_config_dir: Path
) -> None:
    _write_settings(_private_config_dir, greeted=True)
    first = make_app()
    assert first.ipc is not None and first.ipc.listening
    second = Companion(qapp=ensure_qapp(), options=AppOptions(signals=False, telemetry=False))
    qtbot.add_widget(second.window)
    # start() asks the running one to show itself over IPC; the client blocks, so the
    # "show" is served only after it gives up: what matters is that this one stands down.
    assert second.start() is False
    second.shutdown()
    assert first.ipc.listening


def test_menu_items_drive_the_mascot(
    qtbot: QtBot, make_app: Callable[..., Companion], _private_config_dir: Path
) -> None:
    _write_settings(_private_config_dir, greeted=True)
    app = make_app()
    actions = app.menu.actions
    actions["mute"].trigger()
    assert app.settings.muted and app.player.muted
    actions["always_on_top"].trigger()
    assert app.settings.always_on_top is False
    actions["show_hide"].trigger()
    assert not app.window.isVisible()
    assert actions["show_hide"].text() == "Show"
    actions["show_hide"].trigger()
    assert app.window.isVisible()
    with qtbot.wait_signal(app.router.reply_finished, timeout=30000):
        actions["replay"].trigger()  # nothing yet: says so
        app.read_aloud.editor.setPlainText("Read this aloud.")
        app.read_aloud.submit()
    assert app.router.last_reply is not None and app.router.last_reply.text == "Read this aloud."
    actions["settings"].trigger()
    assert app.settings_flow.dialog is not None
    app.settings_flow.dialog.reject()
    with qtbot.wait_signal(app.shut_down, timeout=5000):
        actions["quit"].trigger()
    assert not app.speech_thread.isRunning()
    saved = config.load_settings().settings
    assert saved.muted is True and saved.always_on_top is False


def test_settings_dialog_applies_and_saves(
    qtbot: QtBot, make_app: Callable[..., Companion], _private_config_dir: Path
) -> None:
    _write_settings(_private_config_dir, greeted=True)
    app = make_app()
    app.open_settings()
    dialog = app.settings_flow.dialog
    assert dialog is not None
    dialog.volume.setValue(30)
    dialog.queue_mode.setCurrentIndex(dialog.queue_mode.findData("queue"))
    dialog.accept()
    assert app.player.volume == pytest.approx(0.3)
    assert app.settings.queue_mode == "queue"
    assert config.load_settings().settings.volume == pytest.approx(0.3)


def test_shutdown_is_ordered_and_runs_once(
    qtbot: QtBot, make_app: Callable[..., Companion], _private_config_dir: Path
) -> None:
    _write_settings(_private_config_dir, greeted=True)
    app = make_app()
    with qtbot.wait_signal(app.router.reply_started, timeout=30000):
        app.router.say("A long reply. " * 20, force=True)
    with qtbot.wait_signal(app.shut_down, timeout=5000):
        app.shutdown()
    assert not app.speech_thread.isRunning()
    assert not app.player.playing
    assert app.ipc is not None and not app.ipc.listening
    with qtbot.assert_not_emitted(app.shut_down):
        app.shutdown()
    assert isinstance(QApplication.instance(), QApplication)


def test_a_server_without_a_voice_gets_one_notice_offering_settings(
    qtbot: QtBot,
    make_app: Callable[..., Companion],
    _private_config_dir: Path,
    reference_backend: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The embedded voice takes over (speech/fallback.py); the notice waits for the reply to end
    and its button opens Settings; a change of response format builds a new engine."""
    reference_backend.speech.route = False
    monkeypatch.setenv("COMPANION_TOKEN", reference_backend.token)
    _write_settings(
        _private_config_dir, greeted=True, engine="auto", backend_url=reference_backend.openai_url
    )
    app = make_app()
    shown: list[tuple[str, str, str | None]] = []
    real = app.window.bubble.show_message

    def spy(text: str, *, kind: str = "info", action: str | None = None) -> None:
        shown.append((text, kind, action))
        real(text, kind=kind, action=action)

    app.window.bubble.show_message = spy  # type: ignore[method-assign]
    with qtbot.wait_signal(app.router.reply_finished, timeout=60000):
        app.router.say("Hello without a server voice.")
    qtbot.wait_until(lambda: any(a == "settings" for _t, _k, a in shown), timeout=5000)
    (notice,) = [s for s in shown if s[2] == "settings"]
    assert notice[1] == "info" and "no voice" in notice[0]
    assert app.router.last_reply is not None
    app._on_bubble_action("settings")
    dialog = app.settings_flow.dialog
    assert dialog is not None
    dialog.response_format.setCurrentIndex(dialog.response_format.findData("wav"))
    old = app.worker._pipeline
    dialog.accept()
    assert app.settings.response_format == "wav"
    # A new engine (built by the warm-up in the speech thread) will ask the server again.
    qtbot.wait_until(lambda: app.worker._pipeline not in (None, old), timeout=30000)
