# SPDX-License-Identifier: GPL-3.0-or-later
"""``companion say TEXT|-``: hand text to the running mascot, starting one when none runs.

Exit 0 when the mascot took the text; 1 with one line on standard error otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from companion.replies import ipc_client as ipc
from companion.terminal_text import printable
from companion.textinput import TextInputError, check_length, read_stream

T = TypeVar("T")

#: How long to wait for a mascot we started to answer (Qt start-up, not the voice: the voice
#: loads in the speech thread after the server listens).
START_TIMEOUT_S = float(os.environ.get("COMPANION_SAY_START_TIMEOUT", "20"))


def _read_text(arg: str) -> str:
    """``arg``, or standard input for ``-``; raises ``TextInputError`` for binary junk and
    for text over the one limit (``textinput.MAX_TEXT_CHARS``)."""
    if arg == "-":
        return read_stream(sys.stdin.buffer)
    return check_length(arg)


def mascot_command() -> list[str]:
    """How to start the mascot: the frozen executable itself, or ``python -m companion``."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "companion"]


def start_mascot() -> subprocess.Popen[bytes]:
    """Start a detached mascot (its own session, no terminal streams)."""
    kwargs: dict[str, object] = {}
    if sys.platform == "win32":
        kwargs["creationflags"] = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        mascot_command(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        **kwargs,
    )


def reach_mascot(
    attempt: Callable[[], T], *, start: bool = True, timeout_s: float = START_TIMEOUT_S
) -> T:
    """``attempt()`` against the running mascot; when none answers (ConnectionRefusedError),
    start one and retry until it answers, exits or ``timeout_s`` passes.

    Raises :class:`ipc.IpcError` with a one-line reason.
    """
    try:
        return attempt()
    except ConnectionRefusedError:
        if not start:
            raise ipc.IpcError("no mascot is running") from None
    proc = start_mascot()
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return attempt()
        except ConnectionRefusedError:
            if proc.poll() is not None:
                raise ipc.IpcError(
                    f"the mascot exited at start (status {proc.returncode}); "
                    "run `companion` to see why"
                ) from None
            if time.monotonic() > deadline:
                raise ipc.IpcError(
                    f"started a mascot but it did not answer within {timeout_s:.0f} s"
                ) from None
            time.sleep(0.1)  # a separate process, no Qt event loop to wait on


def deliver(text: str, *, start: bool = True, timeout_s: float = START_TIMEOUT_S) -> None:
    """Deliver ``text``; raises :class:`ipc.IpcError` with a one-line reason."""
    payload = {"cmd": "say", "text": text}
    answer = reach_mascot(lambda: ipc.send_request(payload), start=start, timeout_s=timeout_s)
    if not answer.get("ok"):
        raise ipc.IpcError(f"the mascot refused the text: {answer.get('error', 'unknown')}")


def read_command_text(command: str, arg: str, nothing: str) -> str | None:
    """The text for ``companion <command>``, or None after one line on stderr saying why not."""
    try:
        text = _read_text(arg)
    except TextInputError as exc:
        print(f"companion {command}: {exc}", file=sys.stderr)
        return None
    if not text.strip():
        print(f"companion {command}: {nothing}", file=sys.stderr)
        return None
    return text


def run_say(args: argparse.Namespace) -> int:
    text = read_command_text("say", str(args.text), "nothing to say")
    if text is None:
        return 1
    if sys.platform == "win32":  # Qt's named pipes want an application object
        from PySide6.QtCore import QCoreApplication

        _app = QCoreApplication.instance() or QCoreApplication(["companion-say"])
    try:
        deliver(text)
    except ipc.IpcError as exc:
        print(f"companion say: {printable(str(exc), one_line=True)}", file=sys.stderr)
        return 1
    return 0
