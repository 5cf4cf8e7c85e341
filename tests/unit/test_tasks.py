# SPDX-License-Identifier: GPL-3.0-or-later
"""Cancel tokens, the per-request registry, the retry schedule, and background tasks whose
result comes back on the GUI thread."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytestqt.qtbot import QtBot

from companion.tasks import Background, Cancelled, CancelRegistry, CancelToken, backoff_delay


def test_a_token_cancels_waits_and_raises() -> None:
    token = CancelToken()
    assert not token.cancelled and not token.wait(0.0)
    threading.Timer(0.05, token.cancel).start()
    assert token.wait(5.0)  # woken by the cancel, not by the timeout
    with pytest.raises(Cancelled):
        token.raise_if_cancelled()


def test_a_request_cancelled_before_it_starts_starts_cancelled() -> None:
    tokens = CancelRegistry()
    tokens.cancel(3)
    assert tokens.start(3).cancelled
    assert not tokens.start(4).cancelled


def test_starting_a_request_forgets_the_older_ones() -> None:
    tokens = CancelRegistry()
    for request in (1, 2, 3):
        tokens.cancel(request)
    tokens.start(3)
    assert len(tokens) == 1
    tokens.finish(3)
    assert len(tokens) == 0


def test_cancel_all_cancels_the_running_and_every_later_request() -> None:
    tokens = CancelRegistry()
    running = tokens.start(1)
    tokens.cancel_all()
    assert running.cancelled and tokens.start(2).cancelled


@given(
    attempt=st.integers(min_value=1, max_value=20),
    retry_after=st.none() | st.floats(min_value=0.0, max_value=120.0),
)
def test_backoff_doubles_up_to_its_cap_and_honours_retry_after(
    attempt: int, retry_after: float | None
) -> None:
    delay = backoff_delay(attempt, retry_after, base=0.5, maximum=8.0, jitter=0.2)
    plain = min(8.0, 0.5 * 2 ** (attempt - 1))
    assert plain <= delay <= max(plain * 1.2, retry_after or 0.0)
    if retry_after is not None:
        assert delay >= retry_after


def test_background_work_reports_on_the_gui_thread(qtbot: QtBot) -> None:
    jobs = Background()
    got: list[tuple[object, BaseException | None, bool]] = []
    gui = threading.current_thread()

    def done(result: object, error: BaseException | None) -> None:
        got.append((result, error, threading.current_thread() is gui))

    jobs.run("ok", lambda: threading.current_thread().name, done)
    jobs.run("boom", lambda: 1 / 0, done)
    qtbot.wait_until(lambda: len(got) == 2, timeout=5000)
    results = {str(r) if e is None else type(e).__name__: on_gui for r, e, on_gui in got}
    assert results == {"companion-ok": True, "ZeroDivisionError": True}
    jobs.close(1.0)
    assert jobs.running == 0


def test_results_after_close_are_dropped(qtbot: QtBot) -> None:
    jobs = Background()
    release = threading.Event()
    got: list[object] = []
    jobs.run("slow", lambda: release.wait(5), lambda r, e: got.append(r))
    jobs.close(0.0)
    release.set()
    qtbot.wait_until(lambda: jobs.running == 0, timeout=5000)
    qtbot.wait(50)  # a queued delivery would have run by now
    assert got == []


def test_a_worker_thread_goes_below_the_gui_thread_not_the_main_thread() -> None:
    import os
    import sys
    import threading

    from companion.tasks import WORKER_NICE, below_the_gui

    main_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    below_the_gui()
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_nice
    seen: list[int] = []

    def worker() -> None:
        below_the_gui()
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    if sys.platform.startswith("linux"):
        assert seen == [max(WORKER_NICE, main_nice)]
