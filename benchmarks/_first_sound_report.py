# SPDX-License-Identifier: GPL-3.0-or-later
"""``first_sound.py``'s samples, the steps of its breakdown, and its printed report."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

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


def report(name: str, samples: list[Sample]) -> None:
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
