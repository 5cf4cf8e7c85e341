# SPDX-License-Identifier: GPL-3.0-or-later
"""The commands' log set-up: one format on standard error, set once per process."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr)
