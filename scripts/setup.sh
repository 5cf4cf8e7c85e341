#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Creates .venv and installs Companion into it. Usage: scripts/setup.sh [run|test]
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"
bash scripts/system-deps.sh "$mode"
[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=".venv/.installed-$mode"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  if [ "$mode" = test ]; then .venv/bin/python -m pip install -q -e '.[dev]'; else .venv/bin/python -m pip install -q -e .; fi
  touch "$stamp"
fi
