# SPDX-License-Identifier: GPL-3.0-or-later
"""The player's clock, start, stop and CPU on a real output: a PulseAudio null sink.

Run: ``.venv/bin/python benchmarks/player_clock.py [--seconds 10] [--runs 10]``

It starts a PulseAudio server of its own (so no other program's sound reaches the recording of
the sink's monitor; ``--shared`` uses the one of scripts/pulse.sh instead, without the recorded
figure) and prints, each with the baseline it is judged against, measured in the same run:

- clock drift: the slope of position_ms() read at 60 fps against wall time (ppm); baseline: the
  wall clock (0 ppm: the null sink is timed by the system clock);
- start: begin()+enqueue() to the first callback taking audio and to the clock passing 0;
- stop: stop() to silence; the audio heard after the clock froze is measured on a recording of
  the sink's monitor (recorded tone length minus the frozen position); baseline: the 50 ms goal;
- underflows with a busy Python thread beside the player, ``"low"`` against the default latency;
- CPU: idle with a stream open (writing zeros) and after it closed; baseline: the mascot's
  idle goal of 0.5 % of a core.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figure import figure

from companion.audio.player import DEFAULT_LATENCY, IDLE_STOP_S, Player
from companion.speech.types import FloatArray

RATE = 22050
STOP_GOAL_MS = 50.0
IDLE_CPU_GOAL = 0.5
SINK = "bench"


def tone(seconds: float, amplitude: float = 0.5) -> FloatArray:
    t = np.arange(round(seconds * RATE), dtype=np.float64) / RATE
    return (amplitude * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> float:
    """Poll ``condition`` every 0.2 ms; the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the audio output")
        time.sleep(0.0002)
    return time.monotonic()


def ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f} ms"


# -- a private sound server ----------------------------------------------------------------------


@contextmanager
def sound_server(shared: bool) -> Iterator[dict[str, str] | None]:
    """A PulseAudio server with one null sink; yields the environment that reaches it
    (None with ``shared``: the server of scripts/pulse.sh)."""
    if shared:
        yield None
        return
    runtime = tempfile.mkdtemp(prefix="cpb-")
    os.chmod(runtime, 0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": runtime, "HOME": runtime}
    env.pop("PULSE_SERVER", None)
    procs = [
        subprocess.Popen(
            [
                "pulseaudio",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "-n",
                f"--load=module-null-sink sink_name={SINK} rate=48000",
                "--load=module-native-protocol-unix auth-anonymous=1",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        socket = Path(runtime, "pulse", "native")
        wait_for(socket.exists)
        env["PULSE_SERVER"] = f"unix:{socket}"
        subprocess.run(["pactl", "set-default-sink", SINK], env=env, check=True, timeout=10)
        # The keep-alive of scripts/pulse.sh, and the wait for the sink's first 2 s block.
        procs.append(
            subprocess.Popen(
                ["pacat", "--playback", "/dev/zero", "--latency-msec=50", "--rate=48000"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        time.sleep(2.2)
        yield env
    finally:
        for proc in reversed(procs):
            proc.kill()
            proc.wait()
        shutil.rmtree(runtime, ignore_errors=True)


@contextmanager
def recording(env: dict[str, str]) -> Iterator[Callable[[], FloatArray]]:
    """Record the sink's monitor; the callable returns what was recorded so far."""
    with tempfile.TemporaryFile() as out:
        rec = subprocess.Popen(
            [
                "parec",
                f"--device={SINK}.monitor",
                "--raw",
                "--format=float32le",
                "--channels=1",
                f"--rate={RATE}",
                "--latency-msec=20",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.3)

        def heard() -> FloatArray:
            out.flush()
            out.seek(0)
            return np.frombuffer(out.read(), dtype=np.float32).copy()

        try:
            yield heard
        finally:
            rec.terminate()
            rec.wait()


def bursts_ms(signal: FloatArray, threshold: float = 0.05, gap_ms: float = 60.0) -> list[float]:
    """Lengths of the sounding stretches of ``signal`` (ms), separated by ``gap_ms`` of quiet."""
    loud = np.flatnonzero(np.abs(signal) > threshold)
    if not len(loud):
        return []
    breaks = np.flatnonzero(np.diff(loud) > gap_ms * RATE / 1000)
    starts = np.concatenate(([loud[0]], loud[breaks + 1]))
    ends = np.concatenate((loud[breaks], [loud[-1]]))
    # A sine crosses the threshold a little after it starts and before it ends: add one period.
    return [1000.0 * (e - s + RATE / 440.0) / RATE for s, e in zip(starts, ends, strict=True)]


# -- figures -------------------------------------------------------------------------------------


def drift(seconds: float) -> None:
    player = Player(sample_rate=RATE)
    try:
        player.begin()  # a warm stream, like the second piece of a reply
        t0 = time.monotonic()
        player.begin()
        player.enqueue(tone(seconds))
        player.end()
        walls: list[float] = []
        positions: list[float] = []
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        while not player.finished:
            now = time.monotonic()
            pos = player.position_ms()
            if 0.0 < pos < 1000.0 * seconds:  # the linear part: after the start, before the end
                walls.append(now - t0)
                positions.append(pos / 1000.0)
            time.sleep(1 / 60)  # the mascot reads the clock at 60 fps
        cpu = 100.0 * (cpu_seconds() - cpu0) / (time.monotonic() - wall0)
        slope, _ = np.polyfit(walls, positions, 1)
        lag = float(np.median(np.array(walls) - np.array(positions)))
        steps = 1000.0 * np.diff(positions)
        print(
            f"utterance of {seconds:.0f} s at {RATE} Hz, clock read {len(walls)} times at 60 fps:"
        )
        print(f"  clock drift vs wall clock: {1e6 * (slope - 1.0):+.0f} ppm (baseline: 0 ppm)")
        figure(
            "player_drift",
            1e6 * (slope - 1.0),
            "ppm",
            what="player clock drift vs wall clock",
            baseline=0.0,
            baseline_what="the wall clock",
        )
        print(
            f"  clock behind begin(): median {ms(lag)} (baseline: the output latency, "
            f"{ms(player.output_latency)} as opened, {ms(player.output_delay)} as last reported)"
        )
        print(
            f"  clock steps between reads: median {np.median(steps):.1f} ms, min "
            f"{steps.min():.1f}, max {steps.max():.1f} (baseline: the 16.7 ms frame period)"
        )
        print(f"  underflows: {player.underflows}; CPU while playing: {cpu:.2f} % of a core")
    finally:
        player.close()


def start_latency(runs: int) -> None:
    for label, idle_close in (("cold (stream stopped)", 0.0), ("warm (stream running)", 60.0)):
        player = Player(sample_rate=RATE, idle_stop_s=idle_close)
        taken: list[float] = []
        audible: list[float] = []
        begins: list[float] = []
        try:
            for _ in range(runs):
                if idle_close == 0.0:
                    wait_for(lambda: not player.stream_open)  # noqa: B023
                t0 = time.monotonic()
                player.begin()
                begins.append(time.monotonic() - t0)
                player.enqueue(tone(0.15))
                player.end()
                taken.append(wait_for(lambda: player.frames_played > 0) - t0)  # noqa: B023
                audible.append(wait_for(lambda: player.position_ms() > 0.0) - t0)  # noqa: B023
                player.wait_finished(5.0)
        finally:
            player.close()
        print(
            f"start, {label}, median of {runs}: begin() {ms(statistics.median(begins))}, "
            f"first callback taking audio {ms(statistics.median(taken))}, clock > 0 after "
            f"{ms(statistics.median(audible))} (audible start)"
        )
        if idle_close == 0.0:
            figure(
                "player_start_cold",
                1000 * statistics.median(audible),
                "ms",
                what="begin() to audible start, stream stopped",
            )


def stop_latency(runs: int, latency: float | str, heard: Callable[[], FloatArray] | None) -> None:
    player = Player(sample_rate=RATE, latency=latency, idle_stop_s=60.0)
    returns: list[float] = []
    frozen: list[float] = []
    try:
        for _ in range(runs):
            player.begin()
            player.enqueue(tone(1.0))
            player.end()
            wait_for(lambda: player.position_ms() > 400.0)
            t0 = time.monotonic()
            player.stop()
            returns.append(time.monotonic() - t0)
            frozen.append(player.position_ms())
            time.sleep(0.3)
    finally:
        player.close()
    line = (
        f"stop, latency={latency!r}, median of {runs}: stop() returns in "
        f"{ms(statistics.median(returns))} (max {ms(max(returns))})"
    )
    if heard is not None:
        time.sleep(0.3)
        lengths = bursts_ms(heard())[-runs:]
        if len(lengths) == runs:
            after = [h - f for h, f in zip(lengths, frozen, strict=True)]
            line += (
                f"; heard after the clock froze: median {statistics.median(after):.1f} ms "
                f"(min {min(after):.1f}, max {max(after):.1f})"
            )
            if latency == DEFAULT_LATENCY:
                figure(
                    "player_stop_heard",
                    statistics.median(after),
                    "ms",
                    what="sound heard after stop()",
                    goal=f"< {STOP_GOAL_MS:.0f} ms",
                )
        else:
            line += f"; recording unclear ({len(lengths)} bursts for {runs} stops)"
    print(line + f" (baseline: the {STOP_GOAL_MS:.0f} ms goal)")


def busy_thread_underflows(seconds: float) -> None:
    results = []
    for latency in ("low", DEFAULT_LATENCY):
        stop = threading.Event()

        def burn(stop: threading.Event = stop) -> None:
            x = 0
            while not stop.is_set():
                for i in range(10_000):
                    x += i

        burner = threading.Thread(target=burn)
        player = Player(sample_rate=RATE, latency=latency)
        try:
            burner.start()
            t0 = time.monotonic()
            player.begin()
            player.enqueue(np.zeros(round(seconds * RATE), dtype=np.float32))
            player.end()
            player.wait_finished(10 * seconds)
            took = time.monotonic() - t0
        finally:
            stop.set()
            burner.join()
            player.close()
        results.append(f"{latency!r}: {player.underflows} underflows, {took:.2f} s")
    print(f"{seconds:.0f} s of audio beside a busy Python thread: " + "; ".join(results))


def idle_cpu(seconds: float) -> None:
    for latency in ("low", DEFAULT_LATENCY):
        player = Player(sample_rate=RATE, latency=latency, idle_stop_s=seconds + 5.0)
        try:
            player.begin()
            player.enqueue(tone(0.1))
            player.end()
            player.wait_finished(5.0)
            calls0, cpu0, wall0 = player.callbacks, cpu_seconds(), time.monotonic()
            time.sleep(seconds)
            wall = time.monotonic() - wall0
            open_cpu = 100.0 * (cpu_seconds() - cpu0) / wall
            per_s = (player.callbacks - calls0) / wall
            player.set_device(None)  # idle: closes the stream now, as the idle timer would
            cpu0, wall0 = cpu_seconds(), time.monotonic()
            time.sleep(seconds)
            closed_cpu = 100.0 * (cpu_seconds() - cpu0) / (time.monotonic() - wall0)
        finally:
            player.close()
        print(
            f"idle CPU, latency={latency!r}: stream open writing zeros {open_cpu:.2f} % of a core "
            f"({per_s:.0f} callbacks/s); stream closed {closed_cpu:.2f} % (baseline: the "
            f"{IDLE_CPU_GOAL} % goal; the player stops an idle stream after {IDLE_STOP_S:.1f} s)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description="The player's clock on a PulseAudio null sink.")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the drift run")
    parser.add_argument("--runs", type=int, default=10, help="runs for start and stop medians")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds per idle CPU figure")
    parser.add_argument("--shared", action="store_true", help="use the running sound server")
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with sound_server(args.shared) as env:
        if env is not None:
            os.environ["PULSE_SERVER"] = env["PULSE_SERVER"]  # before PortAudio starts
        probe = Player(sample_rate=RATE)
        silent, notice = probe.silent, probe.notice
        probe.close()
        if silent:
            print(f"no audio output: {notice}")
            return 1
        drift(args.seconds)
        start_latency(args.runs)
        if env is not None:
            with recording(env) as heard:
                stop_latency(args.runs, "low", heard)
            with recording(env) as heard:
                stop_latency(args.runs, DEFAULT_LATENCY, heard)
        else:
            stop_latency(args.runs, "low", None)
            stop_latency(args.runs, DEFAULT_LATENCY, None)
        busy_thread_underflows(3.0)
        idle_cpu(args.idle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
