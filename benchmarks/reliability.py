# SPDX-License-Identifier: GPL-3.0-or-later
"""Reliability figures: the fault suite and the soak, summed up.

Run: ``. scripts/pulse.sh && .venv/bin/python benchmarks/reliability.py [--quick] [--full-soak]``

Runs ``tests/faults`` (every network fault at speech, chat, sign-in, ``/auth/me`` and in
``companion speak``; audio faults; bad local input; the secrets search) and the soak
(``tests/soak``: 30 replies, or 1,000 with ``--full-soak``), and prints, from the lines those
tests print:

- faults tried, tests failed (an unhandled exception anywhere fails its test: pytest-qt and
  pytest's thread hook catch them), crash reports sent against the status table's count;
- the longest GUI event-loop gap met while a fault played out (baseline: one 60 fps frame);
- secrets found in the suite's logs, reports, settings and state files;
- the soak's resident memory, Python allocations, threads, file descriptors and Qt objects,
  after against before (the baseline), and how long quitting took.

``--quick`` runs the speech, speak and chat faults, the secrets search and the short soak.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from _figure import figure

ROOT = Path(__file__).resolve().parents[1]
RESULT = re.compile(r"\[faults\] result place=(\S+) fault=(\S+) reports=(\d+) expected=(\d+)")
GAP = re.compile(r"gap_ms=(\d+)")
SECRETS = re.compile(r"\[faults\] secrets: .*: (\d+) hits")
SUMMARY = re.compile(r"(\d+) (passed|failed|error|errors)")


def run(args: list[str], timeout: float) -> str:
    env = dict(os.environ)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:logging", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    print(f"pytest {' '.join(args)}: exit {done.returncode} in {time.monotonic() - started:.0f} s")
    return done.stdout + done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer fault places")
    parser.add_argument("--full-soak", action="store_true", help="1,000 replies (about 15 min)")
    args = parser.parse_args()

    faults = ["tests/faults"]
    if args.quick:
        faults = [
            "tests/faults/test_faults_speech.py",
            "tests/faults/test_faults_speak.py",
            "tests/faults/test_faults_chat.py",
        ]
    out = run(faults, timeout=1800)
    soak_args = ["-m", "slow", "tests/soak"] if args.full_soak else ["tests/soak"]
    out += run(soak_args, timeout=3600)

    counts = {"passed": 0, "failed": 0}
    for number, word in SUMMARY.findall(out):
        counts["failed" if word != "passed" else "passed"] += int(number)
    results = RESULT.findall(out)
    gaps = [int(g) for g in GAP.findall(out)]
    sent = sum(int(r[2]) for r in results)
    expected = sum(int(r[3]) for r in results)
    places = sorted({r[0] for r in results})
    kinds = sorted({r[1] for r in results})
    print(
        f"faults tried: {len(results)} ({len(kinds)} kinds at {len(places)} places: "
        f"{', '.join(places)}); tests passed {counts['passed']}, failed {counts['failed']}; "
        f"crash reports {sent} (the table says {expected})"
    )
    figure("faults_tried", len(results), "faults", what=f"network faults x places ({len(places)})")
    figure("faults_failed", counts["failed"], "tests", what="fault and soak tests failed", goal="0")
    figure(
        "fault_reports",
        sent,
        "reports",
        what="crash reports sent over the faults",
        baseline=expected,
        baseline_what="what the status table says",
    )
    if gaps:
        figure(
            "fault_loop_gap",
            max(gaps),
            "ms",
            what="longest GUI event-loop gap during a fault",
            baseline=1000 / 60,
            baseline_what="one 60 fps frame",
            goal="< 250 ms",
        )
    hits = [int(h) for h in SECRETS.findall(out)]
    if hits:
        figure("secret_hits", sum(hits), "hits", what="tokens/reply texts in logs, reports, files")

    soaks = [
        json.loads(line.split("[soak] json ", 1)[1])
        for line in out.splitlines()
        if line.startswith("[soak] json ")
    ]
    for soak in soaks:
        b, a = soak["before"], soak["after"]
        n = soak["replies"]
        print(f"soak: {n} replies in {soak['seconds']:.0f} s; before {b}; after {a}")
        label = f"soak of {n} replies"
        figure("soak_replies_s", soak["seconds"], "s", what=f"{label}: duration")
        figure(
            "soak_rss",
            a["rss_mb"],
            "MB",
            what=f"{label}: RSS after",
            baseline=b["rss_mb"],
            baseline_what="before",
        )
        figure(
            "soak_traced",
            a["traced_mb"],
            "MB",
            what=f"{label}: Python allocations after",
            baseline=b["traced_mb"],
            baseline_what="before",
        )
        figure(
            "soak_threads",
            a["os_threads"],
            "threads",
            what=f"{label}: OS threads after",
            baseline=b["os_threads"],
            baseline_what="before",
        )
        figure(
            "soak_fds",
            a["fds"],
            "fds",
            what=f"{label}: file descriptors after",
            baseline=b["fds"],
            baseline_what="before",
        )
        figure(
            "soak_qobjects",
            a["qobject_wrappers"],
            "QObjects",
            what=f"{label}: QObjects after",
            baseline=b["qobject_wrappers"],
            baseline_what="before",
        )
        figure("soak_quit", soak["quit_ms"], "ms", what="quit at a random moment", goal="< 1000 ms")
    sigterm = [int(ms) for ms in re.findall(r"\[soak\] SIGTERM round \d+: exit 0 in (\d+) ms", out)]
    if sigterm:
        figure(
            "sigterm_quit",
            max(sigterm),
            "ms",
            what=f"SIGTERM at a random moment, worst of {len(sigterm)}",
            goal="< 1000 ms",
        )
    return 0 if counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
