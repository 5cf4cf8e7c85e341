# SPDX-License-Identifier: GPL-3.0-or-later
"""The chat panel with the real chat path (reference backend, espeak-ng, player, router)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QUrl
from pytestqt.qtbot import QtBot

from companion.app import AppOptions, Companion, ensure_qapp
from companion.replies.chat_controller import SIGN_IN_CANCELLED_NOTE, SIGNED_OUT_NOTE
from companion.replies.conversation import (
    ChatMessage,
    conversation_path,
    load_conversation,
)
from companion.ui.bubble_card import BORDER
from companion.ui.chat_panel import _STYLE, CURSOR, ChatPanel, message_html, render_markdown
from tests.support.chat_rig import ChatRig, make_chat_rig
from tests.support.reference_backend import ReferenceBackend
from tests.support.reference_chat import DEFAULT_REPLY, install_chat

# WORKAROUND for the offscreen platform: Qt raises Tool windows when they are shown, and the
# offscreen plugin answers with a warning (qtbase src/gui/kernel/qplatformwindow.cpp).
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (raise|propagateSizeHints)")


@pytest.fixture
def rig(qtbot: QtBot, reference_backend: ReferenceBackend) -> Iterator[Callable[..., ChatRig]]:
    install_chat(reference_backend)
    rigs: list[ChatRig] = []

    def make(**kw: Any) -> ChatRig:
        r = make_chat_rig(qtbot, reference_backend, **kw)
        rigs.append(r)
        return r

    yield make
    for r in rigs:
        r.close()


def _panel(qtbot: QtBot, r: ChatRig, opened: list[QUrl] | None = None) -> ChatPanel:
    panel = ChatPanel(
        controller=r.controller,
        open_url=(opened.append if opened is not None else lambda url: None),
        speaking=lambda: r.router.busy,
    )
    qtbot.add_widget(panel)
    panel.escape_pressed.connect(r.router.stop)
    panel.present()
    return panel


def _text(panel: ChatPanel) -> str:
    return panel.browser.toPlainText()


# -- rendering -----------------------------------------------------------------------------------


def test_markdown_is_rendered() -> None:
    html = render_markdown(
        "**bold**, *it*, `code`\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert "<strong>bold</strong>" in html and "<em>it</em>" in html and "<code>code</code>" in html
    assert "<li>one</li>" in html and '<table border="1"' in html


def test_rendering_is_safe() -> None:
    html = render_markdown(
        '<script>alert(1)</script> <img src="http://evil.example/x.png"> '
        "![a cat](http://evil.example/cat.png) [click](javascript:alert(1)) "
        "[file](file:///etc/passwd) [ok](https://example.com)"
    )
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert "[a cat]" in html and "evil.example/cat.png" not in html
    assert 'href="javascript' not in html and 'href="file' not in html
    assert '<a href="https://example.com">ok</a>' in html


def test_links_open_externally_only_when_safe(qtbot: QtBot, rig: Callable[..., ChatRig]) -> None:
    r = rig()
    opened: list[QUrl] = []
    panel = _panel(qtbot, r, opened)
    for url in (
        "https://example.com/a",
        "mailto:me@example.com",
        "javascript:alert(1)",
        "file:///etc",
    ):
        panel.browser.anchorClicked.emit(QUrl(url))
    assert [u.toString() for u in opened] == ["https://example.com/a", "mailto:me@example.com"]


def test_images_are_never_fetched(
    qtbot: QtBot, rig: Callable[..., ChatRig], reference_backend: ReferenceBackend
) -> None:
    r = rig()
    image = f"{reference_backend.url}/cat.png"
    r.controller.conversation.messages.append(
        ChatMessage("assistant", f"![cat]({image}) and <img src='{image}'>")
    )
    panel = _panel(qtbot, r)
    panel.redraw()
    assert "[cat]" in _text(panel)
    assert panel.browser.loadResource(2, QUrl(image)) is None
    assert not [q for q in reference_backend.requests if q.path == "/cat.png"]


# -- the reply as it streams -------------------------------------------------------------------


def test_the_reply_appears_as_it_streams_and_stop_stops_it(
    qtbot: QtBot, rig: Callable[..., ChatRig]
) -> None:
    r = rig()
    r.chat.script.hold_after = 12
    panel = _panel(qtbot, r)
    assert not panel.stop_button.isEnabled()
    qtbot.keyClicks(panel.input, "Say hello")
    qtbot.keyClick(panel.input, Qt.Key.Key_Return)
    assert panel.input.text() == ""
    qtbot.wait_until(lambda: "see you. I" in _text(panel), timeout=30000)
    assert "Say hello" in _text(panel) and CURSOR in _text(panel)
    assert panel.stop_button.isEnabled() and not panel.retry_button.isVisible()
    qtbot.wait_until(lambda: r.player.position_ms() > 0, timeout=30000)  # speaking, too
    with qtbot.wait_signal(r.done.finished, timeout=30000):
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert r.player.finished and r.router.current_reply is None
    qtbot.wait_until(lambda: "Stopped." in _text(panel), timeout=5000)
    assert CURSOR not in _text(panel)
    assert not panel.stop_button.isEnabled()
    assert panel.retry_button.isVisible()
    r.chat.script.hold_after = None
    with qtbot.wait_signal(r.router.reply_finished, timeout=60000):
        qtbot.mouseClick(panel.retry_button, Qt.MouseButton.LeftButton)
    qtbot.wait_until(lambda: "What would you like to do today?" in _text(panel), timeout=5000)
    assert "Stopped." not in _text(panel) and not panel.retry_button.isVisible()


def test_a_failure_mid_stream_keeps_the_text_and_offers_retry(
    qtbot: QtBot, rig: Callable[..., ChatRig]
) -> None:
    r = rig()
    r.chat.inject(after=13, kind="cut")
    panel = _panel(qtbot, r)
    with qtbot.wait_signal(r.done.finished, timeout=60000):
        r.controller.ask("Say hello")
    qtbot.wait_until(lambda: panel.retry_button.isVisible(), timeout=5000)
    panel.redraw()
    assert "Hello there, it is good to see you. I can help" in _text(panel)
    assert "cut short" in _text(panel)
    with qtbot.wait_signal(r.router.reply_finished, timeout=60000):
        qtbot.mouseClick(panel.retry_button, Qt.MouseButton.LeftButton)
    panel.redraw()
    assert _text(panel).count("Hello there") == 1


def test_escape_stops_the_stream_and_the_speech_then_hides(
    qtbot: QtBot, rig: Callable[..., ChatRig]
) -> None:
    r = rig()
    r.chat.script.hold_after = 12
    panel = _panel(qtbot, r)
    with qtbot.wait_signal(r.router.reply_started, timeout=60000):
        r.controller.ask("Say hello")
    with qtbot.wait_signal(r.done.finished, timeout=30000):
        qtbot.keyClick(panel.input, Qt.Key.Key_Escape)
    assert r.player.finished and not r.controller.busy and not r.router.busy
    assert panel.isVisible()
    qtbot.keyClick(panel.input, Qt.Key.Key_Escape)
    assert not panel.isVisible()


# -- kept across restarts ------------------------------------------------------------------------


def test_the_conversation_survives_a_restart(
    qtbot: QtBot, rig: Callable[..., ChatRig], tmp_path: Path
) -> None:
    store = tmp_path / "conversation.json"
    r = rig(store=store)
    with qtbot.wait_signal(r.router.reply_finished, timeout=60000):
        r.controller.ask("Remember me")
    r.close()
    loaded = load_conversation(store)
    assert loaded.notice is None
    assert [(m.role, m.content, m.state) for m in loaded.conversation.messages] == [
        ("user", "Remember me", "done"),
        ("assistant", DEFAULT_REPLY, "done"),
    ]
    again = rig(store=store, conversation=loaded.conversation)
    panel = _panel(qtbot, again)
    assert "Remember me" in _text(panel) and "What would you like to do today?" in _text(panel)
    # The model sees the earlier turn with the next question.
    with qtbot.wait_signal(again.router.reply_finished, timeout=60000):
        again.controller.ask("And now?")
    sent = again.chat.requests[-1].messages
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]


# -- in the app ------------------------------------------------------------------------------------


@pytest.fixture
def app(qtbot: QtBot, _private_config_dir: Path) -> Iterator[Companion]:
    _private_config_dir.mkdir(parents=True, exist_ok=True)
    (_private_config_dir / "settings.json").write_text(
        json.dumps({"engine": "espeak", "greeted": True})
    )
    companion = Companion(
        qapp=ensure_qapp(), options=AppOptions(ipc=False, signals=False, telemetry=False)
    )
    qtbot.add_widget(companion.window)
    assert companion.start()
    yield companion
    companion.shutdown()


def test_the_menu_and_tray_item_toggles_the_panel(app: Companion) -> None:
    app.menu.actions["chat"].trigger()
    assert app.chat_panel.isVisible()
    app.menu.actions["chat"].trigger()
    assert not app.chat_panel.isVisible()


def test_a_damaged_conversation_is_a_notice_at_start(
    qtbot: QtBot, _private_config_dir: Path
) -> None:
    path = conversation_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{ nope")
    (_private_config_dir / "settings.json").write_text(
        json.dumps({"engine": "espeak", "greeted": True})
    )
    companion = Companion(
        qapp=ensure_qapp(), options=AppOptions(ipc=False, signals=False, telemetry=False)
    )
    qtbot.add_widget(companion.window)
    try:
        assert companion.start()
        assert "chat was damaged" in companion.window.bubble.text()
        assert "damaged" in companion.chat_panel.notice_label.text()
        assert companion.chat.conversation.messages == []
    finally:
        companion.shutdown()


def test_in_the_app_a_401_mid_stream_opens_the_sign_in_dialog(
    qtbot: QtBot,
    _private_config_dir: Path,
    reference_backend: ReferenceBackend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chat = install_chat(reference_backend)
    chat.inject(after=3, kind="error", status=401)
    monkeypatch.setenv("COMPANION_BACKEND_URL", reference_backend.url)
    monkeypatch.setenv("COMPANION_TOKEN", reference_backend.token)
    _private_config_dir.mkdir(parents=True, exist_ok=True)
    (_private_config_dir / "settings.json").write_text(
        json.dumps({"engine": "espeak", "greeted": True})
    )
    companion = Companion(
        qapp=ensure_qapp(), options=AppOptions(ipc=False, signals=False, telemetry=False)
    )
    qtbot.add_widget(companion.window)
    try:
        assert companion.start()
        with qtbot.wait_signal(companion.session_flow.dialog_opened, timeout=30000):
            companion.chat.ask("Hello?")
        message = companion.chat.conversation.messages[-1]
        assert message.note == SIGNED_OUT_NOTE and message.content == "Hello ther"
        assert companion.window.view.expression == "signed_out"
        # The session holds the 401; the question waits in the chat for the sign-in.
        assert companion.session_flow.held_error is not None
        assert companion.chat.waiting is not None
        dialog = companion.session_flow.dialog
        assert dialog is not None
        dialog.reject()  # sign-in cancelled: the reply waits for Retry
        qtbot.wait_until(lambda: companion.session_flow.dialog is None, timeout=5000)
        assert companion.chat.can_retry
        assert companion.chat.conversation.messages[-1].note == SIGN_IN_CANCELLED_NOTE
    finally:
        companion.shutdown()


# -- opening at the newest message, readable notes, the menu's Stop ------------------------------


def test_the_panel_opens_at_the_newest_message(qtbot: QtBot, app: Companion) -> None:
    messages = app.chat.conversation.messages
    for i in range(40):
        messages.append(ChatMessage("user", f"Question {i}"))
        messages.append(ChatMessage("assistant", f"Answer number {i}, a line or two long."))
    app.desktop.toggle_chat()
    bar = app.chat_panel.browser.verticalScrollBar()
    qtbot.wait_until(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())
    app.desktop.toggle_chat()
    bar.setValue(0)
    app.desktop.toggle_chat()  # opened again: at the newest again
    qtbot.wait_until(lambda: bar.value() == bar.maximum())


def test_a_failed_reply_says_why_in_the_bubbles_error_red_not_small_grey_italics() -> None:
    failed = message_html(ChatMessage("assistant", "", "error", "The server did not answer."))
    assert 'class="error"' in failed and "The server did not answer." in failed
    assert "font-style: italic" not in _STYLE and "font-size: small" not in _STYLE
    assert f"p.error {{ color: {BORDER['error']}" in _STYLE
    kept = message_html(ChatMessage("assistant", "Hello", "done", ""))
    assert 'class="assistant"' in kept


def test_stop_speaking_is_offered_only_while_something_speaks(
    qtbot: QtBot, app: Companion
) -> None:
    stop = app.menu.actions["stop"]
    assert not stop.isEnabled()
    with qtbot.wait_signal(app.router.current_changed):
        app.router.say("Hello there, this takes a moment to say out loud.")
    assert stop.isEnabled()
    app.menu.actions["stop"].trigger()
    assert not stop.isEnabled()
