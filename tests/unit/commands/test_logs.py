# SPDX-License-Identifier: GPL-3.0-or-later
"""The terminal is quiet by default (warnings only, no status-table line the user is told in
words); ``COMPANION_LOG_LEVEL`` shows more, other libraries only at ``debug``. Each case in a
fresh process (logging is set up once per process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROGRAM = """
import logging
from companion.commands.logs import setup_logging
setup_logging()
logging.getLogger("companion.app").info("app info")
logging.getLogger("companion.app").warning("app warning")
logging.getLogger("companion.backend").warning("table line", extra={"backend": {}})
logging.getLogger("urllib3.connectionpool").info("urllib3 info")
logging.getLogger("PIL.PngImagePlugin").debug("pil debug")
logging.getLogger("companion.speech").debug("speech debug")
"""


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        ("", {"app warning"}),
        ("info", {"app info", "app warning", "table line"}),
        ("warning", {"app warning", "table line"}),
        ("debug", {"app info", "app warning", "table line", "urllib3 info", "pil debug",
                   "speech debug"}),
        ("nonsense", {"app warning"}),
    ],
)
def test_levels(level: str, shown: set[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COMPANION_LOG_LEVEL"}
    if level:
        env["COMPANION_LOG_LEVEL"] = level
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    every = {"app info", "app warning", "table line", "urllib3 info", "pil debug", "speech debug"}
    seen = {name for name in every if name in done.stderr}
    assert seen == shown, done.stderr
