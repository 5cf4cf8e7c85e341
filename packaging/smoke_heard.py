# SPDX-License-Identifier: GPL-3.0-or-later
"""Smoke test, heard: the frozen mascot on a real X server speaks, and the sound card hears it.

The bundle's mascot starts on a private ``Xvfb`` (the xcb platform plugin and the system's X
libraries), plays into a private PulseAudio null sink (through the bundled PortAudio) whose
monitor is recorded, and is handed three replies with the frozen ``companion say``. Each must be
heard at the sink; the times from command to first sound, the start-up to the window shown on
X11 and the resident memory after speaking are reported as the frozen figures. SIGTERM must then
end it cleanly. The sound server and display are the check's own (``tests/support``), so other
test runs on the machine neither disturb nor hear it.
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import threading
import time
from pathlib import Path

from smoke_support import base_environment, find_problems

from tests.support.private_pulse import MonitorRecorder, PrivatePulse
from tests.support.xvfb import Xvfb

SHOWN = "[app] mascot shown"
READY = "[app] speech engine:"
SAY = "Hello there, the bundle speaks and the sound card hears it."
REPLIES = 3


def available() -> str:
    """Empty when the check can run here, else why not."""
    if not Xvfb.available():
        return "Xvfb is not installed"
    if not PrivatePulse.available():
        return "pulseaudio and pulseaudio-utils are not installed"
    return ""


class _Output:
    """Everything a process writes, collected by a thread (its pipe never fills)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._chunks: list[bytes] = []
        assert proc.stdout is not None
        self._pipe = proc.stdout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in iter(self._pipe.readline, b""):
            self._chunks.append(line)

    def text(self) -> str:
        return b"".join(self._chunks).decode("utf-8", "replace")

    def wait_for(self, needle: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)
        return time.monotonic()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def check(exe: Path, config: Path, timeout: float) -> tuple[list[str], dict[str, str]]:
    """(problems, figures) of the frozen mascot speaking on X11 into a recorded sink."""
    problems: list[str] = []
    figures: dict[str, str] = {}
    with PrivatePulse() as pulse, Xvfb() as display:
        recorder = MonitorRecorder(pulse).start()
        try:
            extra = {k: pulse.env[k] for k in ("XDG_RUNTIME_DIR", "PULSE_SERVER")}
            env = base_environment(config, extra)
            del env["QT_QPA_PLATFORM"]
            env["DISPLAY"] = display
            started = time.monotonic()
            proc = subprocess.Popen(
                [str(exe)], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            output = _Output(proc)
            try:
                shown = output.wait_for(SHOWN, timeout)
                ready = output.wait_for(READY, timeout) if shown else None
                if shown is None or ready is None:
                    missing = SHOWN if shown is None else READY
                    problems.append(f"the mascot never logged {missing!r}")
                else:
                    figures["start-up, frozen on X11 (launch to window shown)"] = (
                        f"{shown - started:.2f} s"
                    )
                    time.sleep(1.0)  # the voice warms up once loaded
                    problems += _speak(exe, env, recorder, figures, timeout)
                    figures["mascot RSS after speaking, frozen"] = f"{_rss_mb(proc.pid):.0f} MB"
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                try:
                    code = proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    code = proc.wait()
                    problems.append("the mascot ignored SIGTERM")
            if code != 0 and not problems:
                problems.append(f"exit status {code} after SIGTERM, expected 0")
            problems += find_problems(output.text())
        finally:
            recorder.stop()
    return problems, figures


def _speak(
    exe: Path,
    env: dict[str, str],
    recorder: MonitorRecorder,
    figures: dict[str, str],
    timeout: float,
) -> list[str]:
    times = []
    for _ in range(REPLIES):
        recorder.wait_silence(0.3)
        asked = time.monotonic()
        said = subprocess.run(
            [str(exe), "say", SAY], env=env, capture_output=True, timeout=timeout, check=False
        )
        if said.returncode != 0:
            return [f"say exited {said.returncode}: {said.stderr.decode(errors='replace')[:200]}"]
        try:
            heard = recorder.wait_for_sound(asked, timeout=30, quiet_s=0.8)
        except TimeoutError:
            return ["nothing was heard at the sound card after `companion say`"]
        times.append(1000.0 * (heard - asked))
    figures["say to first sound at the sink, frozen on X11"] = (
        f"{statistics.median(times):.0f} ms median of {REPLIES} "
        f"({', '.join(f'{t:.0f}' for t in times)})"
    )
    return []
