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
   then the mascot on a private Xvfb and a private PulseAudio sink: three replies handed over
   by the frozen ``say`` must each be heard at the sink (``smoke_heard.py``: the frozen
   say-to-sound, start-up-on-X11 and memory-after-speaking figures);
7. from a read-only copy under a long path with spaces, working directory included (run as
   ``nobody`` when root, since root ignores file modes): ``--self-test``, then
   ``speak --output`` with espeak-ng and with Piper (espeak-ng fails on data paths over ~145
   characters unless handled), and the copy must be unchanged afterwards.

Prints one line per check and a summary with the size, the largest parts and the times.
Exit status 0 when every check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
import wave
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Siblings: run as a script, its folder is sys.path[0] (packaging/ is no package: it would
# shadow the `packaging` library). The repository root gives tests/support's sound server.
sys.path.append(str(ROOT))
import bundle_size  # noqa: E402
import smoke_heard  # noqa: E402
from smoke_support import (  # noqa: E402
    NOBODY,
    Results,
    Run,
    base_environment,
    executable_of,
    find_problems,
    long_folder,
    make_read_only,
    pids_with_environment,
    pulse_environment,
    run,
    scratch,
    sentry_ingest,
    snapshot,
    zombie,
)

__all__ = ["Run", "SmokeTest", "find_problems", "main"]

DEFAULT_BUNDLE = ROOT / "dist" / "companion"
#: The log line that means the window is up (companion.app), and how often start-up is timed.
SHOWN = "[app] mascot shown"
STARTS = 3
#: Files the bundle must carry (globs inside ``_internal``; then beside the program, Linux).
EXPECTED_FILES = (
    "certifi/cacert.pem",
    "companion/resources/__init__.py",
    "companion/resources/icons/companion.svg",
    "companion/resources/voices/en_US-joe-medium.aligned.int8.onnx",
    "companion/resources/voices/en_US-joe-medium.aligned.int8.onnx.json",
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
            self.check_heard(exe, work)

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

    def check_heard(self, exe: Path, work: Path) -> None:
        """The mascot on X11 speaks three replies handed to it by ``say``, heard at the sink."""
        name = "speaks on X11 (Xvfb), heard at the sound card, SIGTERM"
        why = smoke_heard.available()
        if why:
            if os.environ.get("CI"):
                self.results.check(name, [f"cannot run: {why}"])
            else:
                print(f"skip {name}: {why}", flush=True)
            return
        problems, figures = smoke_heard.check(exe, self.config_dir(work, "heard"), self.timeout)
        heard = figures.get("say to first sound at the sink, frozen on X11", "")
        self.results.check(name, problems, f"first sound {heard}")
        self.results.figures.update(figures)

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
