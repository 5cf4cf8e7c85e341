# SPDX-License-Identifier: GPL-3.0-or-later
"""Entry point of the frozen app (PyInstaller's script): the same ``main`` as ``companion``."""

import sys

from companion.cli import main

if __name__ == "__main__":
    sys.exit(main())
