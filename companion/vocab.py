# SPDX-License-Identifier: GPL-3.0-or-later
"""The program's vocabularies, one enum each (qutebrowser's ``utils/usertypes.py``).

A word that several modules compare is named here once. Every enum is a ``StrEnum`` (or an
``IntEnum`` for exit codes), so it still compares equal to the plain value and reads well in
a log line.
"""

from __future__ import annotations

import enum


class Expression(enum.StrEnum):
    """The mascot's faces (each one a set of layers in the art)."""

    IDLE = "idle"
    THINKING = "thinking"
    SPEAKING = "speaking"
    HAPPY = "happy"
    CONCERNED = "concerned"
    SIGNED_OUT = "signed_out"


class MascotState(enum.StrEnum):
    """What the mascot is doing, as the presenter shows it."""

    IDLE = "idle"
    THINKING = "thinking"
    SPEAKING = "speaking"
    SIGNED_OUT = "signed_out"
    ERROR = "error"


class BubbleKind(enum.StrEnum):
    """How a message in the speech bubble looks."""

    INFO = "info"
    ERROR = "error"


class BubbleAction(enum.StrEnum):
    """The button a bubble message offers (the app routes each to its owner)."""

    RETRY = "retry"  # speak the replies that failed, again
    RETRY_CHAT = "retry_chat"  # ask the assistant again
    SIGN_IN = "sign_in"
    SETTINGS = "settings"  # open Settings: the fix is a setting (a model, a voice, a format)


class ReplySource(enum.StrEnum):
    """Where a spoken reply came from."""

    SAY = "say"
    READ_ALOUD = "read_aloud"
    GREETING = "greeting"
    CHAT = "chat"
    TEST = "test"
    REPLAY = "replay"
    RETRY = "retry"
    RESUMED = "resumed"  # played again after sign-in
    SELF_TEST = "self_test"
    HELD = "held"  # kept for Replay while signed out


class ChatOutcome(enum.StrEnum):
    """How a chat request ended."""

    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"
    UNAUTHORIZED = "unauthorized"


class MessageState(enum.StrEnum):
    """The state of a message in the chat transcript."""

    DONE = "done"
    STREAMING = "streaming"
    PARTIAL = "partial"  # cut short: the text so far stays
    ERROR = "error"  # nothing usable arrived


class QueueMode(enum.StrEnum):
    """What a new reply does while another one speaks."""

    INTERRUPT = "interrupt"
    QUEUE = "queue"


class EngineKind(enum.StrEnum):
    """The voice engines (``auto``: the backend when there is one, else the embedded voice)."""

    AUTO = "auto"
    REMOTE = "remote"
    PIPER = "piper"
    ESPEAK = "espeak"


class SessionState(enum.StrEnum):
    """Where the sign-in stands for the configured backend."""

    SIGNED_IN = "signed_in"
    EXPIRED = "expired"  # the token's exp has passed
    LAPSED = "lapsed"  # the server said 401
    SIGNED_OUT = "signed_out"  # the user signed out
    NONE = "none"  # no token


class ExitCode(enum.IntEnum):
    """Exit statuses of the commands."""

    OK = 0
    FAILED = 1
    USAGE = 2
    SIGNED_OUT = 3
    INTERRUPTED = 130
