# SPDX-License-Identifier: GPL-3.0-or-later
"""The session coordinator owns the 401 path: held replies, the signed-out face, one dialog,
the replay after sign-in. Real speech thread, player, mascot, router, presenter, SessionStore
and sign-in dialog; the "backend" is an engine that refuses every request without the right
token (the session's own, read per request as the remote engine does)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from companion.backend.errors import Unauthorized
from companion.speech.espeak_engine import EspeakEngine
from companion.speech.types import AudioChunk, CancelToken
from tests.support.fixtures import RecordingTransport
from tests.support.mascot_rig import RATE, Rig, rig_factory

# WORKAROUND for the offscreen platform: Qt raises Tool windows and dialogs when they are shown
# (and propagates size hints for dialogs), and the offscreen plugin answers each with a warning
# (QPlatformWindow defaults, qtbase src/gui/kernel/qplatformwindow.cpp). Real platforms do not.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (raise|propagateSizeHints)")

GOOD = "signed-in-token"
SPEECH = "/openai/v1/audio/speech"
SHORT = "Hello there. How are you today?"


class _TokenEngine:
    """Speaks (espeak-ng) only with the session's right token; else the backend's 401."""

    name = "token-gated"

    def __init__(self, token: Callable[[], str | None]) -> None:
        self._token = token
        self._voice = EspeakEngine(sample_rate=RATE)
        self.refused = 0

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        if self._token() != GOOD:  # a lapsed session raises SignedOut (an Unauthorized) here
            self.refused += 1
            raise Unauthorized("POST", SPEECH)
        yield from self._voice.synthesize(text, voice=voice, speed=speed, cancel=cancel)


@pytest.fixture
def make_rig(qtbot: QtBot) -> Iterator[Callable[..., Rig]]:
    yield from rig_factory(qtbot)


def _gated(qtbot: QtBot, make_rig: Callable[..., Rig], **settings: object) -> tuple[Rig, list]:  # type: ignore[type-arg]
    engines: list[_TokenEngine] = []
    rig_box: list[Rig] = []

    def engine() -> _TokenEngine:
        made = _TokenEngine(lambda: rig_box[0].session.session.token())
        engines.append(made)
        return made

    rig = make_rig(engine=engine, **settings)
    rig_box.append(rig)
    return rig, engines


def test_unauthorized_holds_the_replies_and_asks_once(
    qtbot: QtBot, make_rig: Callable[..., Rig], sentry_transport: RecordingTransport
) -> None:
    rig, _ = _gated(qtbot, make_rig, queue_mode="queue")
    asked: list[Unauthorized] = []
    rig.session.sign_in_needed.connect(asked.append)
    with qtbot.assert_not_emitted(rig.router.reply_failed):
        rig.router.say("First.")
        rig.router.say("Second.")
        rig.router.say("Third.")
        qtbot.wait_until(lambda: rig.presenter.state == "signed_out", timeout=30000)
        qtbot.wait_until(lambda: not rig.router.busy)
    assert len(asked) == 1 and asked[0].path == SPEECH
    assert [r.text for r in rig.session.held] == ["First.", "Second.", "Third."]
    assert rig.session.held_reply is not None and rig.session.held_reply.text == "First."
    assert rig.view.expression == "signed_out"
    assert rig.bubble.action == "sign_in"
    assert rig.view.current_mouth().openness == 0.0
    assert rig.session.dialog is not None and rig.session.session.state == "lapsed"
    # Cancelled sign-in: the first reply waits in the replay slot; nothing was reported.
    with qtbot.wait_signal(rig.session.sign_in_cancelled, timeout=5000):
        rig.cancel_sign_in()
    assert rig.session.held_reply is None and rig.session.held == []
    assert rig.router.last_reply is not None and rig.router.last_reply.text == "First."
    assert rig.view.expression == "signed_out" and rig.bubble.action == "sign_in"
    assert sentry_transport.events == []


def test_after_sign_in_every_held_reply_plays_from_its_start_in_order(
    qtbot: QtBot, make_rig: Callable[..., Rig]
) -> None:
    rig, engines = _gated(qtbot, make_rig, queue_mode="queue")
    finished: list[int] = []
    rig.router.reply_finished.connect(finished.append)
    with qtbot.wait_signal(rig.session.sign_in_needed, timeout=30000):
        rig.router.say(SHORT)
        rig.router.say("And a second one.")
    qtbot.wait_until(lambda: not rig.router.busy, timeout=30000)
    texts: list[str] = []
    rig.router.reply_started.connect(lambda rid: texts.append(rig.router.current_reply.text))
    rig.sign_in(GOOD)
    qtbot.wait_until(lambda: len(finished) == 2, timeout=60000)
    assert texts == [SHORT, "And a second one."]
    assert rig.router.last_reply is not None and rig.router.last_reply.utterances[0].index == 0
    assert rig.session.held == [] and rig.session.dialog is None
    assert rig.session.session.state == "signed_in"
    assert engines[0].refused >= 1


def test_401s_while_holding_coalesce_into_the_one_dialog(
    qtbot: QtBot, make_rig: Callable[..., Rig]
) -> None:
    rig, _ = _gated(qtbot, make_rig)
    opened: list[object] = []
    rig.session.dialog_opened.connect(lambda: opened.append(rig.session.dialog))
    with qtbot.wait_signal(rig.session.sign_in_needed, timeout=30000):
        rig.router.say("One.")
    # More replies while signed out: each is refused without a request (the session is
    # lapsed), held in order, and the same dialog stays.
    for text in ("Two.", "Three."):
        with qtbot.wait_signal(rig.worker_done.finished, timeout=30000):
            rig.router.say(text)
        qtbot.wait_until(lambda: not rig.router.busy, timeout=5000)
    assert len(opened) == 1 and rig.session.dialog is opened[0]
    assert [r.text for r in rig.session.held] == ["One.", "Two.", "Three."]


def test_a_401_reported_from_elsewhere_stops_the_voice_and_holds_the_reply(
    qtbot: QtBot, make_rig: Callable[..., Rig]
) -> None:
    rig = make_rig()  # a voice that needs no sign-in
    long = " ".join(f"Sentence {i} is spoken slowly." for i in range(20))
    with qtbot.wait_signal(rig.router.reply_started, timeout=30000):
        rig.router.say(long)
    rig.session.report_unauthorized(Unauthorized("GET", "/auth/me"))
    assert not rig.router.busy and not rig.player.audible
    assert rig.view.current_mouth().openness == 0.0
    assert rig.session.held_reply is not None and rig.session.held_reply.text == long
    assert rig.session.held_error is not None and rig.session.held_error.path == "/auth/me"
    assert rig.presenter.state == "signed_out"


def test_a_stream_stopped_by_a_401_keeps_its_text_and_plays_whole(
    qtbot: QtBot, make_rig: Callable[..., Rig]
) -> None:
    rig, _ = _gated(qtbot, make_rig)
    rid = rig.router.begin_stream()
    assert rid is not None
    with qtbot.wait_signal(rig.session.sign_in_needed, timeout=30000):
        rig.router.feed(rid, "The first part,")
    # The chat goes on writing while the user signs in: the held reply collects it.
    rig.router.feed(rid, "and the rest of it.")
    rig.router.end_stream(rid)
    assert rig.session.held_reply is not None
    assert rig.session.held_reply.text == "The first part, and the rest of it."
    with qtbot.wait_signal(rig.router.reply_finished, timeout=60000):
        rig.sign_in(GOOD)
    assert rig.router.last_reply is not None
    assert rig.router.last_reply.text == "The first part, and the rest of it."


def test_a_cancelled_stream_is_not_played_after_sign_in(
    qtbot: QtBot, make_rig: Callable[..., Rig]
) -> None:
    rig, _ = _gated(qtbot, make_rig)
    rid = rig.router.begin_stream()
    assert rid is not None
    with qtbot.wait_signal(rig.session.sign_in_needed, timeout=30000):
        rig.router.feed(rid, "Cut by the chat.")
    rig.router.cancel(rid)  # the chat asks for this reply again instead
    with qtbot.assert_not_emitted(rig.router.reply_started, wait=300):
        rig.sign_in(GOOD)
    assert rig.session.held == []
