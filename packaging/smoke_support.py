# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of ``packaging/smoke_test.py``: running the frozen program with a time bound, reading
its output for signs of a broken bundle, and the odds and ends of the checks (a local Sentry
ingest, read-only copies, processes found by their environment)."""

from __future__ import annotations

import gzip
import http.server
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: The bundle root of the copy is this long, so its espeak-ng data path is ~260 characters.
LONG_PATH_CHARS = 200
NOBODY = 65534

#: Output that means the bundle is broken, whatever the exit status says.
PROBLEM_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"Traceback \(most recent call last\)", "a Python traceback"),
    (r"\bModuleNotFoundError\b|No module named", "a missing module"),
    (r"\bImportError\b", "an import error"),
    (r"Fatal Python error", "a fatal Python error"),
    (r"\[PYI-\d+:ERROR\]|Failed to execute script", "a PyInstaller bootloader error"),
    (r"qt\.qpa\.plugin|Could not (?:load|find) the Qt platform plugin", "a Qt platform plugin"),
    (r"no Qt platform plugin could be initialized", "a Qt platform plugin"),
    (r"QFactoryLoader|Cannot load library", "a Qt plugin that cannot load"),
    (r"cannot open shared object file|Library not found|dynlib/dll", "a missing shared library"),
    (r"PortAudio library not found", "PortAudio missing"),
    (r"sounddevice not importable|sounddevice package is missing", "sounddevice missing"),
    (r"Error processing file", "espeak-ng data not found"),
    (r"Fontconfig error", "a Fontconfig error (bundled vs system configuration)"),
    (r"Read-only file system|Permission denied", "a write into the install folder"),
)


def find_problems(text: str) -> list[str]:
    """What in a run's output says the bundle is broken: one entry per kind, with its line."""
    found: list[str] = []
    for pattern, what in PROBLEM_PATTERNS:
        match = re.search(pattern, text)
        if match:
            start = text.rfind("\n", 0, match.start()) + 1
            end = text.find("\n", match.end())
            line = text[start : end if end != -1 else len(text)].strip()
            found.append(f"{what}: {line[:200]}")
    return found


@dataclass
class Run:
    """One finished run of the frozen program."""

    args: list[str]
    code: int | None  # None: killed at the time bound
    output: str
    seconds: float
    timed_out: bool = False

    def problems(self, *, expect_code: int = 0) -> list[str]:
        found = find_problems(self.output)
        if self.timed_out:
            found.insert(0, f"no exit within the time bound ({self.seconds:.0f} s)")
        elif self.code != expect_code:
            found.insert(0, f"exit status {self.code}, expected {expect_code}")
        return found


@dataclass
class Results:
    failures: list[str] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)

    def check(self, name: str, problems: Sequence[str], detail: str = "") -> bool:
        status = "ok  " if not problems else "FAIL"
        print(f"{status} {name}{': ' + detail if detail and not problems else ''}", flush=True)
        for problem in problems:
            print(f"       {problem}", flush=True)
            self.failures.append(f"{name}: {problem}")
        return not problems


def executable_of(bundle: Path) -> Path:
    if sys.platform == "win32":
        return bundle / "companion.exe"
    if bundle.suffix == ".app":
        return bundle / "Contents" / "MacOS" / "companion"
    return bundle / "companion"


def pulse_environment() -> dict[str, str]:
    """Start (or find) the null sink with scripts/pulse.sh; its environment, or {}."""
    script = ROOT / "scripts" / "pulse.sh"
    if not script.is_file() or shutil.which("pulseaudio") is None:
        return {}
    probe = subprocess.run(
        ["bash", "-c", '. "$1" >/dev/null 2>&1; env -0', "pulse", str(script)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    env = dict(item.split("=", 1) for item in probe.stdout.decode().split("\0") if "=" in item)
    if env.get("COMPANION_TEST_PULSE") != "1":
        return {}
    keys = ("XDG_RUNTIME_DIR", "PULSE_SERVER", "COMPANION_TEST_PULSE")
    return {k: env[k] for k in keys if k in env}


def base_environment(config_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COMPANION_", "QT_", "PYTHON", "LD_", "SENTRY_"))
    }
    env.update(extra)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["COMPANION_CONFIG_DIR"] = str(config_dir)
    env["COMPANION_LOG_LEVEL"] = "info"
    return env


def run(
    args: list[str],
    *,
    env: dict[str, str],
    timeout: float,
    cwd: Path,
    close_stderr: bool = False,
    user: int | None = None,
    until: Callable[[str], bool] | None = None,
) -> Run:
    """Run the program; with ``until``, stop it with SIGTERM once its output satisfies it."""
    started = time.monotonic()
    preexec: Callable[[], None] | None = (lambda: os.close(2)) if close_stderr else None
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=None if close_stderr else subprocess.STDOUT,
        preexec_fn=preexec,  # only os.close(2), before exec
        user=user,
        group=user,
        extra_groups=[] if user is not None else None,
    )
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    chunks: list[bytes] = []
    marked: float | None = None
    timed_out = False
    while True:
        data = proc.stdout.read()
        if data:
            chunks.append(data)
        if (
            until is not None
            and marked is None
            and until(b"".join(chunks).decode("utf-8", "replace"))
        ):
            marked = time.monotonic() - started
            proc.send_signal(signal.SIGTERM)
        if proc.poll() is not None:
            rest = proc.stdout.read()
            if rest:
                chunks.append(rest)
            break
        if time.monotonic() - started > timeout:
            timed_out = True
            proc.kill()
            proc.wait()
            break
        time.sleep(0.02)
    seconds = marked if marked is not None else time.monotonic() - started
    output = b"".join(chunks).decode(errors="replace")
    return Run(args, None if timed_out else proc.returncode, output, seconds, timed_out)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and mtime (to see that nothing was written)."""
    found: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            st = path.lstat()
            found[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return found


def pids_with_environment(name: str, value: str) -> list[int]:
    """Linux: processes started with ``name=value`` in their environment."""
    wanted = f"{name}={value}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes() + b"\0"
        except OSError:
            continue
        if wanted in environment:
            found.append(int(entry.name))
    return found


def zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


def make_read_only(folder: Path) -> None:
    """chmod -R a-w."""
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    folder.chmod(folder.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def make_writable(folder: Path) -> None:
    folder.chmod(folder.stat().st_mode | stat.S_IWUSR)
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)


def long_folder(base: Path) -> Path:
    """A folder under ``base`` whose path is LONG_PATH_CHARS long and has spaces in it."""
    folder = base / "Companion install with spaces"
    while len(str(folder)) < LONG_PATH_CHARS - 30:
        folder = folder / "a rather long folder name"
    return folder / ("x" * max(1, LONG_PATH_CHARS - len(str(folder)) - 1))


class _Ingest(http.server.BaseHTTPRequestHandler):
    """A Sentry ingest endpoint that keeps every envelope posted to it."""

    envelopes: ClassVar[list[bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.envelopes.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def sentry_ingest() -> Iterator[tuple[str, list[bytes]]]:
    """A local Sentry (127.0.0.1, free port): its DSN and the envelopes it received."""
    received: list[bytes] = []

    class Ingest(_Ingest):
        envelopes = received

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ingest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://public@127.0.0.1:{server.server_address[1]}/1", received
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="companion-smoke-"))
    try:
        yield folder
    finally:
        if folder.exists():
            make_writable(folder)
            shutil.rmtree(folder, ignore_errors=True)
