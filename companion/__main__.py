# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m companion``."""

import sys

from companion.cli import main

sys.exit(main())
