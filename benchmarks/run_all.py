# SPDX-License-Identifier: GPL-3.0-or-later
"""Run every benchmark and rewrite the table of figures in ``benchmarks/README.md``.

Run: ``.venv/bin/python benchmarks/run_all.py [--quick] [--only NAME ...] [--no-write]``

Each script prints its own report and ends with ``FIGURE`` lines (``_figure.py``); this collects
those lines into one table: the figure, its value, the baseline measured in the same run, the
goal, and the command that produces it. Scripts run one after another (figures taken side by side
would disturb each other), each in its own process, with the PulseAudio null sink of
``scripts/pulse.sh`` (started here when it is not running). ``--quick`` runs shorter versions
(fewer runs and seconds; under ten minutes on two cores); the table says which. A script that
fails keeps its row, marked as failed, with the figures it printed before it did.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _figure import parse

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = HERE / "README.md"
START = "<!-- figures:start (written by benchmarks/run_all.py) -->"
END = "<!-- figures:end -->"


@dataclass(frozen=True)
class Script:
    name: str
    args: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()
    timeout: float = 900.0


SCRIPTS: tuple[Script, ...] = (
    Script("startup", ("--runs", "5"), ("--runs", "2")),
    Script(
        "idle_cpu",
        ("--seconds", "30", "--character", "examples/characters/miso"),
        ("--seconds", "8", "--settle", "3", "--character", "examples/characters/miso"),
    ),
    Script("gui_stall", ("--engine", "piper"), ("--engine", "espeak")),
    Script("mascot_render", ("--frames", "600"), ("--frames", "150")),
    Script("engine_rtf", ("--runs", "5"), ("--runs", "2")),
    Script("speak_latency", ("--runs", "7"), ("--runs", "3")),
    Script("speak_memory"),
    Script("player_clock", (), ("--seconds", "3", "--runs", "3", "--idle", "2")),
    Script(
        "lipsync_offset",
        ("--engine", "espeak", "--character", "examples/characters/miso"),
        ("--engine", "espeak", "--character", "examples/characters/miso"),
    ),
    Script("lipsync_eval"),
    Script("chat_latency", ("--runs", "3"), ("--runs", "1", "--engine", "espeak")),
    Script("first_sound", ("--runs", "5"), ("--runs", "2", "--no-breakdown")),
    Script("mascot_memory", ("--runs", "3"), ("--runs", "1"), timeout=1800.0),
    Script("voice_quality", (), ("--quick",), timeout=3600.0),
    Script("unauthorized_path", ("--runs", "5"), ("--runs", "2")),
    Script("reliability", (), ("--quick",), timeout=3600.0),
)


@dataclass
class Outcome:
    script: Script
    command: str
    seconds: float
    code: int | None
    figures: list[dict[str, str]] = field(default_factory=list)


def pulse_env() -> dict[str, str]:
    """The environment with the PulseAudio null sink (scripts/pulse.sh) running."""
    if os.environ.get("COMPANION_TEST_PULSE"):
        return dict(os.environ)
    done = subprocess.run(
        ["bash", "-c", ". scripts/pulse.sh >&2 && env -0"],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=True,
    )
    env = dict(item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    return env


def run(script: Script, quick: bool, env: dict[str, str]) -> Outcome:
    args = script.quick if quick else script.args
    shown = shlex.join([".venv/bin/python", f"benchmarks/{script.name}.py", *args])
    print(f"\n=== {shown}", flush=True)
    started = time.monotonic()
    figures: list[dict[str, str]] = []
    with subprocess.Popen(
        [sys.executable, str(HERE / f"{script.name}.py"), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        deadline = started + script.timeout
        for line in proc.stdout:  # the script's report, shown as it comes
            print(f"  {line.rstrip()}", flush=True)
            fields = parse(line.strip())
            if fields is not None:
                figures.append(fields)
            if time.monotonic() > deadline:
                proc.kill()
                print(f"  (timed out after {script.timeout:.0f} s)")
                break
        code = proc.wait()
    return Outcome(script, shown, time.monotonic() - started, code, figures)


def _value(fields: dict[str, str], key: str) -> str:
    value = fields.get(key)
    if value is None:
        return "—"
    return f"{value} {fields['unit']}".strip()


def table(outcomes: list[Outcome], quick: bool) -> str:
    rows = [
        "| figure | value | baseline, same run | goal | command |",
        "|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        command = f"`{outcome.command}`"
        if outcome.code != 0:
            command += f" (exit {outcome.code})"
        if not outcome.figures:
            rows.append(f"| {outcome.script.name}: no figure | — | — | — | {command} |")
        for f in outcome.figures:
            what = f.get("what") or f["name"]
            baseline = _value(f, "baseline")
            if "baseline_what" in f:
                baseline += f" ({f['baseline_what']})"
            goal = f.get("goal", "")
            rows.append(
                f"| {what} (`{f['name']}`) | **{_value(f, 'value')}** | {baseline} | {goal} | "
                f"{command} |"
            )
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    total = sum(o.seconds for o in outcomes)
    kind = "quick runs (`--quick`)" if quick else "full runs"
    note = (
        f"Measured {when} on {machine}: {kind}, {total / 60:.1f} min in all. "
        "Regenerate with `.venv/bin/python benchmarks/run_all.py` (add `--quick` for the "
        "short versions)."
    )
    return "\n".join([START, "", note, "", *rows, "", END])


def write(text: str) -> None:
    current = README.read_text(encoding="utf-8") if README.exists() else ""
    if START in current and END in current:
        head, rest = current.split(START, 1)
        tail = rest.split(END, 1)[1]
        README.write_text(head + text + tail, encoding="utf-8")
    else:
        README.write_text(current.rstrip() + "\n\n" + text + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short versions, under ten minutes")
    parser.add_argument("--only", nargs="*", default=None, help="only these scripts")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    wanted = [s for s in SCRIPTS if args.only is None or s.name in args.only]
    unknown = set(args.only or ()) - {s.name for s in SCRIPTS}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    env = pulse_env()
    outcomes = [run(script, args.quick, env) for script in wanted]
    text = table(outcomes, args.quick)
    print("\n" + text)
    if not args.no_write and args.only is None:
        write(text)
        print(f"\nwritten to {README.relative_to(ROOT)}")
    failed = [o.script.name for o in outcomes if o.code != 0]
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
