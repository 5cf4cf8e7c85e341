# SPDX-License-Identifier: GPL-3.0-or-later
"""The player on real PulseAudio (the null sink of scripts/pulse.sh, or a private server that a
test may break), and its silent clock in subprocesses where PortAudio or devices are missing.

Wall-time bounds here are wide correctness checks (a 2 s utterance must not take 10 s), not
performance figures: those are in benchmarks/player_clock.py.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from companion.audio import devices
from companion.audio.player import LOST_NOTICE, Player
from companion.speech.types import FloatArray
from tests.support.private_pulse import PrivatePulse

RATE = 22050
ROOT = Path(__file__).resolve().parents[3]


def tone(seconds: float, amplitude: float = 0.5, freq: float = 440.0) -> FloatArray:
    t = np.arange(round(seconds * RATE), dtype=np.float64) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wait_for(condition: Callable[[], bool], timeout: float = 6.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def sample_clock(player: Player, timeout: float = 8.0) -> list[tuple[float, float]]:
    """(wall, position_ms) every ~5 ms until the utterance is finished."""
    samples = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        samples.append((time.monotonic(), player.position_ms()))
        if player.finished:
            break
        time.sleep(0.005)
    samples.append((time.monotonic(), player.position_ms()))
    return samples


@pytest.fixture
def player(pulse: None) -> Iterator[Player]:
    p = Player(sample_rate=RATE)
    assert not p.silent, p.notice
    yield p
    p.close()


# -- the shared null sink -------------------------------------------------------------------------


@pytest.mark.audio
def test_two_second_utterance_takes_two_seconds_on_the_clock(player: Player) -> None:
    start = time.monotonic()
    player.begin()
    player.enqueue(tone(2.0))
    player.end()
    assert player.playing
    samples = sample_clock(player)
    elapsed = time.monotonic() - start
    assert (player.finished, player.playing) == (True, False)
    assert player.position_ms() == pytest.approx(2000.0, abs=1000 / RATE)
    assert player.frames_played == 2 * RATE
    assert 1.95 <= elapsed <= 4.5  # a correctness bound: the figures are in benchmarks/
    positions = [p for _, p in samples]
    assert positions == sorted(positions)  # monotonic
    assert all(0.0 <= p <= 2000.0 for p in positions)


@pytest.mark.audio
def test_stop_mid_utterance_freezes_the_clock(player: Player) -> None:
    player.begin()
    player.enqueue(tone(3.0))
    player.end()
    assert wait_for(lambda: player.position_ms() > 300.0)
    player.stop()
    frozen = player.position_ms()
    assert 300.0 < frozen < 3000.0
    assert player.finished
    assert player.stopped
    assert not player.playing
    assert player.wait_finished(0.0)
    time.sleep(0.05)  # a callback already running when stop() came may finish its buffer
    frames = player.frames_played
    time.sleep(0.2)
    assert player.frames_played == frames  # nothing more taken from the queue
    assert frames < 3 * RATE
    assert player.position_ms() == frozen
    player.enqueue(tone(0.5))  # late audio for the stopped utterance is dropped
    assert player.position_ms() == frozen


@pytest.mark.audio
def test_mute_keeps_one_clock_and_unmute_plays_on_from_it(player: Player) -> None:
    player.begin()
    player.enqueue(tone(2.0))
    player.end()
    assert wait_for(lambda: player.position_ms() > 300.0)
    assert player.audible
    player.set_muted(True)
    assert player.muted and not player.audible and not player.finished
    muted_at = player.position_ms()
    frames = player.frames_played
    assert wait_for(lambda: player.position_ms() > muted_at + 300.0)  # the clock runs on
    assert player.frames_played == frames  # nothing more reached the device
    player.set_muted(False)
    assert wait_for(lambda: player.frames_played > frames)  # the device plays again
    assert player.audible
    # From where the clock was, not from where the sound stopped: no replay of the muted part.
    assert player.frames_played >= round(muted_at / 1000 * RATE) + 0.25 * RATE
    assert player.wait_finished(5.0)
    assert player.position_ms() == pytest.approx(2000.0)


def test_an_utterance_begun_while_muted_is_never_played() -> None:
    p = Player(sample_rate=RATE)
    try:
        p.set_muted(True)
        p.begin()
        p.enqueue(tone(0.3))
        p.end()
        assert p.wait_finished(3.0)
        assert p.frames_played == 0 and not p.audible
        assert p.position_ms() == pytest.approx(300.0)
    finally:
        p.close()


@pytest.mark.audio
def test_pieces_enqueued_while_playing_play_gaplessly(player: Player) -> None:
    pieces = [tone(0.25, freq=300 + 100 * i) for i in range(6)]
    player.begin()
    player.enqueue(pieces[0])
    for piece in pieces[1:]:
        # Each piece arrives while the previous one is still playing, like a streamed reply.
        near_end = player.queued_ms() - 150.0
        assert wait_for(lambda: player.position_ms() > near_end)  # noqa: B023
        assert player.playing
        player.enqueue(piece)
    player.end()
    assert player.wait_finished(5.0)
    total = sum(len(p) for p in pieces)
    assert player.frames_played == total
    assert player.position_ms() == pytest.approx(1000.0 * total / RATE)


@pytest.mark.audio
def test_begin_starts_a_new_utterance_from_zero(player: Player) -> None:
    player.begin()
    player.enqueue(tone(1.0))
    assert wait_for(lambda: player.position_ms() > 200.0)
    player.begin()
    assert player.position_ms() == 0.0
    assert player.queued_ms() == 0.0
    player.enqueue(tone(0.3))
    player.end()
    assert player.wait_finished(4.0)
    assert player.position_ms() == pytest.approx(300.0)


@pytest.mark.audio
def test_underflows_are_counted(player: Player) -> None:
    player.begin()
    player.enqueue(np.zeros(RATE, dtype=np.float32))
    player.end()
    assert wait_for(lambda: player.position_ms() > 100.0)
    # Starve the audio callback for real: hold the GIL for 0.3 s.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1.0)
    try:
        busy_until = time.monotonic() + 0.3
        while time.monotonic() < busy_until:
            pass
    finally:
        sys.setswitchinterval(interval)
    assert player.wait_finished(5.0)
    assert player.underflows >= 1
    assert player.on_underflow == player.underflows


@pytest.mark.audio
def test_device_chosen_by_name(pulse: None) -> None:
    names = devices.list_output_devices()
    if "pulse" not in names or "default" not in names:
        pytest.skip(f"expected ALSA's pulse and default devices, found {names}")
    p = Player(sample_rate=RATE, device="PULS")
    try:
        assert p.notice is None
        p.begin()
        assert wait_for(lambda: p.device_name == "pulse", timeout=3.0)
        p.enqueue(tone(0.1))
        p.end()
        assert p.wait_finished(4.0)
        p.set_device("default")  # idle now: takes effect at once, for the next utterance
        p.begin()
        assert wait_for(lambda: p.device_name == "default", timeout=3.0)
    finally:
        p.close()


@pytest.mark.audio
def test_unknown_device_name_falls_back_to_the_default(pulse: None) -> None:
    p = Player(sample_rate=RATE, device="no such sound card")
    try:
        assert not p.silent
        assert p.notice is not None
        assert "not found" in p.notice
        p.begin()
        p.enqueue(tone(0.1))
        p.end()
        assert p.wait_finished(4.0)
        assert p.frames_played == round(0.1 * RATE)
    finally:
        p.close()


@pytest.mark.audio
def test_idle_stream_stops_and_starts_again(pulse: None) -> None:
    p = Player(sample_rate=RATE, idle_stop_s=0.2)
    try:
        # Opened ahead of the first utterance, in the player's own thread; started only once
        # audio is queued (a running stream would play its buffer of zeros first).
        assert wait_for(lambda: p.stream_prepared, timeout=3.0)
        p.begin()
        time.sleep(0.1)
        assert not p.stream_open
        p.enqueue(tone(0.1))
        assert wait_for(lambda: p.stream_open, timeout=3.0)
        p.end()
        assert p.wait_finished(4.0)
        assert wait_for(lambda: not p.stream_open, timeout=3.0)
        assert p.stream_prepared  # stopped, not closed: the next start is quick
        p.begin()
        p.enqueue(tone(0.1))
        assert wait_for(lambda: p.stream_open, timeout=3.0)
        p.end()
        assert p.wait_finished(4.0)
        assert p.frames_played == round(0.1 * RATE)
    finally:
        p.close()
    assert (p.stream_open, p.stream_prepared, p.playing) == (False, False, False)
    p.close()  # twice is fine


@pytest.mark.audio
def test_a_reply_waiting_for_its_next_piece_stops_the_stream_and_resumes(pulse: None) -> None:
    p = Player(sample_rate=RATE, idle_stop_s=0.1)
    try:
        p.begin()
        p.enqueue(tone(0.2))
        assert wait_for(lambda: p.position_ms() >= 200.0)
        assert wait_for(lambda: not p.stream_open)  # dry: stopped while the piece is made
        assert p.playing and p.position_ms() == pytest.approx(200.0)
        p.enqueue(tone(0.2, freq=660.0))
        p.end()
        assert p.wait_finished(4.0)
        assert p.frames_played == round(0.4 * RATE)
        assert p.position_ms() == pytest.approx(400.0)
    finally:
        p.close()


@pytest.mark.audio
def test_volume_is_clamped(pulse: None) -> None:
    p = Player(sample_rate=RATE, volume=3.0)
    try:
        assert p.volume == 1.0
        p.volume = -1.0
        assert p.volume == 0.0
        p.volume = 0.3
        assert p.volume == pytest.approx(0.3)
    finally:
        p.close()


# -- a private PulseAudio server that a test can break -----------------------------------------


@pytest.fixture
def private_pulse(pulse: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivatePulse]:
    """A PulseAudio server of this test's own, with a null sink; PULSE_SERVER points at it."""
    if not PrivatePulse.available():
        reason = "pulseaudio and pulseaudio-utils are needed to break a sound server on purpose"
        if os.environ.get("CI"):
            pytest.fail(reason + " (scripts/system-deps.sh test installs them)")
        pytest.skip(reason)
    with PrivatePulse(sink="vanishing") as server:
        monkeypatch.setenv("PULSE_SERVER", server.env["PULSE_SERVER"])
        yield server


def assert_clock_continuous(samples: list[tuple[float, float]]) -> None:
    """Monotonic, and never jumping ahead by more than the wall time passed (+ 50 ms)."""
    for (t0, p0), (t1, p1) in itertools.pairwise(samples):
        assert p1 >= p0
        assert p1 - p0 <= 1000.0 * (t1 - t0) + 50.0


@pytest.mark.audio
def test_device_vanishing_mid_utterance_continues_silently(private_pulse: PrivatePulse) -> None:
    p = Player(sample_rate=RATE)
    try:
        p.begin()
        assert wait_for(lambda: bool(p.device_name), timeout=3.0)
        p.enqueue(tone(1.5))
        p.end()
        assert wait_for(lambda: p.position_ms() > 400.0)
        before = sample_clock_for(p, 0.05)
        private_pulse.pactl("unload-module", "module-null-sink")  # the sound card is gone
        after = sample_clock(p)
        assert (p.finished, p.silent, p.notice) == (True, True, LOST_NOTICE)
        assert p.position_ms() == pytest.approx(1500.0)
        assert_clock_continuous(before + after)
        # The next utterance finds no device and plays silently too, in real time.
        p.begin()
        assert wait_for(lambda: p.silent, timeout=3.0)
        assert p.notice is not None
        p.enqueue(tone(0.2))
        p.end()
        assert p.wait_finished(3.0)
        assert p.position_ms() == pytest.approx(200.0)
    finally:
        p.close()


def sample_clock_for(player: Player, seconds: float) -> list[tuple[float, float]]:
    end = time.monotonic() + seconds
    samples = []
    while time.monotonic() < end:
        samples.append((time.monotonic(), player.position_ms()))
        time.sleep(0.005)
    return samples


@pytest.mark.audio
def test_stalled_device_continues_silently(private_pulse: PrivatePulse) -> None:
    p = Player(sample_rate=RATE, stall_s=0.5)
    try:
        p.begin()
        p.enqueue(tone(1.0))
        p.end()
        assert wait_for(lambda: p.position_ms() > 200.0)
        private_pulse.pactl("suspend-sink", private_pulse.sink, "1")  # callbacks stop coming
        samples = sample_clock(p)
        assert (p.finished, p.silent, p.notice) == (True, True, LOST_NOTICE)
        assert p.position_ms() == pytest.approx(1000.0)
        assert_clock_continuous(samples)
    finally:
        p.close()


def faded(samples: FloatArray, seconds: float = 0.02) -> FloatArray:
    """Raised-cosine fades, so resampling in the sound server adds no ringing at the edges."""
    n = round(seconds * RATE)
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(np.float32)
    out = samples.copy()
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out


def record_amplitude(server: PrivatePulse, player: Player, samples: FloatArray) -> float:
    """Play a tone and return the amplitude the sink's monitor heard (from its RMS)."""
    with tempfile.TemporaryFile() as out:
        rec = subprocess.Popen(
            [
                "parec",
                f"--device={server.sink}.monitor",
                "--raw",
                "--format=float32le",
                "--channels=1",
                f"--rate={RATE}",
                "--latency-msec=20",
            ],
            env=server.env,
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.2)  # let the recorder connect before the sound starts
            player.begin()
            player.enqueue(samples)
            player.end()
            assert player.wait_finished(5.0)
            time.sleep(0.2)  # the recorder's own buffer
        finally:
            rec.terminate()
            rec.wait()
        out.seek(0)
        heard = np.frombuffer(out.read(), dtype=np.float32)
    loud = np.flatnonzero(np.abs(heard) > 0.05)
    assert len(loud) > len(samples) // 2
    body = heard[loud[0] : loud[-1] + 1]
    return float(np.sqrt(2.0 * np.mean(body.astype(np.float64) ** 2)))


@pytest.mark.audio
def test_volume_scales_what_the_device_plays(private_pulse: PrivatePulse) -> None:
    p = Player(sample_rate=RATE, volume=1.0)
    try:
        loud = record_amplitude(private_pulse, p, faded(tone(0.5, amplitude=0.8)))
        p.volume = 0.25
        quiet = record_amplitude(private_pulse, p, faded(tone(0.5, amplitude=0.8)))
    finally:
        p.close()
    assert loud == pytest.approx(0.8, abs=0.05)
    assert quiet / loud == pytest.approx(0.25, abs=0.02)


# -- no PortAudio, no device: the silent clock (subprocesses, the import fails for real) -------

SILENT_RUN = """
import json, time
import numpy as np
from companion.audio.player import Player

p = Player(sample_rate=22050)
result = {"silent": p.silent, "notice": p.notice}
start = time.monotonic()
p.begin()
p.enqueue(np.zeros(11025, np.float32))
time.sleep(0.2)
p.enqueue(np.zeros(11025, np.float32))
p.end()
result["mid"] = p.position_ms()
result["finished_early"] = p.finished
result["done"] = p.wait_finished(5.0)
result["elapsed"] = time.monotonic() - start
result["end"] = p.position_ms()
p.begin()
p.enqueue(np.zeros(22050, np.float32))
time.sleep(0.3)
p.stop()
frozen = p.position_ms()
time.sleep(0.1)
result["stopped"] = [frozen, p.position_ms(), p.finished, p.playing]
result["silent_after"] = p.silent
p.close()
print(json.dumps(result))
"""


def run_silent(prelude: str, env: dict[str, str] | None = None) -> dict[str, object]:
    code = textwrap.dedent(prelude) + SILENT_RUN
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def check_silent_clock(result: dict[str, object]) -> None:
    assert result["silent"] is True
    assert result["silent_after"] is True
    assert result["finished_early"] is False
    assert result["done"] is True
    assert result["end"] == pytest.approx(1000.0)
    assert isinstance(result["mid"], float)
    assert 150.0 <= result["mid"] <= 400.0  # 0.2 s of real time passed (loose)
    assert isinstance(result["elapsed"], float)
    assert 0.95 <= result["elapsed"] <= 3.0
    stopped = result["stopped"]
    assert isinstance(stopped, list)
    frozen, later, finished, playing = stopped
    assert 250.0 <= frozen <= 600.0
    assert later == frozen
    assert finished is True
    assert playing is False


def test_no_portaudio_gives_a_silent_clock_and_a_notice() -> None:
    # What `import sounddevice` does when libportaudio2 is not installed: raise OSError.
    result = run_silent(
        """
        import importlib.abc, sys
        class NoPortAudio(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "sounddevice":
                    raise OSError("PortAudio library not found")
                return None
        sys.meta_path.insert(0, NoPortAudio())
        """
    )
    check_silent_clock(result)
    assert result["notice"] == devices.NO_PORTAUDIO
    assert "sudo apt-get install libportaudio2" in devices.NO_PORTAUDIO


def test_no_sounddevice_gives_a_silent_clock_and_a_notice() -> None:
    result = run_silent("import sys\nsys.modules['sounddevice'] = None\n")
    check_silent_clock(result)
    assert result["notice"] == devices.NO_SOUNDDEVICE


PROBE_DEVICES = (
    "from companion.audio import devices as d; "
    "print(d.load_backend().sd is not None, d.list_output_devices())"
)


def test_no_output_device_gives_a_silent_clock_and_a_notice(tmp_path: Path) -> None:
    # PortAudio present, but no sound server to reach: ALSA's pulse devices are not listed.
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "PULSE_SERVER": "unix:/nonexistent"}
    probe = subprocess.run(
        [sys.executable, "-c", PROBE_DEVICES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    if not probe.startswith("True []"):
        pytest.skip(f"PortAudio missing, or this machine has a sound card of its own: {probe}")
    result = run_silent("", env)
    check_silent_clock(result)
    assert result["notice"] == devices.NO_DEVICE


@pytest.mark.audio
def test_calls_from_two_threads_while_the_callback_runs(player: Player) -> None:
    """The speech thread begins, queues, ends and stops while the GUI thread reads the clock."""
    errors: list[BaseException] = []
    done = threading.Event()

    def gui() -> None:
        try:
            while not done.is_set():
                position = player.position_ms()
                assert 0.0 <= position < 1e6
                _ = (player.finished, player.playing, player.queued_ms())
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    reader = threading.Thread(target=gui)
    reader.start()
    try:
        for i in range(40):
            player.begin()
            for _ in range(3):
                player.enqueue(tone(0.01))
            if i % 3 == 0:
                player.stop()
            else:
                player.end()
            if i % 5 == 0:
                player.volume = 0.5 + (i % 2) / 2
    finally:
        done.set()
        reader.join()
    assert errors == []
    player.begin()
    player.enqueue(tone(0.2))
    player.end()
    assert player.wait_finished(4.0)
    assert player.position_ms() == pytest.approx(200.0)
    assert player.frames_played == round(0.2 * RATE)
