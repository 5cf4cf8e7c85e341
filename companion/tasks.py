# SPDX-License-Identifier: GPL-3.0-or-later
"""Background work, below every package: cancelling, per-request tokens, tasks, backoff.

- :class:`CancelToken` / :class:`Cancelled`: a flag set from any thread and checked by the
  work between its steps (and by every wait: :meth:`CancelToken.wait`).
- :class:`CancelRegistry`: one token per request id, for a worker whose requests arrive in
  order through a queued signal (the speech and the chat workers). ``cancel(id)`` works before
  the request started (it is skipped), while it runs, and is harmless after it ended.
- :class:`Background`: run a function in a thread and get ``done(result, error)`` back on the
  GUI thread (Picard's ``util/thread.py``, Anki's ``aqt/taskman.py``).
- :func:`backoff_delay`: the one retry schedule (doubling, a little jitter, ``Retry-After``
  honoured) used by the backend client and the chat stream.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PySide6.QtCore import QObject


class Cancelled(Exception):
    """Raised inside background work when its :class:`CancelToken` is set."""


class CancelToken:
    """A flag the worker checks between steps; set from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when cancelled meanwhile."""
        return self._event.wait(seconds)


class CancelRegistry:
    """Cancel tokens by request id, shared by a worker's thread and its callers.

    Ids only grow and requests run in order, so when request ``n`` starts every token of an
    older id is finished with and dropped. After :meth:`cancel_all` (shut-down) every token,
    also of requests still queued, starts cancelled.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[int, CancelToken] = {}
        self._closing = False

    def cancel(self, request_id: int) -> None:
        """Stop ``request_id`` now, or skip it when it has not started yet."""
        with self._lock:
            self._tokens.setdefault(request_id, CancelToken()).cancel()

    def cancel_all(self) -> None:
        with self._lock:
            self._closing = True
            for token in self._tokens.values():
                token.cancel()

    def start(self, request_id: int) -> CancelToken:
        """The token of a request that starts now (in the worker's thread)."""
        with self._lock:
            for old in [k for k in self._tokens if k < request_id]:
                del self._tokens[old]
            token = self._tokens.setdefault(request_id, CancelToken())
            if self._closing:
                token.cancel()
            return token

    def finish(self, request_id: int) -> None:
        """The request ended: its token is no longer needed."""
        with self._lock:
            self._tokens.pop(request_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)


def backoff_delay(
    attempt_no: int,
    retry_after: float | None,
    *,
    base: float = 0.5,
    maximum: float = 8.0,
    jitter: float = 0.2,
) -> float:
    """Seconds to wait before attempt ``attempt_no + 1``: ``base`` doubling up to ``maximum``,
    plus up to ``jitter`` of itself, and never less than the server's ``Retry-After``."""
    delay = min(maximum, base * 2.0 ** (attempt_no - 1))
    delay += random.uniform(0.0, delay * jitter)
    return max(delay, retry_after) if retry_after is not None else delay


Done = Callable[[Any, BaseException | None], None]


@functools.cache
def _relay_type() -> type[QObject]:
    """The QObject that carries results to its thread (Qt is imported only when needed:
    ``companion speak`` uses the tokens and the backoff without loading Qt)."""
    from PySide6.QtCore import QObject, Signal, Slot

    class _Relay(QObject):
        done = Signal(object, object, object)

        def __init__(self, parent: QObject | None) -> None:
            super().__init__(parent)
            self.closed = False
            self.done.connect(self._deliver)

        @Slot(object, object, object)
        def _deliver(self, done: Any, result: Any, error: Any) -> None:
            if not self.closed:
                done(result, error)

    return _Relay


class Background:
    """Runs a function in a thread; its result comes back to the GUI thread as a call.

    ``run(name, fn, done)``: ``fn()`` runs in a thread named ``companion-<name>``;
    ``done(result, error)`` is then called on the thread that made this object (a queued
    signal), with ``error`` the exception ``fn`` raised, or None. After :meth:`close` results
    are dropped. ``parent`` owns the relay object (its lifetime follows the parent's).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        self._relay: Any = _relay_type()(parent)
        self._threads: list[threading.Thread] = []

    def run(self, name: str, fn: Callable[[], Any], done: Done) -> None:
        if self._relay.closed:
            return
        relay = self._relay

        def body() -> None:
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn()
            except Exception as exc:  # handed to the GUI thread, which decides
                error = exc
            with contextlib.suppress(RuntimeError):  # the receiver was deleted at shut-down
                relay.done.emit(done, result, error)

        thread = threading.Thread(target=body, name=f"companion-{name}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    @property
    def running(self) -> int:
        return sum(t.is_alive() for t in self._threads)

    def close(self, timeout: float = 2.0) -> None:
        """Drop results from now on; wait up to ``timeout`` for the threads to end."""
        self._relay.closed = True
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))


#: A worker thread's nice value above the GUI thread's (Linux, where each thread has its own):
#: with more busy threads than cores, a worker's turn must not be the GUI thread's.
WORKER_NICE = 5


def below_the_gui() -> None:
    """This (worker) thread a little below the GUI thread in the scheduler's eyes (Linux).
    Nothing on the main thread (a test running a worker's slot directly)."""
    if threading.current_thread() is threading.main_thread():
        return
    if not sys.platform.startswith("linux") or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    with contextlib.suppress(OSError):
        if os.getpriority(os.PRIO_PROCESS, tid) < WORKER_NICE:
            os.setpriority(os.PRIO_PROCESS, tid, WORKER_NICE)
