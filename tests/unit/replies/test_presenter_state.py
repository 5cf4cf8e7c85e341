# SPDX-License-Identifier: GPL-3.0-or-later
"""Nothing stale survives: a later success ends in the normal face and bubble, Retry of a
streamed reply speaks all of it, a sign-in cancelled without a 401 changes nothing (a real
reference backend on 127.0.0.1 speaks; its faults fail the marked replies)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from companion.backend.client import BackendClient
from companion.replies.presenter import HAPPY_MS
from companion.speech.remote_engine import RemoteEngine
from companion.speech.types import SpeechEngine
from companion.vocab import QueueMode
from tests.support.mascot_rig import RATE, Rig, rig_factory
from tests.support.reference_backend import ReferenceBackend

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (raise|propagateSizeHints)")

BAD = "Wombats dig tunnels."  # the backend fails requests with this text
GOOD = "Otters hold hands."
SPEECH = "/v1/audio/speech"


@pytest.fixture
def make_rig(qtbot: QtBot) -> Iterator[Callable[..., Rig]]:
    yield from rig_factory(qtbot)


@pytest.fixture
def remote(reference_backend: ReferenceBackend) -> Iterator[Callable[[], SpeechEngine]]:
    client = BackendClient(
        base_url=reference_backend.openai_url, token=lambda: reference_backend.token
    )
    reference_backend.speech.audio_format = "wav"
    reference_backend.inject(status=500, path=SPEECH, body_contains="Wombats", times=99)
    yield lambda: RemoteEngine(client=client, sample_rate=RATE)
    client.close()


def test_a_later_success_ends_in_the_normal_face_and_bubble(
    qtbot: QtBot, make_rig: Callable[..., Rig], remote: Callable[[], SpeechEngine]
) -> None:
    rig = make_rig(engine=remote)
    with qtbot.wait_signal(rig.router.reply_failed, timeout=30000):
        rig.router.say(BAD)
    assert rig.view.expression == "concerned" and rig.bubble.action == "retry"
    failed_text = rig.bubble.text()
    assert "500" in failed_text
    for _ in range(2):  # every later success, not only the first
        with qtbot.wait_signal(rig.router.drained, timeout=30000) as ended:
            rig.router.say(GOOD)
        assert ended.args == ["finished"]
        assert rig.view.expression == "happy" and rig.presenter.state == "idle"
        assert rig.bubble.kind != "error" and rig.bubble.action is None
        assert rig.bubble.text() != failed_text
        qtbot.wait_until(lambda: rig.view.expression == "idle", timeout=HAPPY_MS + 3000)
    assert rig.router.failures.replies == []  # stale once a later reply played


def test_a_failure_while_another_reply_waited_is_said_again_at_the_end(
    qtbot: QtBot, make_rig: Callable[..., Rig], remote: Callable[[], SpeechEngine]
) -> None:
    rig = make_rig(engine=remote, queue_mode=QueueMode.QUEUE)
    rig.router.say(BAD)
    rig.router.say(GOOD)
    with qtbot.wait_signal(rig.router.drained, timeout=30000):
        pass
    assert rig.view.expression == "concerned" and rig.bubble.action == "retry"
    assert [r.text for r in rig.router.failures.replies] == [BAD]


def test_retry_of_a_streamed_reply_speaks_all_that_arrived(
    qtbot: QtBot,
    make_rig: Callable[..., Rig],
    remote: Callable[[], SpeechEngine],
    reference_backend: ReferenceBackend,
) -> None:
    rig = make_rig(engine=remote)
    rid = rig.router.begin_stream(force=True)
    assert rid is not None
    with qtbot.wait_signal(rig.router.reply_failed, timeout=30000):
        rig.router.feed(rid, BAD)
    rig.router.feed(rid, "Then they sleep.")  # arrives after the failure
    rig.router.feed(rid, "All day long.")
    rig.router.end_stream(rid)
    reference_backend.clear_faults()
    with qtbot.wait_signal(rig.router.reply_finished, timeout=30000):
        rig.router.retry()
    assert rig.router.last_reply is not None
    assert rig.router.last_reply.text == f"{BAD} Then they sleep. All day long."
    spoken = " ".join(str(r.json) for r in reference_backend.speech_requests()[1:])
    assert "sleep" in spoken and "day long" in spoken


def test_cancelling_a_sign_in_opened_from_the_menu_changes_nothing(
    qtbot: QtBot, make_rig: Callable[..., Rig]
) -> None:
    rig = make_rig()
    with qtbot.wait_signal(rig.router.drained, timeout=30000):
        rig.router.say(GOOD)
    qtbot.wait_until(lambda: rig.view.expression == "idle", timeout=HAPPY_MS + 3000)
    before = (rig.bubble.text(), rig.bubble.action, rig.presenter.state)
    rig.session.open_dialog()
    rig.cancel_sign_in()
    assert rig.view.expression == "idle" and rig.presenter.state == "idle"
    assert (rig.bubble.text(), rig.bubble.action, rig.presenter.state) == before
    assert "Not signed in" not in rig.bubble.text()
