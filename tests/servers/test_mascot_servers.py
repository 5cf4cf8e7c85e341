# SPDX-License-Identifier: GPL-3.0-or-later
"""The whole mascot (offscreen, real player on the PulseAudio null sink, real sentry-sdk with a
recording transport) speaking through real servers, the text handed over by ``companion say``
as a process.

- Right key: the reply is heard at the server's own speed (the frames the sound card took
  are within 3 % of the server's own WAV, and it took that long to hear), the mouth moves
  and comes back to rest, no crash report.
- Wrong key: the sign-in path (the reply held, one sign-in dialog, no report); the right key
  pasted into the dialog, the held reply plays from its start.
- No speech route: the embedded voice speaks, one notice offering Settings, no report.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import soundfile
from PySide6.QtCore import QObject, QTimer, Slot
from pytestqt.qtbot import QtBot

from tests.faults.conftest import QT_OFFSCREEN_NOISE, Mascot
from tests.servers.conftest import (
    REPO,
    SPEECH_SERVERS,
    TEXT,
    VOICELESS_SERVERS,
    companion_env,
    result,
)
from tests.servers.servers import RIGHT_KEY, WRONG_KEY, Running
from tests.support.fixtures import RecordingTransport

pytestmark = [pytest.mark.qt_log_ignore(QT_OFFSCREEN_NOISE), pytest.mark.usefixtures("pulse")]

SPEED_TOLERANCE = 0.03
RATE = 22050


class Watch(QObject):
    """What the user meets: when the reply started and ended, the mouth every 10 ms."""

    def __init__(self, m: Mascot) -> None:
        super().__init__()
        self.m = m
        self.started: float | None = None
        self.ended: float | None = None
        self.openness: list[float] = []
        self.frames = 0
        m.app.router.reply_started.connect(self._start)
        m.app.router.reply_finished.connect(self._end)
        self._timer = QTimer(self)
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._sample)
        self._timer.start()

    @Slot(int)
    def _start(self, _rid: int) -> None:
        self.started = time.monotonic()

    @Slot(int)
    def _end(self, _rid: int) -> None:
        self.ended = time.monotonic()
        self.frames = self.m.app.player.frames_played

    @Slot()
    def _sample(self) -> None:
        if self.started is not None and self.ended is None:
            self.openness.append(self.m.app.window.view.current_mouth().openness)

    def heard_s(self) -> float:
        return self.frames / RATE

    def wall_s(self) -> float:
        assert self.started is not None and self.ended is not None
        return self.ended - self.started

    def mouth_moved(self) -> float:
        """The share of the 10 ms samples with the mouth open."""
        return sum(o > 0.05 for o in self.openness) / max(1, len(self.openness))


def own_seconds(server: Running) -> float:
    info = soundfile.info(io.BytesIO(server.own_wav(TEXT)))
    return float(info.frames) / float(info.samplerate)


def say_process(config: Path, server: Running) -> subprocess.Popen[str]:
    """``companion say TEXT`` as a user types it (the mascot runs in this test)."""
    env = companion_env(config, server, RIGHT_KEY)
    return subprocess.Popen(
        [sys.executable, "-m", "companion", "say", TEXT], env=env, cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def check_heard(name: str, check: str, watch: Watch, own: float, reports: int) -> None:
    ratio = watch.heard_s() / own
    result(name, check, ratio=f"{ratio:.4f}", wall_s=f"{watch.wall_s():.2f}", own_s=f"{own:.2f}",
           mouth_open=f"{watch.mouth_moved():.2f}", reports=reports)  # fmt: skip
    assert abs(ratio - 1.0) <= SPEED_TOLERANCE, (watch.heard_s(), own)
    assert watch.wall_s() >= own * (1 - SPEED_TOLERANCE)  # heard in real time, not skipped
    assert watch.wall_s() < own + 3.0
    assert watch.mouth_moved() > 0.3


@pytest.mark.parametrize("name", SPEECH_SERVERS)
def test_the_mascot_speaks_with_the_right_key(
    name: str,
    server: Running,
    qtbot: QtBot,
    make_mascot: Callable[..., Mascot],
    sentry_transport: RecordingTransport,
    _private_config_dir: Path,
) -> None:
    own = own_seconds(server)
    m = make_mascot(token=RIGHT_KEY, backend_url=server.base_url, ipc=True)
    watch = Watch(m)
    say = say_process(_private_config_dir, server)
    qtbot.wait_until(lambda: say.poll() is not None, timeout=30000)
    _out, err = say.communicate()
    assert say.returncode == 0, err
    qtbot.wait_until(lambda: bool(m.finished) or bool(m.failed), timeout=60000)
    assert not m.failed, m.failed
    check_heard(name, "mascot_right_key", watch, own, len(sentry_transport.events))
    qtbot.wait_until(lambda: m.app.window.view.current_mouth().openness == 0.0, timeout=5000)
    assert sentry_transport.events == []
    assert m.bubble.errors() == []


@pytest.mark.parametrize("name", SPEECH_SERVERS)
def test_a_wrong_key_is_the_sign_in_path_then_the_reply_plays(
    name: str,
    server: Running,
    qtbot: QtBot,
    make_mascot: Callable[..., Mascot],
    sentry_transport: RecordingTransport,
) -> None:
    own = own_seconds(server)
    m = make_mascot(token=WRONG_KEY, backend_url=server.base_url)
    flow = m.app.session_flow
    if flow.dialog is None:
        with qtbot.wait_signal(flow.dialog_opened, timeout=30000):
            m.app.router.say(TEXT)
    else:
        m.app.router.say(TEXT)
    qtbot.wait_until(lambda: m.app.session_flow.held_reply is not None, timeout=30000)
    assert m.app.session_flow.held_reply.text == TEXT and not m.finished and not m.failed
    assert sentry_transport.events == []
    dialog = flow.dialog
    assert dialog is not None
    watch = Watch(m)
    dialog.token_edit.setText(RIGHT_KEY)
    dialog.token_button.click()
    qtbot.wait_until(lambda: bool(m.finished) or bool(m.failed), timeout=60000)
    assert not m.failed, m.failed
    result(name, "mascot_wrong_key", sign_in="dialog", held="yes",
           reports=len(sentry_transport.events))  # fmt: skip
    check_heard(name, "mascot_after_sign_in", watch, own, len(sentry_transport.events))
    assert sentry_transport.events == []
    assert all(action != "retry" for _text, action in m.bubble.errors())


@pytest.mark.parametrize("name", VOICELESS_SERVERS)
def test_no_speech_route_the_embedded_voice_speaks_with_one_notice(
    name: str,
    server: Running,
    qtbot: QtBot,
    make_mascot: Callable[..., Mascot],
    sentry_transport: RecordingTransport,
) -> None:
    m = make_mascot(token=RIGHT_KEY, backend_url=server.base_url)
    watch = Watch(m)
    first = m.app.router.say(TEXT)
    qtbot.wait_until(lambda: first in m.finished or bool(m.failed), timeout=60000)
    assert not m.failed, m.failed
    host = server.base_url.split("//", 1)[1].split("/", 1)[0]

    def notices() -> list[tuple[str, ...]]:
        return [
            msg
            for msg in m.bubble.messages
            if "has no voice (HTTP 404), so the built-in voice speaks instead" in msg[0]
            and host in msg[0]  # the notice names the server
            and msg[1:] == ("info", "settings")
        ]

    qtbot.wait_until(lambda: len(notices()) == 1, timeout=5000)
    second = m.app.router.say("And once more.")
    qtbot.wait_until(lambda: second in m.finished, timeout=60000)
    result(name, "mascot_no_speech_route", heard_s=f"{watch.heard_s():.2f}",
           mouth_open=f"{watch.mouth_moved():.2f}", notices=len(notices()),
           reports=len(sentry_transport.events))  # fmt: skip
    assert len(notices()) == 1
    assert watch.mouth_moved() > 0.3 and watch.heard_s() > 0.5
    assert m.app.engine_name == "remote"  # the backend engine, now speaking with Piper
    assert sentry_transport.events == []
    assert m.bubble.errors() == []
