# SPDX-License-Identifier: GPL-3.0-or-later
"""The mascot view: mouths and expressions on screen, blinking, lip-sync against a clock."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from companion.speech.types import VisemeCue
from companion.speech.visemes import OPENNESS, REST, VISEMES, VisemeFrame, VisemeTimeline
from companion.ui.art import EXPRESSIONS, SCALE_SIZES, MascotArt
from companion.ui.mascot_view import MascotView


class ManualClock:
    """A playback clock the test moves by hand."""

    def __init__(self, ms: float = 0.0) -> None:
        self.ms = ms

    def position_ms(self) -> float:
        return self.ms


# PP 0-100, aa 100-250, a pause 250-400, O 400-550 (weight 0.5), SS 550-650.
TIMELINE = VisemeTimeline(
    [
        VisemeCue(0, 100, "PP"),
        VisemeCue(100, 250, "aa"),
        VisemeCue(400, 550, "O", 0.5),
        VisemeCue(550, 650, "SS"),
    ]
)


@pytest.fixture(scope="module")
def art(qapp: object) -> MascotArt:
    return MascotArt()


@pytest.fixture
def view(qtbot: QtBot, art: MascotArt) -> MascotView:
    v = MascotView(art=art, scale="small", rng=random.Random(7))
    qtbot.add_widget(v)
    v.show()
    qtbot.wait_exposed(v)
    return v


def _image(view: MascotView) -> QImage:
    return view.grab().toImage()


def _differing_pixels(a: QImage, b: QImage) -> int:
    assert a.size() == b.size()
    return sum(
        1
        for y in range(0, a.height())
        for x in range(0, a.width())
        if a.pixel(x, y) != b.pixel(x, y)
    )


def test_a_screenshot_per_viseme_group_differs_from_every_other(view: MascotView) -> None:
    view.set_expression("speaking")
    shots = {}
    for vis in VISEMES:
        view.set_mouth(VisemeFrame(vis, OPENNESS[vis]))
        shots[vis] = _image(view)
    for a, b in itertools.combinations(VISEMES, 2):
        assert _differing_pixels(shots[a], shots[b]) >= 20, f"{a} vs {b}"


def test_expressions_differ(qtbot: QtBot, view: MascotView) -> None:
    shots = {}
    for expr in EXPRESSIONS:
        view.set_expression(expr)
        qtbot.wait_until(lambda: not view.animating)  # the cross-fade is over
        shots[expr] = _image(view)
    for a, b in itertools.combinations(EXPRESSIONS, 2):
        assert _differing_pixels(shots[a], shots[b]) >= 40, f"{a} vs {b}"


def test_unknown_expression_is_refused(view: MascotView) -> None:
    with pytest.raises(ValueError, match="expression"):
        view.set_expression("grumpy")


def test_idle_view_runs_no_frame_timer_and_schedules_one_blink(
    qtbot: QtBot, view: MascotView
) -> None:
    qtbot.wait_until(lambda: not view.animating and not view.warming)
    assert not view.lipsync_active
    nxt = view.next_blink_ms
    assert nxt is not None
    assert 0 < nxt <= MascotView.BLINK_MAX_MS


def test_a_blink_animates_then_the_timer_stops(qtbot: QtBot, view: MascotView) -> None:
    qtbot.wait_until(lambda: not view.animating)
    frames: list[QImage] = []

    def blink_over() -> bool:
        frames.append(_image(view))
        return not view.blinking

    view.blink()
    assert view.animating and view.blinking
    before = _image(view)
    qtbot.wait_until(blink_over)
    assert any(img != before for img in frames)  # the eyes did close on the way
    qtbot.wait_until(lambda: not view.animating)
    nxt = view.next_blink_ms
    assert nxt is not None  # the next one is scheduled


def test_hidden_view_schedules_nothing(qtbot: QtBot, view: MascotView) -> None:
    view.hide()
    assert view.next_blink_ms is None
    assert not view.animating
    assert not view.warming


def test_mouths_are_rendered_in_the_background_before_speech(qtbot: QtBot, art: MascotArt) -> None:
    view = MascotView(art=art, scale="large")
    qtbot.add_widget(view)
    frames = art.frames(view.width(), view.devicePixelRatioF())
    before = frames.sprite_count
    view.show()
    assert view.warming
    qtbot.wait_until(lambda: not view.warming)
    assert frames.sprite_count > before + len(VISEMES)
    count = frames.sprite_count
    view.start_lipsync(ManualClock(150.0), TIMELINE)
    qtbot.wait_until(lambda: view.current_mouth() == VisemeFrame("aa", 1.0))
    assert frames.sprite_count == count  # speaking rendered nothing new
    view.stop_lipsync()


def test_expression_change_cross_fades_then_stops(qtbot: QtBot, view: MascotView) -> None:
    qtbot.wait_until(lambda: not view.animating)
    view.set_expression("happy")
    assert view.animating
    qtbot.wait_until(lambda: not view.animating)
    assert view.expression == "happy"


def test_lipsync_follows_the_clock_with_lead_and_smoothing(qtbot: QtBot, view: MascotView) -> None:
    clock = ManualClock(-500.0)
    view.start_lipsync(clock, TIMELINE)
    assert view.animating
    lead = view.LEAD_MS
    # (clock time, expected shape, expected openness once settled)
    samples = [
        (50.0, "PP", 0.0),
        (100.0 - lead / 2, "aa", 1.0),  # the lead: "aa" shows before its sound starts
        (200.0, "aa", 1.0),
        (300.0, "sil", 0.0),  # a pause in the timeline closes the mouth
        (450.0, "O", OPENNESS["O"] * 0.5),
        (600.0, "SS", OPENNESS["SS"]),
    ]
    for t, shape, openness in samples:
        clock.ms = t
        assert TIMELINE.at(t + lead).viseme == shape

        def settled(shape: str = shape, openness: float = openness) -> bool:
            mouth = view.current_mouth()
            return mouth.viseme == shape and abs(mouth.openness - openness) < 0.02

        qtbot.wait_until(settled, timeout=2000)
    # After the end the mouth rests and the timer stops by itself.
    clock.ms = 2000.0
    qtbot.wait_until(lambda: view.current_mouth() == REST and not view.animating)


def test_smoothing_fast_attack_slow_release(view: MascotView) -> None:
    clock = ManualClock(150.0)  # inside "aa" (openness 1.0)
    view.start_lipsync(clock, TIMELINE)
    view.stop_lipsync()
    view.start_lipsync(clock, TIMELINE)
    start = view.current_mouth().openness
    view.advance(16.0)
    opened = view.current_mouth().openness
    expected = start + (1.0 - start) * (1 - math.exp(-16.0 / view.ATTACK_MS))
    assert opened == pytest.approx(expected, abs=1e-6)
    for _ in range(20):
        view.advance(16.0)
    assert view.current_mouth() == VisemeFrame("aa", 1.0)
    clock.ms = 300.0  # the pause: closing is slower than opening
    view.advance(16.0)
    closing = view.current_mouth()
    assert closing.viseme == "aa"  # the shape stays while it closes
    assert closing.openness == pytest.approx(math.exp(-16.0 / view.RELEASE_MS), abs=1e-6)
    assert 1.0 - closing.openness < opened - start
    for _ in range(60):
        view.advance(16.0)
    assert view.current_mouth() == REST
    view.stop_lipsync()


def test_mouth_changed_is_emitted_only_when_the_mouth_changes(
    qtbot: QtBot, view: MascotView
) -> None:

    seen: list[tuple[str, float]] = []
    view.mouth_changed.connect(lambda v, o: seen.append((v, o)))
    clock = ManualClock(200.0)
    view.start_lipsync(clock, TIMELINE)
    qtbot.wait_until(lambda: view.current_mouth() == VisemeFrame("aa", 1.0))
    assert seen and seen[-1] == ("aa", 1.0)
    assert all(a != b for a, b in itertools.pairwise(seen))
    with qtbot.assert_not_emitted(view.mouth_changed, wait=150):
        pass  # the clock stands still: nothing changes, nothing is emitted
    view.stop_lipsync()


def test_stop_lipsync_rests_the_mouth_at_once(qtbot: QtBot, view: MascotView) -> None:
    clock = ManualClock(200.0)
    view.start_lipsync(clock, TIMELINE)
    qtbot.wait_until(lambda: view.current_mouth().viseme == "aa")
    with qtbot.wait_signal(view.mouth_changed) as blocker:
        view.stop_lipsync()
    assert blocker.args == ["sil", 0.0]
    assert view.current_mouth() == REST
    assert not view.lipsync_active
    qtbot.wait_until(lambda: not view.animating)


def test_extend_timeline_resumes_after_the_end(qtbot: QtBot, view: MascotView) -> None:
    clock = ManualClock(1000.0)
    view.start_lipsync(clock, TIMELINE)
    qtbot.wait_until(lambda: not view.animating)  # past the end: idle
    longer = TIMELINE.extended(VisemeTimeline([VisemeCue(0, 200, "E")]), 900.0)
    view.extend_timeline(longer)
    assert view.animating
    qtbot.wait_until(lambda: view.current_mouth().viseme == "E")
    view.stop_lipsync()


def test_the_drawn_mouth_follows_the_lipsync(qtbot: QtBot, view: MascotView) -> None:
    view.set_expression("speaking")
    qtbot.wait_until(lambda: not view.animating)
    rest = _image(view)
    clock = ManualClock(150.0)
    view.start_lipsync(clock, TIMELINE)
    qtbot.wait_until(lambda: view.current_mouth() == VisemeFrame("aa", 1.0))
    talking = _image(view)
    view.set_mouth(VisemeFrame("aa", 1.0))
    assert _image(view) == talking
    assert talking != rest
    view.stop_lipsync()
    assert _image(view) == rest


def test_scale_sets_the_size(view: MascotView) -> None:
    for scale, side in SCALE_SIZES.items():
        view.set_scale(scale)
        assert (view.width(), view.height()) == (side, side)
        assert view.grab().size().width() == side
    with pytest.raises(ValueError, match="scale"):
        view.set_scale("huge")
