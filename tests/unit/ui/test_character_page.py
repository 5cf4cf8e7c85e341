# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings → Character: install, preview, remove; every bad pack says why and changes nothing."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from companion.characters.source import MAX_FILE_BYTES
from companion.characters.store import BUILTIN_ID, CharacterStore
from companion.ui.character_page import CharacterPage
from tests.support.packs import EXAMPLE, copy_example, png_bomb, set_manifest, zip_folder

# WORKAROUND for the offscreen platform, as in tests/unit/test_app.py: showing a top-level
# widget there warns that it does not propagate size hints (real platforms do not).
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")


class Answers:
    """The user's answers to the page's questions (replace? remove?)."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.asked: list[str] = []

    def __call__(self, question: str) -> bool:
        self.asked.append(question)
        return self.answer


@pytest.fixture
def answers() -> Answers:
    return Answers()


@pytest.fixture
def page(qtbot: QtBot, answers: Answers) -> CharacterPage:
    p = CharacterPage(store=CharacterStore(), current=BUILTIN_ID, ask_path=lambda _k: None,
                      confirm=answers)  # fmt: skip
    qtbot.add_widget(p)
    return p


def _ids(page: CharacterPage) -> list[str]:
    return [page.list.item(r).text() for r in range(page.list.count())]


def _install(qtbot: QtBot, page: CharacterPage, path: Path) -> None:
    page.install(path)
    qtbot.wait_until(lambda: not page.installing, timeout=20000)


def test_install_lists_selects_and_previews_the_pack(qtbot: QtBot, page: CharacterPage) -> None:
    assert _ids(page) == ["Companion"] and not page.remove_button.isEnabled()
    with qtbot.wait_signal(page.character_selected, timeout=20000) as selected:
        _install(qtbot, page, EXAMPLE)
    assert selected.args == ["miso"]
    assert _ids(page) == ["Companion", "Miso"] and page.selected_id() == "miso"
    assert page.status.text() == "Installed Miso."
    assert page.preview.art.character.id == "miso"
    assert (
        "Rhubarb" in page.details.text()
        and "Prefers en_US-joe-medium at 1.1x" in page.details.text()
    )
    assert page.remove_button.isEnabled()
    page.set_selected(BUILTIN_ID)
    assert page.preview.art.character.id == BUILTIN_ID


def _missing_layer(pack: Path) -> None:
    (pack / "mouth" / "B.svg").unlink()


def _broken_svg(pack: Path) -> None:
    (pack / "eyes" / "idle.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'><g>")


def _huge_pixels(pack: Path) -> None:
    (pack / "face" / "happy.png").write_bytes(png_bomb(4096, 4096))


def _huge_bytes(pack: Path) -> None:
    (pack / "body.svg").write_bytes(
        b"<svg xmlns='http://www.w3.org/2000/svg'><!--" + b"x" * MAX_FILE_BYTES + b"--></svg>"
    )


def _newer_format(pack: Path) -> None:
    set_manifest(pack, "format = 1", "format = 3")


BAD: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing layer": (_missing_layer, "no layer mouth/B"),
    "broken SVG": (_broken_svg, "eyes/idle.svg is a broken SVG file"),
    "huge image (pixels)": (_huge_pixels, "face/happy.png is too large (4096 x 4096 pixels)"),
    "huge image (bytes)": (_huge_bytes, "body.svg is larger than 4 MiB"),
    "newer format": (_newer_format, "needs a newer Companion: its pack format is 3"),
}


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
@pytest.mark.parametrize("kind", list(BAD))
def test_every_bad_pack_is_refused_with_a_reason_and_the_current_one_stays(
    qtbot: QtBot, page: CharacterPage, tmp_path: Path, kind: str, as_zip: bool
) -> None:
    _install(qtbot, page, EXAMPLE)
    page.set_selected("miso")
    root = page._store.root
    before = sorted(p.as_posix() for p in root.rglob("*"))
    bad = copy_example(tmp_path / "bad")
    set_manifest(bad, 'id = "miso"', 'id = "bad"')
    break_it, message = BAD[kind]
    break_it(bad)
    source = zip_folder(bad, tmp_path / "bad.zip", top="bad") if as_zip else bad
    with qtbot.assert_not_emitted(page.character_selected):
        _install(qtbot, page, source)
    assert page.status.text().startswith("Not installed: ")
    assert message in page.status.text()
    assert _ids(page) == ["Companion", "Miso"] and page.selected_id() == "miso"
    assert sorted(p.as_posix() for p in root.rglob("*")) == before


def test_a_zip_slip_pack_is_refused_and_writes_nothing_outside(
    qtbot: QtBot, page: CharacterPage, tmp_path: Path
) -> None:
    evil = zip_folder(EXAMPLE, tmp_path / "evil.zip")
    with zipfile.ZipFile(evil, "a") as zf:
        zf.writestr("../../outside.txt", "gotcha")
    _install(qtbot, page, evil)
    assert "outside itself" in page.status.text()
    assert not list(tmp_path.parent.glob("outside.txt")) and not (tmp_path / "outside.txt").exists()
    assert _ids(page) == ["Companion"]


def test_installing_again_asks_before_replacing(
    qtbot: QtBot, page: CharacterPage, answers: Answers
) -> None:
    _install(qtbot, page, EXAMPLE)
    answers.answer = False
    _install(qtbot, page, EXAMPLE)
    assert answers.asked and "installed already" in answers.asked[-1]
    assert page.status.text() == "Nothing was installed."
    answers.answer = True
    page.install(EXAMPLE)
    qtbot.wait_until(lambda: page.status.text() == "Installed Miso.", timeout=20000)
    assert _ids(page) == ["Companion", "Miso"]


def test_remove_asks_then_deletes_and_selects_the_built_in(
    qtbot: QtBot, page: CharacterPage, answers: Answers
) -> None:
    _install(qtbot, page, EXAMPLE)
    with qtbot.wait_signal(page.removed) as removed:
        page.remove_button.click()
    assert removed.args == ["miso"] and "Remove the character Miso?" in answers.asked[-1]
    assert _ids(page) == ["Companion"] and page.selected_id() == BUILTIN_ID
    assert not (page._store.root / "miso").exists()


def test_a_broken_pack_in_the_folder_is_listed_greyed_out_and_can_be_removed(
    qtbot: QtBot, answers: Answers
) -> None:
    store = CharacterStore()
    broken = copy_example(store.root / "oops")
    _missing_layer(broken)
    page = CharacterPage(store=store, current="miso", confirm=answers)
    qtbot.add_widget(page)
    assert _ids(page) == ["Companion", "Miso (cannot be used)"]
    assert page.selected_id() == BUILTIN_ID  # the current character is not usable
    page.list.setCurrentRow(1)
    assert page.selected_id() == "" and "no layer mouth/B" in page.details.text()
    assert not page.speak_button.isEnabled()
    page.remove_button.click()
    assert not broken.exists() and _ids(page) == ["Companion"]


def test_preview_speaking_moves_the_mouth_then_stops(qtbot: QtBot, page: CharacterPage) -> None:
    _install(qtbot, page, EXAMPLE)
    page.show()
    shapes: list[str] = []
    page.preview.mouth_changed.connect(lambda shape, _o: shapes.append(shape))
    page.speak_button.click()
    assert page.preview.lipsync_active
    qtbot.wait_until(lambda: not page.preview.lipsync_active, timeout=10000)
    assert {"PP", "aa", "O"} <= set(shapes)
