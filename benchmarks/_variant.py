# SPDX-License-Identifier: GPL-3.0-or-later
"""Run ``companion`` with one of this issue's memory changes undone, to measure what it saved.

Run: ``COMPANION_UNDO=arena,trim python benchmarks/_variant.py [companion arguments]``

The program is the current one; only the named change is put back the way it was, in this
process, before anything is built:

- ``arena``: onnxruntime's CPU memory arena on again (the session option);
- ``trim``: no ``malloc_trim`` after each piece;
- ``imports``: sentry-sdk, keyring (with its backend lookup) and requests imported at start,
  as the mascot did before they were imported only when needed;
- ``int8``: the fp32 voice whatever the settings say.

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
    if "threads1" in changes:  # not a change undone: one intra-op thread, for comparison
        from companion.speech import piper_engine

        base = piper_engine.session_options

        def one_thread() -> Any:
            options = base()
            options.intra_op_num_threads = 1
            return options

        piper_engine.session_options = one_thread
    if "trim" in changes:
        from companion.speech import piper_engine

        piper_engine._trim_heap = lambda: None
    if "int8" in changes:
        from companion.speech import piper_engine

        init = piper_engine.PiperEngine.__init__

        def fp32_init(self: Any, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **{**kwargs, "precision": "fp32"})

        piper_engine.PiperEngine.__init__ = fp32_init  # type: ignore[method-assign]
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
