# SPDX-License-Identifier: GPL-3.0-or-later
"""Run ``companion`` with one of this issue's memory changes undone, to measure what it saved.

Run: ``COMPANION_UNDO=arena,trim python benchmarks/_variant.py [companion arguments]``

The program is the current one; only the named change is put back the way it was, in this
process, before anything is built:

- ``arena``: onnxruntime's CPU memory arena on again (the session option);
- ``trim``: no ``malloc_trim`` after each piece;
- ``imports``: sentry-sdk, keyring (with its backend lookup) and requests imported at start,
  as the mascot did before they were imported only when needed.

``benchmarks/mascot_memory.py`` uses it; the voice precision is a setting and needs no undoing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def undo(changes: set[str]) -> None:
    if "arena" in changes:
        from companion.speech import piper_engine

        original = piper_engine.session_options

        def with_arena() -> Any:
            options = original()
            options.enable_cpu_mem_arena = True
            return options

        piper_engine.session_options = with_arena
    if "trim" in changes:
        from companion.speech import piper_engine

        piper_engine._trim_heap = lambda: None
    if "imports" in changes:
        import keyring
        import requests  # noqa: F401 - imported for its cost
        import sentry_sdk  # noqa: F401 - imported for its cost

        keyring.get_keyring()


def main() -> int:
    undo({c.strip() for c in os.environ.get("COMPANION_UNDO", "").split(",") if c.strip()})
    from companion.cli import main as companion_main

    return companion_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
