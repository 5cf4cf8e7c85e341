# SPDX-License-Identifier: GPL-3.0-or-later
"""Screenshots of characters and voices for docs/characters.md and the README.

    .venv/bin/python docs/make_character_screenshots.py settings [--out docs/screenshots]
    .venv/bin/python docs/make_character_screenshots.py speaking [--out docs/screenshots]

``settings``: the real Settings dialog (offscreen), with the example pack installed and a
second-language voice added (the German test voice of ``tests/support/packs.py``): its
Character page (``settings-character.png``) and its General page with the voice list
(``settings-voices.png``).

``speaking``: the real mascot on a real X server (Xvfb, with openbox and xcompmgr so the
window is composited as on a desktop), once with the built-in character and once with the
example pack; ``companion say`` hands it a sentence and the screen is captured (ImageMagick's
``import -window root``) while it speaks: ``speaking-companion.png``, ``speaking-miso.png``.
Needs ``apt-get install xvfb openbox xcompmgr imagemagick``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EXAMPLE = ROOT / "examples" / "characters" / "miso"
SENTENCE = "Hello! I am speaking with this character's own mouth shapes, wide open and round."


def settings_pages(out: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["COMPANION_CONFIG_DIR"] = tempfile.mkdtemp(prefix="companion-shots-")
    from PySide6.QtWidgets import QApplication

    from companion.characters.store import CharacterStore
    from companion.config import Settings
    from companion.speech.voices import add_voice
    from companion.ui.settings_dialog import SettingsDialog
    from tests.support.packs import GERMAN_ID, german_voice

    qapp = QApplication.instance() or QApplication([])
    CharacterStore().install(EXAMPLE)
    add_voice(german_voice(Path(tempfile.mkdtemp()) / "downloads"))
    dialog = SettingsDialog(
        settings=Settings(character="miso", local_voice=GERMAN_ID, speed=1.1),
        devices=lambda: ["Built-in Audio Analog Stereo"],
    )
    dialog.resize(560, 660)
    dialog.show()
    for index, name in ((1, "settings-character.png"), (0, "settings-voices.png")):
        dialog.tabs.setCurrentIndex(index)
        for _ in range(30):
            qapp.processEvents()
            time.sleep(0.01)
        dialog.grab().save(str(out / name))
        print(out / name)


def _logged(log: Path, needle: str) -> bool:
    return needle in log.read_text(errors="replace")


def _wait(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(0.05)


def speaking(out: Path) -> None:
    display = ":97"
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
    env.pop("COMPANION_BACKEND_URL", None)
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "900x560x24", "-nolisten", "tcp"])
    helpers: list[subprocess.Popen[bytes]] = []
    try:
        time.sleep(1.0)
        helpers.append(subprocess.Popen(["openbox"], env=env, stderr=subprocess.DEVNULL))
        helpers.append(subprocess.Popen(["xcompmgr"], env=env, stderr=subprocess.DEVNULL))
        subprocess.run(["xsetroot", "-solid", "#5b6b82"], env=env, check=False)
        time.sleep(0.5)
        for character in ("companion", "miso"):
            cfg = Path(tempfile.mkdtemp(prefix="companion-shots-"))
            if character != "companion":
                shutil.copytree(EXAMPLE, cfg / "data" / "characters" / character)
            (cfg / "settings.json").write_text(
                json.dumps({"greeted": True, "engine": "piper", "character": character})
            )
            menv = dict(env, COMPANION_CONFIG_DIR=str(cfg))
            log = cfg / "mascot.log"
            with log.open("wb") as err:
                mascot = subprocess.Popen(
                    [sys.executable, "-m", "companion"], env=menv, cwd=ROOT, stderr=err
                )
            try:
                _wait(functools.partial(_logged, log, "[app] speech engine:"), 60)
                subprocess.run(
                    [sys.executable, "-m", "companion", "say", SENTENCE],
                    env=menv, cwd=ROOT, check=True, timeout=60,
                )  # fmt: skip
                time.sleep(1.6)  # a few words in: the mouth open, the word marked
                name = out / f"speaking-{character}.png"
                subprocess.run(["import", "-window", "root", str(name)], env=env, check=True)
                print(name)
            finally:
                mascot.terminate()
                mascot.wait(timeout=20)
    finally:
        for proc in helpers:
            proc.terminate()
        xvfb.terminate()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("settings", "speaking"))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.what == "settings":
        settings_pages(args.out)
    else:
        speaking(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
