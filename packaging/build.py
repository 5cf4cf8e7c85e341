# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the Companion bundle: ``python packaging/build.py``.

From a clone with the dev extra installed (``pip install -e '.[dev]'``, or
``bash scripts/setup.sh test``). Steps:

1. prepare the Piper voice (``prepare_voice.py``: the alignment-patched int8 model, and the
   fp32 one too with ``--fp32-voice``, 60 MB more; needs onnx);
2. run PyInstaller on ``packaging/companion.spec`` (work files in ``build/pyinstaller``);
3. Linux: put ``install.sh`` beside the program;
4. print the size and where the megabytes go.

Result: ``dist/companion/`` with the program ``dist/companion/companion`` (Linux; on Windows
``companion.exe``, on macOS ``dist/Companion.app``). ``--archive`` also packs it as
``dist/companion-<version>-<os>-<arch>.tar.gz`` (``.zip`` on Windows). Then check it with
``python packaging/smoke_test.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPEC = HERE / "companion.spec"
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"
BUNDLE = DIST / "companion"

# A sibling script: run as a script, its folder is sys.path[0] (packaging/ is no package:
# it would shadow the `packaging` library).
import bundle_size  # noqa: E402


def _version() -> str:
    init = (ROOT / "companion" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__ = "([^"]+)"', init, re.MULTILINE)
    return found.group(1) if found else "0"


def _check_tools() -> str | None:
    for module, why in (("PyInstaller", "pyinstaller"), ("onnx", "onnx (voice preparation)")):
        if importlib.util.find_spec(module) is None:
            return f"{why} is missing: install the dev extra (pip install -e '.[dev]')"
    return None


def _archive(version: str) -> Path:
    system = {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(sys.platform, "os")
    base = DIST / f"companion-{version}-{system}-{platform.machine().lower()}"
    fmt = "zip" if sys.platform == "win32" else "gztar"
    root = BUNDLE if sys.platform != "darwin" else DIST / "Companion.app"
    return Path(shutil.make_archive(str(base), fmt, root_dir=root.parent, base_dir=root.name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Companion one-folder bundle.")
    parser.add_argument("--clean", action="store_true", help="empty PyInstaller's cache first")
    parser.add_argument("--archive", action="store_true", help="also pack the bundle")
    parser.add_argument(
        "--fp32-voice", action="store_true", help="also ship the fp32 voice (+60 MB)"
    )
    args = parser.parse_args(argv)

    problem = _check_tools()
    if problem:
        print(f"build: {problem}", file=sys.stderr)
        return 1
    started = time.monotonic()

    # 1. The voice, up front so its cost shows separately (the spec skips it when up to date).
    from prepare_voice import prepare_voice

    if args.fp32_voice:
        os.environ["COMPANION_FP32_VOICE"] = "1"  # read by the spec's prepare_voice() too
    prepare_voice()
    voice_s = time.monotonic() - started

    # 2. PyInstaller.
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level=WARN",
        f"--distpath={DIST}",
        f"--workpath={WORK}",
        *(["--clean"] if args.clean else []),
        str(SPEC),
    ]
    print("build: " + " ".join(command[2:]), flush=True)
    result = subprocess.run(command, cwd=ROOT, check=False)
    if result.returncode != 0:
        print(f"build: PyInstaller failed (exit {result.returncode})", file=sys.stderr)
        return result.returncode

    # 3. Desktop integration beside the program (Linux).
    if sys.platform.startswith("linux"):
        shutil.copy2(HERE / "linux" / "install.sh", BUNDLE / "install.sh")

    elapsed = time.monotonic() - started
    print(f"build: done in {elapsed:.0f} s (voice {voice_s:.1f} s): {BUNDLE}")
    print(bundle_size.report(BUNDLE))
    if args.archive:
        print(f"build: archive {_archive(_version())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
