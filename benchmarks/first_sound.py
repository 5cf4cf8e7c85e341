# SPDX-License-Identifier: GPL-3.0-or-later
"""First sound at the sound card: a command → the first audible sample at the sink.

Run: ``.venv/bin/python benchmarks/first_sound.py [--runs 5] [--cases say,chat,speak]
[--platform xcb|offscreen] [--no-breakdown]``

Measured as a user meets it: the mascot runs as its own process (``python -m companion``) on a
real X server (a private ``Xvfb``; ``--platform offscreen`` to skip it), with the embedded Piper
voice, playing into a PulseAudio null sink whose monitor is recorded with ``parec``
(``benchmarks/_sink.py``). The sink belongs to a PulseAudio daemon started for this run only, so
no other test's sound lands in the recording. A sample counts as sound from about -54 dBFS.

- ``say``: ``companion say TEXT`` (a new process, as typed in a terminal) → first sound;
- ``chat``: the mascot asked through ``companion ask``; a chat server on 127.0.0.1 (the tests'
  reference backend) streams the reply at ``--token-ms`` per token; from the server sending the
  first token → first sound;
- ``speak``: ``companion speak TEXT`` (no mascot: a process that loads the voice itself).

Each case runs once first (reported on its own: the first reply after the mascot started) and
then ``--runs`` times (the median is the figure). Baseline in the same run: ``paplay`` of the
first piece already made into a WAV file (the sound server's own floor for command → sound).

Then the same runs once more with ``benchmarks/_trace.py`` in front of every process: time stamps
at each step (CLI start, IPC, text preparation, synthesis of the first piece, to the player,
stream start, device) give the breakdown, as medians over the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figure import figure
from _mascot_proc import REPO, stop, wait_for_line

from tests.support.private_pulse import MonitorRecorder, PrivatePulse
from tests.support.xvfb import Xvfb

HERE = Path(__file__).resolve().parent

SAY_TEXT = "Hello there, your build has finished and every test passed."
QUESTION = "How does the day look?"
CHAT_REPLY = (
    "Good morning, it is lovely to hear from you again. "
    "The forecast says sunshine until the evening."
)
TRACER = HERE / "_trace.py"

#: (step, from event, to event) for the breakdown; "cmd" is the command, "sink" the sound.
SAY_STEPS = (
    ("CLI start (interpreter, imports)", "cmd", "cli_send"),
    ("IPC to the mascot", "cli_send", "ipc_request"),
    ("router → speech thread", "ipc_request", "pipeline_start"),
    ("text preparation", "pipeline_start", "text_prepared"),
    ("synthesis of the first piece", "text_prepared", "synth_first_chunk"),
    ("visemes, word timings", "synth_first_chunk", "utterance_ready"),
    ("to the player (GUI thread)", "utterance_ready", "player_enqueue"),
    ("stream start → first callback", "player_enqueue", "first_callback"),
    ("device latency (to the sink)", "first_callback", "sink"),
)
CHAT_STEPS = (
    ("token reaches the chat thread", "token", "chat_first_delta"),
    ("first piece complete → speech thread", "chat_first_delta", "pipeline_start"),
    ("synthesis of the first piece", "pipeline_start", "synth_first_chunk"),
    ("visemes, word timings", "synth_first_chunk", "utterance_ready"),
    ("to the player (GUI thread)", "utterance_ready", "player_enqueue"),
    ("stream start → first callback", "player_enqueue", "first_callback"),
    ("device latency (to the sink)", "first_callback", "sink"),
)
SPEAK_STEPS = (
    ("interpreter start", "cmd", "process_start"),
    ("imports, settings", "process_start", "voice_load_start"),
    ("voice load", "voice_load_start", "voice_load_done"),
    ("text preparation", "voice_load_done", "text_prepared"),
    ("synthesis of the first piece", "text_prepared", "synth_first_chunk"),
    ("visemes, word timings", "synth_first_chunk", "utterance_ready"),
    ("to the player", "utterance_ready", "player_enqueue"),
    ("stream start → first callback", "player_enqueue", "first_callback"),
    ("device latency (to the sink)", "first_callback", "sink"),
)


@dataclass
class Sample:
    """One run: command time, reference time (command or first token), sound, trace events."""

    cmd: float
    ref: float
    sink: float
    events: dict[str, float] = field(default_factory=dict)

    @property
    def ms(self) -> float:
        return 1000.0 * (self.sink - self.ref)


class Rig:
    """The sound card, the display and the recorder shared by every case."""

    def __init__(self, stack: ExitStack, platform: str) -> None:
        self.pulse = stack.enter_context(PrivatePulse())
        self.recorder = MonitorRecorder(self.pulse).start()
        stack.callback(self.recorder.stop)
        self.env = {**os.environ, **self.pulse.env}
        for key in [k for k in self.env if k.startswith("COMPANION_") or k.startswith("QT_")]:
            if key != "COMPANION_TEST_PULSE":
                del self.env[key]
        self.env["QT_QPA_PLATFORM"] = platform
        if platform == "xcb":
            self.env["DISPLAY"] = stack.enter_context(Xvfb())
        self.trace = Path(tempfile.mkdtemp(prefix="companion-trace-")) / "trace.log"

    def env_for(self, config: Path, traced: bool) -> dict[str, str]:
        env = dict(self.env, COMPANION_CONFIG_DIR=str(config))
        if traced:
            env["COMPANION_TRACE_FILE"] = str(self.trace)
        return env

    def events_since(self, t: float) -> dict[str, float]:
        found: dict[str, float] = {}
        if not self.trace.is_file():
            return found
        for line in self.trace.read_text().splitlines():
            name, _, value = line.partition(" ")
            at = float(value)
            if at >= t and name not in found:
                found[name] = at
        return found


def command(traced: bool, *args: str) -> list[str]:
    if traced:
        return [sys.executable, str(TRACER), *args]
    return [sys.executable, "-m", "companion", *args]


def config_dir(**settings: object) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="companion-bench-"))
    (folder / "settings.json").write_text(json.dumps({"greeted": True, **settings}))
    return folder


@contextmanager
def mascot(rig: Rig, config: Path, traced: bool) -> Iterator[None]:
    log = config / "mascot.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            command(traced), env=rig.env_for(config, traced), cwd=REPO,
            stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:
        wait_for_line(log, "[app] speech engine:", timeout=120)
        time.sleep(1.0)  # the voice is loaded; let start-up settle
        yield
    finally:
        stop(proc)


def one_run(rig: Rig, start: Callable[[], object], *, quiet_s: float = 0.8) -> tuple[float, float]:
    """Run ``start`` at the command time; wait for its first sound, then for its end."""
    rig.recorder.wait_silence(0.3)
    cmd = time.monotonic()
    start()
    sink = rig.recorder.wait_for_sound(cmd, timeout=60)
    if quiet_s:
        rig.recorder.wait_silence(quiet_s)
    return cmd, sink


def run_cli(rig: Rig, config: Path, traced: bool, *args: str) -> None:
    done = subprocess.run(
        command(traced, *args), env=rig.env_for(config, traced), cwd=REPO,
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"companion {args[0]} failed: {done.stderr.decode()[-300:]}")


def case_say(rig: Rig, runs: int, traced: bool) -> list[Sample]:
    config = config_dir(engine="piper")
    samples = []
    with mascot(rig, config, traced):
        for _ in range(runs + 1):

            def start() -> None:
                subprocess.Popen(
                    command(traced, "say", SAY_TEXT), env=rig.env_for(config, traced), cwd=REPO,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip

            cmd, sink = one_run(rig, start)
            samples.append(Sample(cmd, cmd, sink, rig.events_since(cmd)))
            time.sleep(0.5)
    return samples


def case_speak(rig: Rig, runs: int, traced: bool) -> list[Sample]:
    config = config_dir(engine="piper")
    samples = []
    for _ in range(runs + 1):
        cmd, sink = one_run(
            rig, lambda: run_cli(rig, config, traced, "speak", SAY_TEXT), quiet_s=0.0
        )
        samples.append(Sample(cmd, cmd, sink, rig.events_since(cmd)))
    return samples


def case_chat(rig: Rig, runs: int, traced: bool, token_ms: float) -> list[Sample]:
    from tests.support.reference_backend import ReferenceBackend
    from tests.support.reference_chat import install_chat

    samples = []
    with ReferenceBackend() as backend:
        backend.require_auth = False
        chat = install_chat(backend)
        chat.script.reply = CHAT_REPLY
        chat.script.token_delay = token_ms / 1000.0
        config = config_dir(engine="piper", backend_url=backend.openai_url)
        with mascot(rig, config, traced):
            for _ in range(runs + 1):
                asked = len(chat.requests)

                def start() -> None:
                    subprocess.Popen(
                        command(traced, "ask", QUESTION), env=rig.env_for(config, traced),
                        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )  # fmt: skip

                cmd, sink = one_run(rig, start)
                # The first token leaves right after the request arrives (no first delay).
                token = chat.requests[asked].at
                events = rig.events_since(cmd)
                events["token"] = token
                samples.append(Sample(cmd, token, sink, events))
                time.sleep(0.5)
    return samples


def floor_paplay(rig: Rig, runs: int) -> list[float]:
    """paplay of the first piece as a ready WAV: the sound server's own command → sound."""
    from companion.speech.chunking import split_for_speech
    from companion.speech.piper_engine import PiperEngine

    wav = rig.trace.parent / "first.wav"
    engine = PiperEngine(sample_rate=22050, deterministic=True)
    audio = [c.samples for c in engine.synthesize(
        split_for_speech(SAY_TEXT)[0], voice=None, speed=1.0, cancel=_NoCancel()
    )]  # fmt: skip
    import numpy as np
    import soundfile

    soundfile.write(str(wav), np.concatenate(audio), 22050)
    times = []
    for _ in range(runs):

        def start() -> None:
            subprocess.Popen(["paplay", str(wav)], env=rig.env)

        cmd, sink = one_run(rig, start, quiet_s=0.3)
        times.append(1000.0 * (sink - cmd))
    return times


class _NoCancel:
    cancelled = False

    def raise_if_cancelled(self) -> None:
        pass


def report(name: str, samples: list[Sample], steps: tuple[tuple[str, str, str], ...]) -> None:
    first, rest = samples[0], samples[1:]
    values = [s.ms for s in rest]
    print(
        f"{name}: median {statistics.median(values):.0f} ms over {len(values)} runs "
        f"(runs: {', '.join(f'{v:.0f}' for v in values)}); first run {first.ms:.0f} ms"
    )


def breakdown(samples: list[Sample], steps: tuple[tuple[str, str, str], ...]) -> None:
    rest = samples[1:]
    total = statistics.median(s.ms for s in rest)
    print(f"  breakdown (traced runs, medians; total {total:.0f} ms):")
    for label, start, end in steps:
        spans = []
        for s in rest:
            marks = {**s.events, "cmd": s.cmd, "sink": s.sink}
            if start in marks and end in marks:
                spans.append(1000.0 * (marks[end] - marks[start]))
        value = f"{statistics.median(spans):7.1f} ms" if spans else "      — "
        print(f"    {value}  {label}")
    device = [
        1000.0 * (s.sink - s.events["device_time"]) for s in rest if "device_time" in s.events
    ]
    if device:
        print(f"    (sink vs PortAudio's own device time: {statistics.median(device):+.1f} ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cases", default="say,chat,speak")
    parser.add_argument("--platform", default="xcb", choices=("xcb", "offscreen"))
    parser.add_argument("--token-ms", type=float, default=30.0)
    parser.add_argument("--no-breakdown", action="store_true")
    args = parser.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    runners: dict[str, Callable[[Rig, bool], list[Sample]]] = {
        "say": lambda rig, traced: case_say(rig, args.runs, traced),
        "chat": lambda rig, traced: case_chat(rig, args.runs, traced, args.token_ms),
        "speak": lambda rig, traced: case_speak(rig, args.runs, traced),
    }
    steps = {"say": SAY_STEPS, "chat": CHAT_STEPS, "speak": SPEAK_STEPS}
    with ExitStack() as stack:
        rig = Rig(stack, args.platform)
        floor = statistics.median(floor_paplay(rig, args.runs))
        load = os.getloadavg()[0]
        print(f"platform {args.platform}, private PulseAudio null sink, load average {load:.1f} "
              f"on {os.cpu_count()} cores; baseline paplay of a ready WAV: {floor:.0f} ms "
              "command → sound")  # fmt: skip
        results: dict[str, list[Sample]] = {}
        for case in cases:
            results[case] = runners[case](rig, False)
            report(case, results[case], steps[case])
            if not args.no_breakdown:
                breakdown(runners[case](rig, True), steps[case])
    what = {
        "say": ("first_sound_say", "companion say → first sound at the sink (mascot running)",
                "<= 250 ms (must <= 400)"),
        "chat": ("first_sound_chat", "chat first token → first sound at the sink",
                 "<= 250 ms (must <= 350)"),
        "speak": ("first_sound_speak", "companion speak → first sound at the sink", ""),
    }  # fmt: skip
    for case, samples in results.items():
        name, label, goal = what[case]
        figure(
            name,
            statistics.median(s.ms for s in samples[1:]),
            "ms",
            what=label,
            baseline=floor,
            baseline_what="paplay of a ready WAV",
            goal=goal,
        )
        figure(f"{name}_first", samples[0].ms, "ms", what=f"{label}, first run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
