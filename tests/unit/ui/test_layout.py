# SPDX-License-Identifier: GPL-3.0-or-later
"""The layout of the mascot's windows: nothing hides anything, everything on the mascot's screen.

The rules are pure functions over rectangles, so screens of any size and number are tested
without a display (two screens side by side, a small laptop, a large mascot); then the app's
real windows are placed on the offscreen screen, the mascot in each corner and the centre.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from companion.app import AppOptions, Companion, ensure_qapp
from companion.ui import layout
from companion.ui.art import SCALE_SIZES
from companion.ui.bubble import SpeechBubble
from companion.vocab import BubbleAction, BubbleKind

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (raise|propagateSizeHints)")

BUBBLE_W = SpeechBubble.max_width()
#: Window sizes with a window manager's frame (openbox: 4 px borders, a 22 px title bar).
CHAT = QSize(380 + 8, 460 + 26)
READ_ALOUD = QSize(320, 140)
SETTINGS = QSize(640, 560)
SIGN_IN = QSize(420 + 8, 260 + 26)

ONE_SCREEN = (QRect(0, 0, 1920, 1040),)  # a 1080p screen with a 40 px panel
LAPTOP = (QRect(0, 27, 1366, 741),)  # a 768p screen with a top bar
#: Two screens: a 1080p one on the left, a 1280x1024 one on the right, lower and with a panel.
TWO_SCREENS = (QRect(0, 0, 1920, 1080), QRect(1920, 200, 1280, 994))
SPOTS = ("top-left", "top-right", "bottom-left", "bottom-right", "centre")


def _mascot_at(spot: str, screen: QRect, side: int, margin: int = 24) -> QRect:
    left = screen.left() + margin
    right = screen.right() + 1 - margin - side
    top = screen.top() + margin
    bottom = screen.bottom() + 1 - margin - side
    x = {"left": left, "right": right}.get(spot.split("-")[-1], screen.center().x() - side // 2)
    y = {"top": top, "bottom": bottom}.get(spot.split("-")[0], screen.center().y() - side // 2)
    return QRect(x, y, side, side)


def _scene(mascot: QRect, screens: tuple[QRect, ...], bubble: QSize) -> tuple[layout.Scene, QRect]:
    """The scene with a bubble of ``bubble`` placed as the mascot window places it."""
    screen = layout.screen_for(mascot, screens)
    tip = QPoint(mascot.center().x(), mascot.top() + mascot.height() // 5)
    place = layout.place_bubble(
        mascot=mascot, tip=tip, size=bubble, screen=screen, shadow=8, tuck=5
    )
    scene = layout.Scene(
        mascot=mascot,
        tip_x=tip.x(),
        bubble_width=BUBBLE_W,
        screens=screens,
        shown=mascot.united(place.rect),
    )
    return scene, place.rect


def _check(scene: layout.Scene, bubble: QRect, *, read_aloud: bool = True) -> None:
    sizes = [CHAT, READ_ALOUD] if read_aloud else [CHAT]
    panels = layout.place_panels(scene, sizes)
    screen = scene.screen
    named = {"mascot": scene.mascot, "bubble": bubble} | dict(
        zip(("chat", "read_aloud"), panels, strict=False)
    )
    for name, rect in named.items():
        assert screen.contains(rect), f"{name} {rect} is not inside {screen}"
    for (a, ra), (b, rb) in itertools.combinations(named.items(), 2):
        if {a, b} != {"mascot", "bubble"}:  # the bubble's tail points into the mascot
            assert not ra.intersects(rb), f"{a} {ra} overlaps {b} {rb}"
    for name, size in (("settings", SETTINGS), ("sign-in", SIGN_IN)):
        dialog = layout.place_dialog(scene, size, panels=panels)
        assert screen.contains(dialog), f"{name} {dialog} is not inside {screen}"
        if _room_for(size, scene.shown, screen):
            assert not dialog.intersects(scene.mascot), f"{name} covers the mascot"
            assert not dialog.intersects(bubble), f"{name} covers the bubble"


def _room_for(size: QSize, shown: QRect, screen: QRect) -> bool:
    """Whether a window of ``size`` fits on ``screen`` beside, above or below ``shown``."""
    gap = layout.GAP
    beside = max(shown.left() - screen.left(), screen.right() - shown.right()) - gap
    over = max(shown.top() - screen.top(), screen.bottom() - shown.bottom()) - gap
    return beside >= size.width() or over >= size.height()


@pytest.mark.parametrize("spot", SPOTS)
@pytest.mark.parametrize("scale", sorted(SCALE_SIZES))
@pytest.mark.parametrize("bubble", [QSize(120, 60), QSize(BUBBLE_W, 220)], ids=["short", "tall"])
def test_one_screen_every_corner_and_the_centre(spot: str, scale: str, bubble: QSize) -> None:
    mascot = _mascot_at(spot, ONE_SCREEN[0], SCALE_SIZES[scale])
    _check(*_scene(mascot, ONE_SCREEN, bubble))


@pytest.mark.parametrize("spot", SPOTS)
@pytest.mark.parametrize("on", [0, 1], ids=["first-screen", "second-screen"])
def test_two_screens_the_windows_stay_on_the_mascots_screen(spot: str, on: int) -> None:
    mascot = _mascot_at(spot, TWO_SCREENS[on], SCALE_SIZES["large"])
    scene, bubble = _scene(mascot, TWO_SCREENS, QSize(BUBBLE_W, 160))
    assert scene.screen == TWO_SCREENS[on]
    _check(scene, bubble)


def test_near_the_inner_edge_of_the_right_screen_nothing_spills_onto_the_left_one() -> None:
    right = TWO_SCREENS[1]
    mascot = QRect(right.left() + 4, right.top() + 300, 180, 180)
    scene, bubble = _scene(mascot, TWO_SCREENS, QSize(BUBBLE_W, 100))
    panels = layout.place_panels(scene, [CHAT, READ_ALOUD])
    assert all(right.contains(p) for p in panels)
    _check(scene, bubble)


@pytest.mark.parametrize("spot", SPOTS)
def test_a_small_laptop_screen(spot: str) -> None:
    mascot = _mascot_at(spot, LAPTOP[0], SCALE_SIZES["medium"])
    _check(*_scene(mascot, LAPTOP, QSize(BUBBLE_W, 120)))


@settings(max_examples=300, deadline=None)
@given(
    fx=st.floats(0, 1),
    fy=st.floats(0, 1),
    side=st.sampled_from(sorted(SCALE_SIZES.values())),
    bubble_h=st.integers(50, 260),
    screens=st.sampled_from([ONE_SCREEN, LAPTOP, TWO_SCREENS]),
    which=st.integers(0, 1),
)
def test_anywhere_on_any_screen(
    fx: float, fy: float, side: int, bubble_h: int, screens: tuple[QRect, ...], which: int
) -> None:
    screen = screens[which % len(screens)]
    x = screen.left() + round(fx * (screen.width() - side))
    y = screen.top() + round(fy * (screen.height() - side))
    _check(*_scene(QRect(x, y, side, side), screens, QSize(BUBBLE_W, bubble_h)))


def test_with_no_room_anywhere_a_dialog_covers_the_mascot_the_least() -> None:
    screen = TWO_SCREENS[1]
    mascot = _mascot_at("centre", screen, SCALE_SIZES["large"])
    scene, _bubble = _scene(mascot, TWO_SCREENS, QSize(BUBBLE_W, 160))
    assert not _room_for(SETTINGS, scene.shown, screen)
    dialog = layout.place_dialog(scene, SETTINGS, panels=[])
    overlap = dialog.intersected(scene.shown)
    assert screen.contains(dialog)
    assert overlap.width() * overlap.height() < 0.2 * SETTINGS.width() * SETTINGS.height()


def test_a_window_larger_than_the_screen_is_fitted_to_it() -> None:
    screen = QRect(0, 0, 800, 600)
    rect = layout.fit(QRect(500, 400, 900, 700), screen)
    assert rect == screen


def test_the_bubble_goes_below_near_the_top_and_stays_on_screen_sideways() -> None:
    screen = ONE_SCREEN[0]
    mascot = QRect(screen.right() - 100, 10, 180, 180)
    place = layout.place_bubble(
        mascot=mascot, tip=QPoint(mascot.center().x(), 40), size=QSize(300, 90),
        screen=screen, shadow=8, tuck=5,
    )  # fmt: skip
    assert place.edge == "top" and place.rect.top() > mascot.center().y()
    assert place.rect.right() == screen.right()


# -- the real windows -----------------------------------------------------------------------------


@pytest.fixture
def app(qtbot: QtBot, _private_config_dir: Path) -> Iterator[Companion]:
    _private_config_dir.mkdir(parents=True, exist_ok=True)
    (_private_config_dir / "settings.json").write_text(
        json.dumps({"engine": "espeak", "greeted": True, "scale": "small"})
    )
    companion = Companion(
        qapp=ensure_qapp(), options=AppOptions(ipc=False, signals=False, telemetry=False)
    )
    qtbot.add_widget(companion.window)
    assert companion.start()
    yield companion
    companion.shutdown()


def _global(widget: SpeechBubble) -> QRect:
    return QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())


@pytest.mark.parametrize("spot", SPOTS)
def test_the_apps_windows_in_each_corner(qtbot: QtBot, app: Companion, spot: str) -> None:
    window, desktop = app.window, app.desktop
    screen = QGuiApplication.primaryScreen().availableGeometry()
    mascot = _mascot_at(spot, screen, window.view.width())
    window.move(mascot.topLeft() - window.view.pos())  # as a window manager moves it
    qtbot.wait_until(lambda: window.mascot_geometry() == mascot)
    app.presenter.show_message(
        "The server at http://127.0.0.1:9/ did not answer. Check that it runs, then Retry.",
        kind=BubbleKind.ERROR,
        action=BubbleAction.RETRY,
    )
    desktop.toggle_chat()
    desktop.open_read_aloud()
    app.open_settings()
    dialog = app.settings_flow.dialog
    assert dialog is not None
    qtbot.wait_exposed(dialog)
    # Placed again once each frame is known (2 px on this platform, a title bar under a WM).
    qtbot.wait_until(lambda: screen.contains(dialog.frameGeometry()))
    bubble = _global(window.bubble)
    rects = {
        "mascot": window.mascot_geometry(),
        "bubble": bubble,
        "chat": app.chat_panel.frameGeometry(),
        "read_aloud": app.read_aloud.frameGeometry(),
    }
    for name, rect in [*rects.items(), ("settings", dialog.frameGeometry())]:
        assert screen.contains(rect), f"{name} {rect} is not inside {screen}"
    for (a, ra), (b, rb) in itertools.combinations(rects.items(), 2):
        if {a, b} != {"mascot", "bubble"}:
            assert not ra.intersects(rb), f"{a} {ra} overlaps {b} {rb}"
    settings_rect = dialog.frameGeometry()
    if _room_for(settings_rect.size(), window.frameGeometry(), screen):  # not at 800x800's centre
        assert not settings_rect.intersects(rects["mascot"])
        assert not settings_rect.intersects(bubble)
    dialog.reject()


def test_the_chat_follows_the_mascot_when_it_is_dragged(qtbot: QtBot, app: Companion) -> None:
    window, chat = app.window, app.chat_panel
    screen = QGuiApplication.primaryScreen().availableGeometry()
    app.desktop.toggle_chat()
    for step in (QPoint(-300, -250), QPoint(0, -300), QPoint(250, 0)):
        before = chat.frameGeometry()
        window.move(window.pos() + step)
        qtbot.wait_until(lambda b=before: chat.frameGeometry() != b)
        assert screen.contains(chat.frameGeometry())
        assert not chat.frameGeometry().intersects(window.frameGeometry())


def test_a_long_then_a_short_message_the_bubble_shrinks(qtbot: QtBot, app: Companion) -> None:
    bubble = app.window.bubble
    app.presenter.show_message(" ".join(["A long message that wraps."] * 12), kind=BubbleKind.INFO)
    tall = bubble.height()
    app.presenter.show_message("Short.", kind=BubbleKind.INFO)
    assert bubble.height() < tall / 2
    qtbot.wait_until(lambda: app.window.height() < app.window.view.height() + tall / 2)
