# SPDX-License-Identifier: GPL-3.0-or-later
"""The mascot art: every layer of the built-in pack parses, pixmaps are made once per size and
pixel ratio, any pack is fitted into the view and points the bubble where it says."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from companion import paths
from companion.speech.visemes import OPENNESS, VISEMES, VisemeFrame
from companion.ui import art as art_mod
from companion.ui.art import (
    CANVAS,
    EXPRESSIONS,
    MOUTH_STEPS,
    ArtError,
    MascotArt,
    check_expression,
    check_scale,
    layer_names,
    relative_openness,
)


@pytest.fixture(scope="module")
def art(qapp: QApplication) -> MascotArt:
    return MascotArt()


def _draw(art: MascotArt, size: int, dpr: float, **kwargs: object) -> QImage:
    frames = art.frames(size, dpr)
    img = QImage(int(size * dpr), int(size * dpr), QImage.Format.Format_ARGB32_Premultiplied)
    img.setDevicePixelRatio(dpr)
    img.fill(QColor(0, 0, 0, 0))
    painter = QPainter(img)
    frames.draw(painter, **kwargs)  # type: ignore[arg-type]
    painter.end()
    return img


def test_every_layer_is_valid_svg_with_spdx_header_and_a_viewbox_on_the_canvas(
    qapp: QApplication,
) -> None:

    root = paths.resource_path("characters/companion")
    for name in layer_names():
        path = root / f"{name}.svg"
        text = path.read_text(encoding="utf-8")
        assert "SPDX-License-Identifier: GPL-3.0-or-later" in text, name
        renderer = QSvgRenderer(str(path))
        assert renderer.isValid(), name
        vb = renderer.viewBoxF()
        assert vb.left() >= 0 and vb.right() <= CANVAS, name
        assert vb.top() >= 0 and vb.bottom() <= CANVAS, name


def test_there_is_a_mouth_for_every_viseme_and_a_face_for_every_expression() -> None:
    names = set(layer_names())
    assert {f"mouth/{v}" for v in VISEMES} <= names
    assert {f"eyes/{e}" for e in EXPRESSIONS} <= names
    assert {f"face/{e}" for e in EXPRESSIONS} <= names


def test_app_icon_exists() -> None:
    assert QSvgRenderer(str(paths.resource_path("icons/companion.svg"))).isValid()


def test_a_broken_built_in_pack_is_a_clear_art_error(
    qapp: QApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "companion"
    shutil.copytree(paths.resource_path("characters/companion"), root)
    monkeypatch.setattr(art_mod, "builtin_root", lambda: root)
    (root / "mouth" / "aa.svg").unlink()
    with pytest.raises(ArtError, match="mouth/aa"):
        MascotArt()
    (root / "mouth" / "aa.svg").write_text("<svg this is not")
    with pytest.raises(ArtError, match="broken SVG"):
        MascotArt()


def test_frames_are_cached_per_size_and_pixel_ratio(art: MascotArt) -> None:
    a = art.frames(180, 1.0)
    assert art.frames(180, 1.0) is a
    assert art.frames(180, 2.0) is not a
    assert art.frames(120, 1.0) is not a
    sprite = a.sprite("mouth/aa")
    assert a.sprite("mouth/aa") is sprite  # rendered once, then reused


def test_only_a_few_frame_sets_are_kept(art: MascotArt) -> None:
    sets = [art.frames(100 + i, 1.0) for i in range(MascotArt.KEEP_FRAMES + 2)]
    assert art.frames(100, 1.0) is not sets[0]  # evicted and made again
    assert art.frames(100 + MascotArt.KEEP_FRAMES + 1, 1.0) is sets[-1]


@pytest.mark.parametrize("dpr", [1.0, 1.25, 2.0, 3.0])
def test_pixmaps_are_rendered_at_the_device_pixel_ratio(art: MascotArt, dpr: float) -> None:
    """Crisp: one pixmap pixel per device pixel, placed on whole device pixels."""
    frames = art.frames(180, dpr)
    base = frames.base("idle")
    assert base.pixmap.devicePixelRatio() == pytest.approx(dpr)
    assert base.pixmap.width() == pytest.approx(180 * dpr, abs=1)
    for name in ("mouth/aa", "eyes/idle"):
        sprite = frames.sprite(name)
        assert sprite.pixmap.devicePixelRatio() == pytest.approx(dpr)
        for coord in (sprite.origin.x() * dpr, sprite.origin.y() * dpr):
            assert coord == pytest.approx(round(coord), abs=1e-6)


def test_squashed_mouths_are_shorter_and_keep_the_upper_lip(art: MascotArt) -> None:
    frames = art.frames(200, 1.0)
    full = frames.sprite("mouth/aa", 1.0)
    half = frames.sprite("mouth/aa", 0.44)
    assert half.pixmap.height() < full.pixmap.height() * 0.6
    # The pivot is the upper lip: the squashed box starts lower by at most a few pixels.
    assert half.origin.y() >= full.origin.y()
    assert half.origin.y() - full.origin.y() < 6


def test_prewarm_renders_every_mouth_step(art: MascotArt) -> None:
    frames = art.frames(150, 1.0)
    frames.prewarm()
    count = frames.sprite_count
    mouths_with_steps = sum(1 for v in VISEMES if v != "sil" and OPENNESS[v] > 0)
    assert count >= mouths_with_steps * len(MOUTH_STEPS) + len(EXPRESSIONS)
    assert frames.nbytes > 0
    frames.prewarm()
    assert frames.sprite_count == count  # nothing rendered twice


def test_warm_renders_in_slices_until_done(qapp: QApplication) -> None:
    frames = MascotArt().frames(160, 1.0)
    calls = 1
    while not frames.warm("idle", budget_ms=0.0):  # a zero budget: one pixmap per call
        calls += 1
    assert calls == frames.sprite_count + 1  # one call per pixmap, one to find nothing left
    mouths_with_steps = sum(1 for v in VISEMES if v != "sil" and OPENNESS[v] > 0)
    assert frames.sprite_count > mouths_with_steps * len(MOUTH_STEPS)
    count = frames.sprite_count
    assert frames.warm("idle", budget_ms=5.0)
    assert frames.sprite_count == count


def test_relative_openness() -> None:
    assert relative_openness(VisemeFrame("aa", 1.0)) == 1.0
    assert relative_openness(VisemeFrame("aa", 0.5)) == 0.5
    assert relative_openness(VisemeFrame("FF", OPENNESS["FF"] / 2)) == pytest.approx(0.5)
    assert relative_openness(VisemeFrame("E", 5.0)) == 1.0
    assert relative_openness(VisemeFrame("PP", 0.0)) == 1.0  # drawn closed: always formed


def test_every_viseme_draws_a_different_mouth(art: MascotArt) -> None:
    images = {
        v: _draw(art, 120, 1.0, expression="speaking", mouth=VisemeFrame(v, OPENNESS[v]))
        for v in VISEMES
    }
    for a, b in itertools.combinations(VISEMES, 2):
        assert images[a] != images[b], f"{a} and {b} look the same"


def test_openness_changes_the_drawn_mouth_gradually(art: MascotArt) -> None:
    def mouth_pixels(openness: float) -> int:
        img = _draw(art, 200, 1.0, expression="idle", mouth=VisemeFrame("aa", openness))
        dark = 0
        for y in range(120, 175):
            for x in range(70, 130):
                c = img.pixelColor(x, y)
                if c.alpha() > 200 and c.lightness() < 70:
                    dark += 1
        return dark

    areas = [mouth_pixels(o) for o in (0.0, 0.35, 0.6, 1.0)]
    assert areas == sorted(areas)
    assert areas[-1] > 3 * max(1, areas[1])


def test_blink_squashes_then_closes_the_eyes(art: MascotArt) -> None:
    imgs = [_draw(art, 120, 1.0, expression="idle", eye_openness=e) for e in (1.0, 0.5, 0.0)]
    assert imgs[0] != imgs[1] != imgs[2]
    # Expressions with closed eyes do not blink.
    asleep = [_draw(art, 120, 1.0, expression="signed_out", eye_openness=e) for e in (1.0, 0.0)]
    assert asleep[0] == asleep[1]


def test_expression_mouths(art: MascotArt) -> None:
    assert art_mod.expression_mouth_layer("idle") == "mouth/sil"
    assert art_mod.expression_mouth_layer("happy") == "expr_mouth/happy"
    happy = _draw(art, 120, 1.0, expression="happy")
    happy_speaking = _draw(art, 120, 1.0, expression="happy", mouth=VisemeFrame("sil", 0.0))
    assert happy != happy_speaking


def test_names_are_checked() -> None:
    assert check_expression("happy") == "happy"
    with pytest.raises(ValueError, match="expression"):
        check_expression("grumpy")
    assert check_scale("small") == "small"
    with pytest.raises(ValueError, match="scale"):
        check_scale("huge")


def test_sprite_origin_is_logical(art: MascotArt) -> None:
    one = art.frames(200, 1.0).sprite("mouth/O")
    two = art.frames(200, 2.0).sprite("mouth/O")
    assert two.origin.x() == pytest.approx(one.origin.x(), abs=0.5)
    assert isinstance(one.origin, QPointF)
