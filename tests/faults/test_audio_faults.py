# SPDX-License-Identifier: GPL-3.0-or-later
"""Audio faults through the whole mascot: the sound card vanishes mid-reply, the default
output changes, PortAudio is missing, the stream underflows.

The sound-server cases run on a PulseAudio server of the test's own (the player tests'
``private_pulse``), so breaking it breaks nothing else.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from companion.audio import devices
from companion.audio.player import LOST_NOTICE
from tests.faults.conftest import (
    EVIDENCE,
    MAX_LOOP_GAP_MS,
    QT_OFFSCREEN_NOISE,
    LoopWatch,
    Mascot,
    _AllLines,
    env_without_companion,
)
from tests.unit.audio.test_player import PrivatePulse, private_pulse  # noqa: F401  (a fixture)

pytestmark = pytest.mark.qt_log_ignore(QT_OFFSCREEN_NOISE)

ROOT = Path(__file__).resolve().parents[2]
LONG = "The keeper counts the waves: one, two, three, four."
SHORT = "Gulls nod."


def _sink_inputs(server: PrivatePulse) -> list[str]:
    """The sink (its name) each playing stream is on."""
    names = {}
    for line in server.pactl("list", "sinks", "short").splitlines():
        fields = line.split("\t")
        names[fields[0]] = fields[1]
    out = []
    for line in server.pactl("list", "sink-inputs", "short").splitlines():
        fields = line.split("\t")
        out.append(names.get(fields[1], fields[1]))
    return out


@pytest.mark.audio
def test_the_sound_card_vanishes_mid_reply(
    qtbot: QtBot,
    private_pulse: PrivatePulse,  # noqa: F811  (the imported fixture)
    make_mascot: Callable[..., Mascot],
    loop_watch: LoopWatch,
    all_lines: _AllLines,
) -> None:
    m = make_mascot(engine="espeak")
    player = m.app.player
    assert not player.silent
    loop_watch.start()
    EVIDENCE.secret(LONG)
    rid = m.app.router.say(LONG)
    qtbot.wait_until(lambda: rid in m.started and player.position_ms() > 300.0, timeout=20000)
    assert player.stream_open and not player.silent
    pulled = time.monotonic()
    private_pulse.pactl("unload-module", "module-null-sink")  # the sound card is gone
    qtbot.wait_until(lambda: rid in m.finished, timeout=30000)
    took = time.monotonic() - pulled
    reply = m.app.router.last_reply
    assert reply is not None and reply.text == LONG
    assert player.silent and player.notice == LOST_NOTICE
    assert took < reply.total_ms / 1000.0 + 2.0  # it went on in real time, not stuck
    assert m.app.window.view.current_mouth().openness == 0.0
    assert any("[audio] output lost" in line for line in all_lines.lines)
    qtbot.wait_until(lambda: m.app.window.bubble.text() == LOST_NOTICE, timeout=5000)  # said
    # The next reply plays on (silently: there is no sound card left).
    with qtbot.wait_signal(m.app.router.reply_finished, timeout=20000):
        m.app.router.say(EVIDENCE.secret(SHORT))
    assert player.silent
    gap = loop_watch.stop()
    print(f"\n[faults] audio device lost: went on {took:.1f} s, event-loop gap {gap:.0f} ms")
    assert gap < MAX_LOOP_GAP_MS


@pytest.fixture
def second_sink(private_pulse: PrivatePulse) -> Iterator[str]:  # noqa: F811
    """Another null sink on the private server, kept clocked by a keep-alive stream."""
    private_pulse.pactl("load-module", "module-null-sink", "sink_name=second", "rate=48000")
    keep_alive = subprocess.Popen(
        ["pacat", "--playback", "/dev/zero", "--latency-msec=50", "--rate=48000", "-d", "second"],
        env=private_pulse.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield "second"
    finally:
        keep_alive.kill()
        keep_alive.wait()


@pytest.mark.audio
def test_the_default_output_changes(
    qtbot: QtBot,
    private_pulse: PrivatePulse,  # noqa: F811
    second_sink: str,
    make_mascot: Callable[..., Mascot],
) -> None:
    """Headphones unplugged while idle: the default moves to the speakers and the next reply
    plays there, on the device, not on the silent clock."""
    m = make_mascot(engine="espeak")
    player = m.app.player
    with qtbot.wait_signal(m.app.router.reply_finished, timeout=20000):
        m.app.router.say(EVIDENCE.secret(SHORT))
    assert not player.silent
    first = private_pulse.sink
    modules = private_pulse.pactl("list", "modules", "short").splitlines()
    (old,) = [line.split("\t")[0] for line in modules if f"sink_name={first}" in line]
    private_pulse.pactl("set-default-sink", second_sink)
    private_pulse.pactl("unload-module", old)
    where: list[list[str]] = []
    rid = m.app.router.say(EVIDENCE.secret(LONG))
    qtbot.wait_until(lambda: rid in m.started and player.position_ms() > 200.0, timeout=20000)
    where.append(_sink_inputs(private_pulse))
    qtbot.wait_until(lambda: rid in m.finished, timeout=30000)
    print(f"\n[faults] default output changed: streams on {where}")
    assert not player.silent, player.notice
    assert second_sink in where[0]


@pytest.mark.audio
def test_underflows_are_counted_and_the_reply_goes_on(
    qtbot: QtBot, pulse: None, make_mascot: Callable[..., Mascot], all_lines: _AllLines
) -> None:
    """A Python thread hogging the interpreter for two seconds starves the audio callback (it
    waits up to 500 ms for the GIL): the stream underflows; the player counts it, the reply
    plays to its end, nothing breaks."""
    m = make_mascot(engine="espeak")
    player = m.app.player
    before = player.underflows

    def hog() -> None:
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            sum(i * i for i in range(20000))

    old = sys.getswitchinterval()
    thread = threading.Thread(target=hog, name="test-hog")
    rid = m.app.router.say(EVIDENCE.secret(LONG))
    qtbot.wait_until(lambda: rid in m.started, timeout=20000)
    sys.setswitchinterval(0.5)
    try:
        thread.start()
        thread.join()
    finally:
        sys.setswitchinterval(old)
    qtbot.wait_until(lambda: rid in m.finished, timeout=30000)
    counted = player.underflows - before
    print(f"\n[faults] underflows while starved: {counted}")
    assert counted > 0
    assert not [line for line in all_lines.lines if "[crash]" in line]
    with qtbot.wait_signal(m.app.router.reply_finished, timeout=20000):
        m.app.router.say(SHORT)


# -- no PortAudio: processes whose `import sounddevice` raises OSError ---------------------------

NO_PORTAUDIO = textwrap.dedent(
    """
    # What `import sounddevice` does when libportaudio2 is not installed.
    import importlib.abc, sys
    class NoPortAudio(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "sounddevice":
                raise OSError("PortAudio library not found")
            return None
    sys.meta_path.insert(0, NoPortAudio())
    """
)

APP_PROBE = textwrap.dedent(
    """
    import json, sys
    from PySide6.QtCore import QTimer
    from companion.app import AppOptions, Companion, ensure_qapp
    qapp = ensure_qapp()
    app = Companion(qapp=qapp, options=AppOptions(ipc=False, signals=False, telemetry=False,
                                                  greet=False))
    shown = []
    real = app.window.bubble.show_message
    def spy(text, *, kind="info", action=None):
        shown.append(text)
        real(text, kind=kind, action=action)
    app.window.bubble.show_message = spy
    app.start()
    shown.append(app.window.bubble.text())
    finished = []
    app.router.reply_finished.connect(lambda rid: (finished.append(rid), qapp.quit()))
    QTimer.singleShot(0, lambda: app.router.say("Crabs tap on the sand."))
    QTimer.singleShot(60000, qapp.quit)
    qapp.exec()
    print(json.dumps({"silent": app.player.silent, "notice": app.player.notice,
                      "shown": shown, "finished": len(finished),
                      "rest": app.window.view.current_mouth().openness == 0.0}))
    app.shutdown()
    """
)


@pytest.fixture
def no_portaudio(tmp_path: Path) -> dict[str, str]:
    """The environment of a process in which ``import sounddevice`` raises OSError."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_PORTAUDIO)
    return env_without_companion(
        PYTHONPATH=f"{site}:{ROOT}", QT_QPA_PLATFORM="offscreen", COMPANION_CONFIG_DIR=""
    )


def test_without_portaudio_the_mascot_speaks_silently_with_the_notice(
    no_portaudio: dict[str, str], _private_config_dir: Path
) -> None:
    _private_config_dir.mkdir(parents=True, exist_ok=True)
    (_private_config_dir / "settings.json").write_text(
        json.dumps({"engine": "espeak", "greeted": True})
    )
    env = {**no_portaudio, "COMPANION_CONFIG_DIR": str(_private_config_dir)}
    done = subprocess.run(
        [sys.executable, "-c", APP_PROBE], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    EVIDENCE.add("no-portaudio app stderr", done.stderr)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["silent"] is True and result["notice"] == devices.NO_PORTAUDIO
    assert devices.NO_PORTAUDIO in " ".join(result["shown"])  # the bubble said so at start
    assert result["finished"] == 1 and result["rest"] is True
    assert "Traceback" not in done.stderr


def test_without_portaudio_speak_plays_silently_with_the_notice(
    no_portaudio: dict[str, str], _private_config_dir: Path
) -> None:
    _private_config_dir.mkdir(parents=True, exist_ok=True)
    (_private_config_dir / "settings.json").write_text(json.dumps({"engine": "espeak"}))
    env = {**no_portaudio, "COMPANION_CONFIG_DIR": str(_private_config_dir)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "companion", "speak", "Crabs tap on the sand."],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    took = time.monotonic() - started
    EVIDENCE.add("no-portaudio speak stderr", done.stderr)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [f"companion speak: {devices.NO_PORTAUDIO}"]
    assert took > 1.0  # it played, in real time, on the silent clock


def test_without_portaudio_the_self_test_passes_on_the_silent_clock(
    no_portaudio: dict[str, str], _private_config_dir: Path
) -> None:
    env = {**no_portaudio, "COMPANION_CONFIG_DIR": str(_private_config_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "companion", "--self-test"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert done.stdout.startswith("companion self-test: ok: ")
    assert "silent clock" in done.stdout
