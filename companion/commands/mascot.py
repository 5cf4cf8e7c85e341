# SPDX-License-Identifier: GPL-3.0-or-later
"""``companion``: the mascot, until Quit, a signal or the end of the session."""

from __future__ import annotations

import sys

from companion.commands.display import display_problem
from companion.commands.logs import setup_logging


def run_mascot() -> int:
    problem = display_problem()
    if problem is not None:  # before Qt, which would abort with a misleading message
        print(f"companion: {problem}", file=sys.stderr, flush=True)
        return 1
    setup_logging()
    from companion.app import Companion, ensure_qapp  # Qt: only once a window can open

    qapp = ensure_qapp()
    companion = Companion(qapp=qapp)
    if not companion.start():
        companion.shutdown()
        return 0
    code = qapp.exec()
    companion.shutdown()
    return int(code)
