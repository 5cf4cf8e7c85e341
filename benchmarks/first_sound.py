# SPDX-License-Identifier: GPL-3.0-or-later
"""First sound at the sound card: a command → the first audible sample at the sink.

Run: ``.venv/bin/python benchmarks/first_sound.py [--runs 5] [--cases say,chat,speak]
[--platform xcb|offscreen] [--no-breakdown] [--base REV] [--undo arena,trim,...]``

Measured as a user meets it: the mascot runs as its own process (``python -m companion``) on a
real X server (a private ``Xvfb``; ``--platform offscreen`` to skip it), with the embedded Piper
voice, playing into a PulseAudio null sink whose monitor is recorded with ``parec``
(``tests/support/private_pulse.py``). The sink belongs to a PulseAudio daemon started for this
run only, so no other test's sound lands in the recording. A sample counts as sound from about
-54 dBFS.

- ``say``: ``companion say TEXT`` (a new process, as typed in a terminal) → first sound;
- ``chat``: the mascot asked through ``companion ask``; a chat server on 127.0.0.1 (the tests'
  reference backend) streams the reply at ``--token-ms`` per token; from the server sending the
  first token → first sound;
- ``speak``: ``companion speak TEXT`` (no mascot: a process that loads the voice itself).

Each case runs once first (reported on its own: the first reply after the mascot started) and
then ``--runs`` times (the median is the figure). Baseline in the same run: the program before
this issue (``git archive`` of ``--base``, default where this branch left ``main``), its own
mascot running beside this one's, the two asked in turn round after round, so both meet the
same load on this shared machine. Printed as well: ``paplay`` of the first piece already made
into a WAV file (the sound server's own floor for command → sound).

A third side, this program with ``benchmarks/_trace.py`` in front of every process, gives the
breakdown from time stamps at each step (CLI start, IPC, text preparation, synthesis of the first
piece, to the player, stream start, device), as medians over its runs. With ``--undo``, a fourth
side, traced too, runs this program with those changes undone (``benchmarks/_variant.py``:
``arena``, ``trim``, ``imports``, ``int8``; or ``threads1``), to see what each costs or saves in
time.
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
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figure import figure
from _first_sound_report import CHAT_STEPS, SAY_STEPS, SPEAK_STEPS, Sample, breakdown, report
from _mascot_proc import REPO, base_tree, default_base, stop, wait_for_line

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
        self.env["COMPANION_LOG_LEVEL"] = "info"  # the lines it waits for
        if platform == "xcb":
            self.env["DISPLAY"] = stack.enter_context(Xvfb())
        self.trace = Path(tempfile.mkdtemp(prefix="companion-trace-")) / "trace.log"

    def env_for(self, side: Side, *, cli: bool = False) -> dict[str, str]:
        env = dict(self.env, COMPANION_CONFIG_DIR=str(side.config))
        if side.traced:
            env["COMPANION_TRACE_FILE"] = str(self.trace)
        if side.undo and not cli:  # the program's changes (applied by _trace.py), not the CLI's
            env["COMPANION_UNDO"] = side.undo
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


@dataclass
class Side:
    """One program under test: a source tree, traced or not, with its own settings folder.

    Sides run one after another within each round, so a baseline sees the same load."""

    label: str
    tree: Path
    traced: bool = False
    config: Path = Path()
    undo: str = ""  # changes undone (benchmarks/_variant.py); traced sides only

    def command(self, *args: str) -> list[str]:
        if self.traced:
            return [sys.executable, str(TRACER), *args]
        return [sys.executable, "-m", "companion", *args]  # from the tree: cwd comes first


def with_config(sides: list[Side], **settings: object) -> list[Side]:
    for side in sides:
        side.config = Path(tempfile.mkdtemp(prefix="companion-bench-"))
        (side.config / "settings.json").write_text(json.dumps({"greeted": True, **settings}))
    return sides


@contextmanager
def mascots(rig: Rig, sides: list[Side]) -> Iterator[None]:
    """Every side's mascot running, voice loaded."""
    procs = []
    try:
        for side in sides:
            log = side.config / "mascot.log"
            with log.open("wb") as err:
                procs.append(subprocess.Popen(
                    side.command(), env=rig.env_for(side), cwd=side.tree,
                    stdout=subprocess.DEVNULL, stderr=err,
                ))  # fmt: skip
            wait_for_line(log, "[app] speech engine:", timeout=180)
        time.sleep(1.5)  # the voices are loaded and warmed; let start-up settle
        yield
    finally:
        for proc in procs:
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


def spawn(rig: Rig, side: Side, *args: str) -> None:
    subprocess.Popen(
        side.command(*args), env=rig.env_for(side, cli=True), cwd=side.tree,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def case_say(rig: Rig, sides: list[Side], runs: int) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {side.label: [] for side in sides}
    with mascots(rig, with_config(sides, engine="piper")):
        for _ in range(runs + 1):
            for side in sides:
                cmd, sink = one_run(rig, lambda side=side: spawn(rig, side, "say", SAY_TEXT))
                samples[side.label].append(Sample(cmd, cmd, sink, rig.events_since(cmd)))
                time.sleep(0.5)
    return samples


def case_speak(rig: Rig, sides: list[Side], runs: int) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {side.label: [] for side in sides}
    with_config(sides, engine="piper")
    for _ in range(runs + 1):
        for side in sides:

            def start(side: Side = side) -> None:
                done = subprocess.run(
                    side.command("speak", SAY_TEXT), env=rig.env_for(side), cwd=side.tree,
                    capture_output=True, timeout=120, check=False,
                )  # fmt: skip
                if done.returncode != 0:
                    raise RuntimeError(f"speak failed: {done.stderr.decode()[-300:]}")

            cmd, sink = one_run(rig, start, quiet_s=0.0)
            samples[side.label].append(Sample(cmd, cmd, sink, rig.events_since(cmd)))
    return samples


def case_chat(rig: Rig, sides: list[Side], runs: int, token_ms: float) -> dict[str, list[Sample]]:
    from tests.support.reference_backend import ReferenceBackend
    from tests.support.reference_chat import install_chat

    samples: dict[str, list[Sample]] = {side.label: [] for side in sides}
    with ReferenceBackend() as backend:
        backend.require_auth = False
        chat = install_chat(backend)
        chat.script.reply = CHAT_REPLY
        chat.script.token_delay = token_ms / 1000.0
        with mascots(rig, with_config(sides, engine="piper", backend_url=backend.openai_url)):
            for _ in range(runs + 1):
                for side in sides:
                    asked = len(chat.requests)
                    cmd, sink = one_run(rig, lambda side=side: spawn(rig, side, "ask", QUESTION))
                    # The first token leaves right after the request arrives (no first delay).
                    events = rig.events_since(cmd)
                    events["token"] = chat.requests[asked].at
                    samples[side.label].append(Sample(cmd, events["token"], sink, events))
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cases", default="say,chat,speak")
    parser.add_argument("--platform", default="xcb", choices=("xcb", "offscreen"))
    parser.add_argument("--token-ms", type=float, default=30.0)
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument("--base", default=None, help="revision for the 'before' baseline")
    parser.add_argument("--undo", default="", help="also a traced side with these undone")
    args = parser.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    steps = {"say": SAY_STEPS, "chat": CHAT_STEPS, "speak": SPEAK_STEPS}
    results: dict[str, dict[str, list[Sample]]] = {}
    with ExitStack() as stack:
        rig = Rig(stack, args.platform)
        floor = statistics.median(floor_paplay(rig, args.runs))
        base = base_tree(args.base if args.base is not None else default_base(), stack)
        load = os.getloadavg()[0]
        print(f"platform {args.platform}, private PulseAudio null sink, load average {load:.1f} "
              f"on {os.cpu_count()} cores; paplay of a ready WAV: {floor:.0f} ms command → "
              "sound")  # fmt: skip
        for case in cases:
            sides = [Side("now", REPO)]
            if base is not None:
                sides.insert(0, Side("before", base))
            if not args.no_breakdown:
                sides.append(Side("now, traced", REPO, traced=True))
            if args.undo:
                sides.append(Side(f"now without {args.undo}, traced", REPO, True, undo=args.undo))
            if case == "say":
                results[case] = case_say(rig, sides, args.runs)
            elif case == "chat":
                results[case] = case_chat(rig, sides, args.runs, args.token_ms)
            else:
                results[case] = case_speak(rig, sides, args.runs)
            for label, samples in results[case].items():
                report(f"{case} ({label})", samples)
            for label in results[case]:
                if label.endswith("traced"):
                    print(f"  {label}:")
                    breakdown(results[case][label], steps[case])
    what = {
        "say": ("first_sound_say", "companion say → first sound at the sink (mascot running)",
                "<= 250 ms (must <= 400)"),
        "chat": ("first_sound_chat", "chat first token → first sound at the sink",
                 "<= 250 ms (must <= 350)"),
        "speak": ("first_sound_speak", "companion speak → first sound at the sink", ""),
    }  # fmt: skip
    for case, by_side in results.items():
        name, label, goal = what[case]
        before = by_side.get("before")
        figure(
            name,
            statistics.median(s.ms for s in by_side["now"][1:]),
            "ms",
            what=label,
            baseline=statistics.median(s.ms for s in before[1:]) if before else floor,
            baseline_what="before this issue, same run" if before else "paplay of a ready WAV",
            goal=goal,
        )
        figure(f"{name}_first", by_side["now"][0].ms, "ms", what=f"{label}, first run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
