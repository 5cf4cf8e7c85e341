# SPDX-License-Identifier: GPL-3.0-or-later
"""The machine-readable line every benchmark ends with, read by ``run_all.py``.

    FIGURE name=startup_shown value=612 unit=ms baseline=201 'baseline_what=bare Qt window'
           'what=launch to mascot shown' 'goal=< 1000 ms'

Fields are shell-quoted ``key=value`` pairs (``shlex``); ``name``, ``value`` and ``unit`` are
always there, ``baseline`` (measured in the same run), ``what``, ``baseline_what`` and ``goal``
when they mean something. A script may print several.
"""

from __future__ import annotations

import math
import shlex

PREFIX = "FIGURE "


def _number(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"


def figure(
    name: str,
    value: float,
    unit: str,
    *,
    what: str = "",
    baseline: float | None = None,
    baseline_what: str = "",
    goal: str = "",
) -> None:
    """Print one FIGURE line (flushed: ``run_all.py`` reads it even if the script dies later)."""
    fields = {"name": name, "value": _number(value), "unit": unit}
    if what:
        fields["what"] = what
    if baseline is not None:
        fields["baseline"] = _number(baseline)
    if baseline_what:
        fields["baseline_what"] = baseline_what
    if goal:
        fields["goal"] = goal
    print(PREFIX + " ".join(shlex.quote(f"{k}={v}") for k, v in fields.items()), flush=True)


def parse(line: str) -> dict[str, str] | None:
    """The fields of a FIGURE line, or None when ``line`` is not one."""
    if not line.startswith(PREFIX):
        return None
    fields = dict(part.split("=", 1) for part in shlex.split(line[len(PREFIX) :]) if "=" in part)
    if not {"name", "value", "unit"} <= fields.keys():
        return None
    return fields
