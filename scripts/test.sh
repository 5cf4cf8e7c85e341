#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Sets up everything the tests need (system packages, .venv, a PulseAudio null sink) and runs
# the whole suite: ruff, mypy, pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
. scripts/pulse.sh
trap companion_pulse_stop EXIT  # what pulse.sh started (not a server running before)
.venv/bin/ruff check companion tests benchmarks packaging
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
