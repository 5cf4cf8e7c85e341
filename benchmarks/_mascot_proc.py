# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the UI benchmarks: start the mascot as a child process and read /proc."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all threads (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def mascot_env(platform: str, **settings: object) -> tuple[dict[str, str], Path]:
    cfg = Path(tempfile.mkdtemp(prefix="companion-bench-"))
    (cfg / "settings.json").write_text(json.dumps({"greeted": True, **settings}))
    env = dict(os.environ, COMPANION_CONFIG_DIR=str(cfg), QT_QPA_PLATFORM=platform)
    env["COMPANION_LOG_LEVEL"] = "info"  # the mascot's info lines are what is waited for
    env.pop("COMPANION_BACKEND_URL", None)
    return env, cfg


def start_mascot(
    env: dict[str, str], log: Path, *, command: list[str] | None = None, cwd: Path = REPO
) -> tuple[subprocess.Popen[bytes], float]:
    """Start the mascot (``python -m companion`` from ``cwd``, or ``command``), its stderr to
    ``log``; the process and when it was started."""
    started = time.monotonic()
    with log.open("wb") as err:
        proc = subprocess.Popen(
            command or [sys.executable, "-m", "companion"], env=env, cwd=cwd,
            stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    return proc, started


def wait_for_line(log: Path, needle: str, timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    while needle not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{needle!r} not logged within {timeout:.0f} s")
        time.sleep(0.005)
    return time.monotonic()


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def base_tree(rev: str, stack: ExitStack) -> Path | None:
    """The tree at ``rev`` (``git archive``), removed with ``stack``; None (and a note) when
    there is no such revision: the benchmark then has no 'before' baseline."""
    done = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True)
    if not rev or done.returncode != 0:
        print(f"note: no tree at {rev!r}; no 'before' baseline in this run")
        return None
    folder = Path(tempfile.mkdtemp(prefix="companion-base-"))
    stack.callback(shutil.rmtree, folder, True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=done.stdout, check=True)
    return folder


def default_base() -> str:
    """Where this branch left main (the figures' 'before'), when there is a main."""
    for ref in ("main", "origin/main"):
        done = subprocess.run(
            ["git", "-C", str(REPO), "merge-base", "HEAD", ref],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode == 0:
            return done.stdout.strip()
    return ""
