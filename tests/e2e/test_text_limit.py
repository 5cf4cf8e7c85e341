# SPDX-License-Identifier: GPL-3.0-or-later
"""The one text limit at the command line's other doors: ``say``, ``say -``, ``ask``,
``ask -`` refuse text over it in one line, before reaching (or starting) a mascot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from companion.textinput import MAX_TEXT_CHARS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", ["say", "ask"])
@pytest.mark.parametrize("via", ["argument", "stdin"])
def test_text_over_the_limit_is_refused(command: str, via: str, tmp_path: Path) -> None:
    text = "b " * (MAX_TEXT_CHARS // 2 + 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPANION_")}
    env.update(COMPANION_CONFIG_DIR=str(tmp_path / "cfg"), XDG_RUNTIME_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "companion", command, text if via == "argument" else "-"],
        input=text.encode() if via == "stdin" else b"",
        capture_output=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    lines = [line for line in done.stderr.decode().splitlines() if line.strip()]
    assert done.returncode == 1
    assert len(lines) == 1 and lines[0].startswith(f"companion {command}: "), lines
    assert "too long" in lines[0] and f"{MAX_TEXT_CHARS:,}" in lines[0]
    assert not list(tmp_path.glob("companion-*"))  # no mascot was started
