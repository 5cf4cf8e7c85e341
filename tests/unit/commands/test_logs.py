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


REDACTED = """
import logging
from companion.commands.logs import TOLD, setup_logging
setup_logging()
logging.getLogger("urllib3.connectionpool").debug(
    '%s://%s:%s "%s %s %s" %s %s', "http", "h", 80, "GET", "/cb?token=s3cr3t", "HTTP/1.1", 200, 2
)
logging.getLogger("companion.backend").warning("told line", extra={TOLD: True})
"""


@pytest.mark.parametrize("level", ["", "debug"])
def test_lines_are_redacted_and_told_lines_hidden(level: str) -> None:
    """The handler's filter scrubs every logger's lines (urllib3's request lines); a line the
    user was told in words shows only when a level was chosen."""
    env = {k: v for k, v in os.environ.items() if k != "COMPANION_LOG_LEVEL"}
    if level:
        env["COMPANION_LOG_LEVEL"] = level
    done = subprocess.run(
        [sys.executable, "-c", REDACTED], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "s3cr3t" not in done.stderr
    assert ('"GET /cb?[Filtered] HTTP/1.1" 200 2' in done.stderr) == bool(level)
    assert ("told line" in done.stderr) == bool(level)
