# SPDX-License-Identifier: GPL-3.0-or-later
"""``companion``: the mascot, until Quit, a signal or the end of the session."""

from __future__ import annotations

from companion.app import Companion, ensure_qapp
from companion.commands.logs import setup_logging


def run_mascot() -> int:
    setup_logging()
    qapp = ensure_qapp()
    companion = Companion(qapp=qapp)
    if not companion.start():
        companion.shutdown()
        return 0
    code = qapp.exec()
    companion.shutdown()
    return int(code)
