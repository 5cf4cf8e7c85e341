# SPDX-License-Identifier: GPL-3.0-or-later
"""A private sound card for benchmarks that listen at the sink, and a recorder of what it plays.

:class:`PrivatePulse` starts a PulseAudio daemon of its own (its own ``XDG_RUNTIME_DIR``, so its
own socket), with a null sink and a silent keep-alive stream, exactly as ``scripts/pulse.sh``
does for the tests, but nobody else's test run plays into it: the shared daemon of
``scripts/pulse.sh`` carries every engineer's test audio on this machine, and a recording of its
monitor would hear theirs too.

:class:`MonitorRecorder` records the sink's monitor with ``parec`` and maps each recorded sample
to ``time.monotonic()``: the null sink runs on the system's monotonic clock, so sample *n* was
rendered at ``t0 + n / rate``; ``t0`` is the lower envelope of (read time - samples read so far /
rate) over every read (a sample is never read before it was rendered). The mapping is good to
about one block of the monitor (``--latency-msec`` of parec, 5 ms here) plus the sink's render
block (12.5 ms with the keep-alive's 50 ms latency).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import numpy as np

SINK = "bench_null"
RATE = 48000
#: A sample this loud (about -54 dBFS) or louder counts as sound; the keep-alive plays zeros.
AUDIBLE = 0.002


class PrivatePulse:
    """A PulseAudio daemon only this benchmark uses: null sink, keep-alive, own socket.

    Attributes:
        runtime_dir: its ``XDG_RUNTIME_DIR`` (the socket is ``<runtime_dir>/pulse/native``).
        env: the variables a child process needs to play into it.
    """

    def __init__(self) -> None:
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="companion-bench-pulse-"))
        self.runtime_dir.chmod(0o700)
        self.env = {
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "PULSE_SERVER": f"unix:{self.runtime_dir}/pulse/native",
            "COMPANION_TEST_PULSE": "1",
        }
        self._daemon_pid: int | None = None
        self._keepalive: subprocess.Popen[bytes] | None = None

    def _environ(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def _pactl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["pactl", *args], env=self._environ(), capture_output=True, text=True, timeout=10
        )

    def start(self) -> PrivatePulse:
        if shutil.which("pulseaudio") is None or shutil.which("parec") is None:
            raise RuntimeError("pulseaudio and pulseaudio-utils are needed (parec, pacat, pactl)")
        subprocess.run(
            [
                "pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n", "--use-pid-file=yes",
                f"--load=module-null-sink sink_name={SINK} rate={RATE}",
                "--load=module-native-protocol-unix",
            ],
            env=self._environ(), check=True, capture_output=True, timeout=20,
        )  # fmt: skip
        pid_file = self.runtime_dir / "pulse" / "pid"
        deadline = time.monotonic() + 10
        while self._pactl("info").returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the private PulseAudio did not answer")
            time.sleep(0.05)
        self._daemon_pid = int(pid_file.read_text().split()[0])
        self._pactl("set-default-sink", SINK)
        # Keep the sink clocked at a 12.5 ms block (see scripts/pulse.sh for why).
        self._keepalive = subprocess.Popen(
            ["pacat", "--playback", "/dev/zero", "--latency-msec=50", "--format=s16le",
             f"--rate={RATE}", "--channels=2"],
            env=self._environ(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.sink_latency_us() > 100_000:
            time.sleep(0.05)
        return self

    def sink_latency_us(self) -> int:
        out = self._pactl("list", "sinks").stdout
        for line in out.splitlines():
            parts = line.split()
            if parts[:1] == ["Latency:"]:
                return int(parts[1])
        return 10**9

    def stop(self) -> None:
        if self._keepalive is not None:
            self._keepalive.terminate()
            self._keepalive.wait(timeout=5)
            self._keepalive = None
        if self._daemon_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._daemon_pid, signal.SIGTERM)
            self._daemon_pid = None
        shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def __enter__(self) -> PrivatePulse:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class MonitorRecorder:
    """Records the private sink's monitor (mono float32 at :data:`RATE`) from :meth:`start`.

    :meth:`first_sound_after` answers "when was the first audible sample played after time t".
    """

    def __init__(self, pulse: PrivatePulse) -> None:
        self._pulse = pulse
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._chunks: list[bytes] = []
        self._bytes = 0
        self._t0 = float("inf")

    def start(self) -> MonitorRecorder:
        self._proc = subprocess.Popen(
            ["parec", f"--device={SINK}.monitor", "--raw", "--format=float32le", f"--rate={RATE}",
             "--channels=1", "--latency-msec=5", "--process-time-msec=2"],
            env={**os.environ, **self._pulse.env}, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, bufsize=0,
        )  # fmt: skip
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 5
        while self._bytes < RATE * 4 // 5:  # 200 ms recorded: the mapping has settled
            if time.monotonic() > deadline:
                raise RuntimeError("parec recorded nothing")
            time.sleep(0.01)
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while True:
            data = os.read(fd, 4096)
            now = time.monotonic()
            if not data:
                return
            with self._lock:
                self._chunks.append(data)
                self._bytes += len(data)
                self._t0 = min(self._t0, now - (self._bytes // 4) / RATE)

    def now_index(self) -> int:
        """Samples recorded so far."""
        with self._lock:
            return self._bytes // 4

    def time_of(self, index: int) -> float:
        """Monotonic time at which sample ``index`` was played."""
        return self._t0 + index / RATE

    def samples(self) -> np.ndarray:
        with self._lock:
            data = b"".join(self._chunks)
            self._chunks = [data]
        return np.frombuffer(data[: len(data) // 4 * 4], dtype=np.float32)

    def wait_for_sound(self, after: float, timeout: float = 30.0, quiet_s: float = 0.0) -> float:
        """Monotonic time of the first audible sample played at or after ``after``.

        With ``quiet_s``, returns only once that much silence followed the last sound too
        (the utterance has ended), still answering the first sample's time.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            audio = self.samples()
            start = max(0, int((after - self._t0) * RATE))
            loud = np.flatnonzero(np.abs(audio[start:]) >= AUDIBLE)
            if len(loud):
                first = start + int(loud[0])
                last = start + int(loud[-1])
                if quiet_s <= 0 or len(audio) - last > quiet_s * RATE:
                    return self.time_of(first)
            time.sleep(0.01)
        raise TimeoutError(f"no sound at the sink within {timeout:.0f} s")

    def wait_silence(self, seconds: float, timeout: float = 60.0) -> None:
        """Until the last ``seconds`` recorded were silent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            audio = self.samples()
            tail = audio[-int(seconds * RATE) :]
            if len(tail) >= int(seconds * RATE) and not np.any(np.abs(tail) >= AUDIBLE):
                return
            time.sleep(0.05)
        raise TimeoutError("the sink never fell silent")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=5)
            self._proc = None
        if self._thread is not None:
            self._thread.join(timeout=5)
