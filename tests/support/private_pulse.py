# SPDX-License-Identifier: GPL-3.0-or-later
"""A private sound card (a PulseAudio server of one's own) and a recorder of what it plays.

:class:`PrivatePulse` starts a PulseAudio daemon of its own (its own ``XDG_RUNTIME_DIR``, so its
own socket), with a null sink and a silent keep-alive stream, as ``scripts/pulse.sh`` does for
the tests. Nobody else plays into it: the shared daemon of ``scripts/pulse.sh`` carries every
test run's audio on this machine, so a recording of its monitor would hear theirs too, and a
test that breaks its sound server (``pactl unload-module``) must break only its own.

:class:`MonitorRecorder` records the sink's monitor with ``parec`` and maps each recorded sample
to ``time.monotonic()``: the null sink runs on the system's monotonic clock, so sample *n* was
rendered at ``t0 + n / rate``; ``t0`` is the lower envelope of (read time - samples read so far /
rate) over every read (a sample is never read before it was rendered). The mapping is good to
about one block of the monitor (``--latency-msec`` of parec, 5 ms here) plus the sink's render
block (12.5 ms with the keep-alive's 50 ms latency).

Used by ``tests/unit/audio/test_player.py`` (a server to break), ``benchmarks/first_sound.py``,
``benchmarks/mascot_memory.py`` and ``packaging/smoke_test.py`` (sound heard at the sink).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import numpy as np

SINK = "companion_private"
RATE = 48000
#: A sample this loud (about -54 dBFS) or louder counts as sound; the keep-alive plays zeros.
AUDIBLE = 0.002


class PrivatePulse:
    """A PulseAudio server only its owner uses: null sink, keep-alive, own socket.

    Attributes:
        runtime_dir: its ``XDG_RUNTIME_DIR`` (the socket is ``<runtime_dir>/pulse/native``).
        env: the whole environment for a child process that plays into it.
        sink: the null sink's name.
    """

    def __init__(self, sink: str = SINK) -> None:
        self.sink = sink
        # Short: a socket path must fit in 108 bytes.
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="cpa-"))
        self.runtime_dir.chmod(0o700)
        self.env = {
            **os.environ,
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "HOME": str(self.runtime_dir),
        }
        self.env.pop("PULSE_SERVER", None)
        self._procs: list[subprocess.Popen[bytes]] = []

    @staticmethod
    def available() -> bool:
        return all(shutil.which(t) for t in ("pulseaudio", "pactl", "pacat", "parec"))

    def pactl(self, *args: str) -> str:
        done = subprocess.run(
            ["pactl", *args], env=self.env, capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout

    def _spawn(self, args: list[str]) -> None:
        self._procs.append(
            subprocess.Popen(
                args,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    def start(self) -> PrivatePulse:
        if not self.available():
            raise RuntimeError("pulseaudio and pulseaudio-utils are needed (parec, pacat, pactl)")
        self._spawn(
            [
                "pulseaudio",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--disallow-exit",
                "-n",
                f"--load=module-null-sink sink_name={self.sink} rate={RATE}",
                "--load=module-native-protocol-unix auth-anonymous=1",
            ]
        )
        socket = self.runtime_dir / "pulse" / "native"
        deadline = time.monotonic() + 10
        while not socket.exists():
            if time.monotonic() > deadline or self._procs[0].poll() is not None:
                self.stop()
                raise RuntimeError("the private PulseAudio did not start")
            time.sleep(0.02)
        self.env["PULSE_SERVER"] = f"unix:{socket}"
        self.pactl("set-default-sink", self.sink)
        # See scripts/pulse.sh: a low-latency keep-alive, then wait out the 2 s block rendered
        # before it joined, or the first stream stalls.
        self._spawn(["pacat", "--playback", "/dev/zero", "--latency-msec=50", f"--rate={RATE}"])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.sink_latency_us() > 100_000:
            time.sleep(0.05)
        return self

    def sink_latency_us(self) -> int:
        for line in self.pactl("list", "sinks").splitlines():
            parts = line.split()
            if parts[:1] == ["Latency:"]:
                return int(parts[1])
        return 10**9

    def stop(self) -> None:
        for proc in reversed(self._procs):
            proc.kill()
            proc.wait()
        self._procs.clear()
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
            [
                "parec",
                f"--device={self._pulse.sink}.monitor",
                "--raw",
                "--format=float32le",
                f"--rate={RATE}",
                "--channels=1",
                "--latency-msec=5",
                "--process-time-msec=2",
            ],
            env=self._pulse.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
        )
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
