# SPDX-License-Identifier: GPL-3.0-or-later
"""Smoke test of the built bundle: ``python packaging/smoke_test.py [--bundle dist/companion]``.

Runs the frozen program (offscreen Qt; the PulseAudio null sink of ``scripts/pulse.sh`` when
PulseAudio is installed, else the silent clock), each run bounded in time, each with its own
empty settings folder, and fails on a non-zero exit, a traceback, a missing module or library,
or a Qt plugin error in its output:

1. ``--version``;
2. ``--self-test`` (open the mascot, speak, check the mouth) — its wall time is the frozen
   launch-to-done figure;
3. three normal starts until the log says the mascot is shown (the start-up figure, median),
   each stopped with SIGTERM: a clean exit; the same from source as a baseline;
4. ``--self-test`` on X11 under Xvfb when ``xvfb-run`` is installed (the xcb plugin and the
   system libraries it links);
5. ``--self-test`` with no stderr at all (file descriptor 2 closed), as a windowed app starts:
   ``sys.stderr`` is None and nothing may write to it unguarded; then a normal start the same
   way with crash reports on, sent to a local Sentry ingest (127.0.0.1): its envelopes must
   arrive and the exit must be clean (Sentry's atexit path included);
6. ``companion say``: it starts the mascot from the bundle and hands it the text; the mascot
   plays through the bundled PortAudio (its memory map says so) and stops on SIGTERM (Linux);
7. from a read-only copy under a long path with spaces, working directory included (run as
   ``nobody`` when root, since root ignores file modes): ``--self-test``, then
   ``speak --output`` with espeak-ng and with Piper (espeak-ng fails on data paths over ~145
   characters unless handled), and the copy must be unchanged afterwards.

Prints one line per check and a summary with the size, the largest parts and the times.
Exit status 0 when every check passed.
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import json
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
import wave
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# A sibling script: run as a script, its folder is sys.path[0] (packaging/ is no package:
# it would shadow the `packaging` library).
import bundle_size  # noqa: E402

DEFAULT_BUNDLE = ROOT / "dist" / "companion"
NOBODY = 65534
#: The log line that means the window is up (companion.app), and how often start-up is timed.
SHOWN = "[app] mascot shown"
STARTS = 3
#: The bundle root of the copy is this long, so its espeak-ng data path is ~260 characters.
LONG_PATH_CHARS = 200

#: Files the bundle must carry (globs inside ``_internal``; then beside the program, Linux).
EXPECTED_FILES = (
    "certifi/cacert.pem",
    "companion/resources/__init__.py",
    "companion/resources/icons/companion.svg",
    "companion/resources/voices/en_US-joe-medium.aligned.onnx",
    "companion/resources/voices/en_US-joe-medium.aligned.onnx.json",
    "piper/espeakbridge*",
    "piper/espeak-ng-data/phontab",
    "piper/espeak-ng-data/en_dict",
    "espeakng_loader/*espeak-ng*",
    "espeakng_loader/espeak-ng-data/phontab",
    "espeakng_loader/espeak-ng-data/en_dict",
    "keyring-*.dist-info/entry_points.txt",
)
EXPECTED_LINUX = (
    "install.sh",
    "_internal/libportaudio.so*",
    "_internal/share/applications/companion.desktop",
)

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


class SmokeTest:
    def __init__(self, bundle: Path, *, timeout: float, copies: bool, baseline: bool) -> None:
        self.bundle = bundle
        self.baseline = baseline
        self.timeout = timeout
        self.copies = copies
        self.results = Results()
        self.pulse = pulse_environment()

    def config_dir(self, work: Path, name: str, *, owner: int | None = None) -> Path:
        folder = work / "config" / name
        folder.mkdir(parents=True)
        if owner is not None:
            for path in (folder, folder.parent):
                os.chown(path, owner, owner)
        return folder

    def self_test_problems(self, result: Run, *, audio: bool) -> list[str]:
        problems = result.problems()
        if not problems and "companion self-test: ok" not in result.output:
            problems.append("no 'companion self-test: ok' line")
        if not problems and audio and "silent clock" in self.self_test_line(result):
            problems.append("played to the silent clock although a sound server runs")
        return problems

    def self_test_line(self, result: Run) -> str:
        for line in result.output.splitlines():
            if line.startswith("companion self-test:"):
                return line.split(": ", 2)[-1]
        return ""

    def start_up(self, work: Path, name: str, args: list[str]) -> str:
        """Start ``args`` STARTS times until the mascot is shown, then SIGTERM; the times."""
        times = []
        for attempt in range(STARTS):
            env = base_environment(self.config_dir(work, f"{name}-{attempt}"), self.pulse)
            if name == "source":
                env["PYTHONPATH"] = str(ROOT)
            result = run(
                args, env=env, timeout=self.timeout, cwd=work, until=lambda out: SHOWN in out
            )
            problems = result.problems()
            if not problems and SHOWN not in result.output:
                problems.append("the log never said the mascot was shown")
            detail = f"shown after {result.seconds:.2f} s"
            if not self.results.check(f"start ({name}), window shown, SIGTERM", problems, detail):
                return "failed"
            times.append(result.seconds)
        times.sort()
        return f"{times[len(times) // 2]:.2f} s median of {STARTS} ({times[0]:.2f}-{times[-1]:.2f})"

    def run_all(self) -> int:
        exe = executable_of(self.bundle)
        if not exe.is_file():
            print(f"smoke test: no program at {exe} (build it: python packaging/build.py)")
            return 1
        audio = "PulseAudio null sink" if self.pulse else "no audio server (silent clock)"
        print(f"smoke test of {self.bundle} ({audio})", flush=True)
        with scratch() as work:
            self.check_main(exe, work)
            if self.copies and sys.platform.startswith("linux"):
                self.check_copy(work)
        total, parts, _files = bundle_size.measure(self.bundle)
        self.results.figures["bundle size"] = f"{total / bundle_size.MB:.0f} MB"
        self.results.figures["largest parts"] = ", ".join(
            f"{name} {size / bundle_size.MB:.0f} MB" for name, size in parts[:6]
        )
        print("summary:")
        for name, value in self.results.figures.items():
            print(f"  {name}: {value}")
        if self.results.failures:
            print(f"smoke test FAILED: {len(self.results.failures)} problem(s)")
            return 1
        print("smoke test passed")
        return 0

    def check_contents(self) -> None:
        if self.bundle.suffix == ".app":  # macOS keeps them in Contents/; not built here
            return
        contents = self.bundle / bundle_size.CONTENTS
        missing = [rel for rel in EXPECTED_FILES if not any(contents.glob(rel))]
        if sys.platform.startswith("linux"):
            missing += [rel for rel in EXPECTED_LINUX if not any(self.bundle.glob(rel))]
        self.results.check("bundle contents", [f"missing: {rel}" for rel in missing])

    def check_main(self, exe: Path, work: Path) -> None:
        r = self.results
        self.check_contents()
        cwd = work
        env = base_environment(self.config_dir(work, "version"), self.pulse)
        result = run([str(exe), "--version"], env=env, timeout=self.timeout, cwd=cwd)
        problems = result.problems()
        if not problems and not result.output.startswith("companion "):
            problems.append(f"unexpected output {result.output.strip()[:80]!r}")
        r.check("--version", problems, f"{result.output.strip()} in {result.seconds:.2f} s")
        r.figures["--version"] = f"{result.seconds:.2f} s"

        env = base_environment(self.config_dir(work, "self-test"), self.pulse)
        result = run([str(exe), "--self-test"], env=env, timeout=self.timeout, cwd=cwd)
        problems = self.self_test_problems(result, audio=bool(self.pulse))
        r.check("--self-test", problems, self.self_test_line(result))
        r.figures["--self-test (launch to done)"] = f"{result.seconds:.1f} s"

        frozen = self.start_up(work, "frozen", [str(exe)])
        r.figures["start-up, frozen (launch to window shown)"] = frozen
        if self.baseline:
            source = self.start_up(work, "source", [sys.executable, "-m", "companion"])
            r.figures["start-up from source, same run (baseline)"] = source

        if shutil.which("xvfb-run"):
            env = base_environment(self.config_dir(work, "x11"), self.pulse)
            del env["QT_QPA_PLATFORM"]
            args = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", str(exe), "--self-test"]
            result = run(args, env=env, timeout=self.timeout, cwd=cwd)
            problems = self.self_test_problems(result, audio=bool(self.pulse))
            r.check("--self-test on X11 (Xvfb, xcb plugin)", problems, self.self_test_line(result))

        config = self.config_dir(work, "windowed")
        env = base_environment(config, self.pulse)
        result = run(
            [str(exe), "--self-test"], env=env, timeout=self.timeout, cwd=cwd, close_stderr=True
        )
        problems = self.self_test_problems(result, audio=bool(self.pulse))
        log = config / "state" / "stderr.log"
        if log.is_file():
            problems += find_problems(log.read_text(errors="replace"))
        else:
            problems.append(f"no {log.name} written in the state folder")
        r.check("--self-test without stderr (windowed)", problems, f"log in {log.name}")

        if sys.platform.startswith("linux"):
            self.check_say(exe, work)

        # Crash reports frozen and windowed: Sentry on (a local ingest), no stderr; the session
        # envelope sent at shut-down proves the transport, the atexit path must stay quiet.
        config = self.config_dir(work, "windowed-sentry")
        log = config / "state" / "stderr.log"
        with sentry_ingest() as (dsn, envelopes):
            env = base_environment(config, self.pulse)
            env["COMPANION_SENTRY_DSN"] = dsn
            result = run(
                [str(exe)],
                env=env,
                timeout=self.timeout,
                cwd=cwd,
                close_stderr=True,
                until=lambda _out: log.is_file() and SHOWN in log.read_text(errors="replace"),
            )
        text = log.read_text(errors="replace") if log.is_file() else ""
        problems = result.problems() + find_problems(text)
        if SHOWN not in text:
            problems.append(f"{log.name} never said the mascot was shown")
        if not envelopes:
            problems.append("nothing reached the local Sentry ingest")
        detail = f"{len(envelopes)} envelope(s) reached the local Sentry, clean exit"
        r.check("start without stderr, crash reports on (windowed)", problems, detail)

    def check_say(self, exe: Path, work: Path) -> None:
        """``companion say`` starts the mascot from the bundle (sys.executable) and hands it
        the text; the mascot (found by its settings folder) then stops on SIGTERM."""
        config = self.config_dir(work, "say")
        env = base_environment(config, self.pulse)
        result = run([str(exe), "say", "Hello from say."], env=env, timeout=self.timeout, cwd=work)
        problems = result.problems()
        pids = pids_with_environment("COMPANION_CONFIG_DIR", str(config))
        if not problems and not pids:
            problems.append("no mascot process found after say")
        if pids and not problems:
            problems += self.portaudio_problems(pids[0])
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if Path(f"/proc/{pid}").exists() and not zombie(pid)]
            time.sleep(0.05)
        for pid in pids:
            problems.append(f"the mascot started by say (pid {pid}) ignored SIGTERM")
            os.kill(pid, signal.SIGKILL)
        r = self.results
        detail = "text delivered, PortAudio from the bundle"
        r.check("say: starts the mascot from the bundle, SIGTERM", problems, detail)

    def portaudio_problems(self, pid: int) -> list[str]:
        """The running mascot plays through the bundle's PortAudio, not the system's."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                maps = Path(f"/proc/{pid}/maps").read_text()
            except OSError:
                return ["the mascot exited before loading PortAudio"]
            loaded = {line.split()[-1] for line in maps.splitlines() if "libportaudio" in line}
            if loaded:
                outside = [path for path in loaded if not path.startswith(str(self.bundle))]
                return (
                    [f"PortAudio loaded from outside the bundle: {outside[0]}"] if outside else []
                )
            time.sleep(0.1)
        return ["the mascot never loaded PortAudio"]

    def check_copy(self, work: Path) -> None:
        r = self.results
        folder = long_folder(work / "install")
        folder.parent.mkdir(parents=True)
        shutil.copytree(self.bundle, folder, symlinks=True)
        make_read_only(folder)
        for parent in folder.parents:  # let nobody reach it
            if parent == work.parent:
                break
            parent.chmod(parent.stat().st_mode | 0o755)
        before = snapshot(folder)
        exe = executable_of(folder)
        user = NOBODY if os.geteuid() == 0 else None
        who = "as nobody" if user is not None else "as this user"
        where = f"read-only copy, {len(str(folder))}-character path with spaces, {who}"
        print(f"     copy: {folder}", flush=True)

        home = self.config_dir(work, "home", owner=user)
        runtime = self.config_dir(work, "runtime", owner=user)
        runtime.chmod(0o700)
        extra = {"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)} if user is not None else {}
        extra = {**(self.pulse if user is None else {}), **extra}

        env = base_environment(self.config_dir(work, "copy-self-test", owner=user), extra)
        result = run(
            [str(exe), "--self-test"], env=env, timeout=self.timeout, cwd=folder, user=user
        )
        problems = self.self_test_problems(result, audio=False)  # nobody cannot reach the server
        r.check(f"--self-test ({where})", problems, self.self_test_line(result))

        for engine in ("espeak", "piper"):
            config = self.config_dir(work, f"copy-speak-{engine}", owner=user)
            settings = config / "settings.json"
            settings.write_text(json.dumps({"engine": engine}), encoding="utf-8")
            if user is not None:
                os.chown(settings, user, user)
            out = config / "out.wav"
            visemes = config / "visemes.json"
            env = base_environment(config, extra)
            args = [str(exe), "speak", "--output", str(out), "--visemes", str(visemes)]
            args.append("Hello from a long path.")
            result = run(args, env=env, timeout=self.timeout, cwd=folder, user=user)
            problems = result.problems()
            detail = ""
            if not problems:
                problems, detail = self.check_speech(out, visemes)
            r.check(f"speak with {engine} (same copy)", problems, detail)

        after = snapshot(folder)
        changed = sorted(set(before.items()) ^ set(after.items()))
        r.check(
            "install folder unchanged",
            [f"{len(changed)} change(s), first: {changed[0][0]}"] if changed else [],
        )

    @staticmethod
    def check_speech(out: Path, visemes: Path) -> tuple[list[str], str]:
        if not out.is_file():
            return ["no WAV written"], ""
        with wave.open(str(out), "rb") as wav:
            frames, rate = wav.getnframes(), wav.getframerate()
            data = wav.readframes(frames)
        if frames == 0 or not any(data):
            return ["the WAV is silent"], ""
        cues = json.loads(visemes.read_text(encoding="utf-8")) if visemes.is_file() else None
        if not cues:
            return ["no viseme timeline written"], ""
        return [], f"{frames / rate:.1f} s of speech"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Smoke-test the built Companion bundle.")
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help="bundle folder")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per run")
    parser.add_argument("--no-copies", action="store_true", help="skip the read-only copy")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the start-up from source (baseline)"
    )
    args = parser.parse_args(argv)
    test = SmokeTest(
        args.bundle.resolve(),
        timeout=args.timeout,
        copies=not args.no_copies,
        baseline=not args.no_baseline,
    )
    return test.run_all()


if __name__ == "__main__":
    sys.exit(main())
