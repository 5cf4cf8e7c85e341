# SPDX-License-Identifier: GPL-3.0-or-later
"""The synthesis half of ``companion speak``: a thread runs the pipeline and hands each piece
to the player as soon as it is ready, so piece n plays while piece n+1 is being made."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from companion.commands.speak_io import SpeakError, SpokenReply
from companion.speech.types import PLAYER_RATE, Cancelled, CancelToken, SpeechEngine

if TYPE_CHECKING:
    from companion.audio.player import Player
    from companion.speech.pipeline import Utterance

SAMPLE_RATE = PLAYER_RATE
#: Playback may run this much past the reply's length before it counts as stuck.
_DRAIN_SLACK_S = 10.0
#: How long an interrupted synthesis may take to reach its next cancel check.
_STOP_WAIT_S = 10.0
THREAD_NAME = "speak-synthesis"

log = logging.getLogger("companion.speak")


class _Synthesis(threading.Thread):
    """Runs the pipeline and hands each piece to ``on_piece`` as soon as it is ready."""

    def __init__(
        self,
        *,
        engine: SpeechEngine,
        text: str,
        voice: str | None,
        speed: float,
        cancel: CancelToken,
        on_piece: Callable[[Utterance], None],
        sample_rate: int,
    ) -> None:
        super().__init__(name=THREAD_NAME, daemon=True)
        self._engine = engine
        self._text = text
        self._voice = voice
        self._speed = speed
        self._cancel = cancel
        self._on_piece = on_piece
        self._rate = sample_rate
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        from companion.speech.pipeline import SpeechPipeline

        pipeline = SpeechPipeline(engine=self._engine, sample_rate=self._rate)
        try:
            for utterance in pipeline.utterances(
                1, self._text, voice=self._voice, speed=self._speed, cancel=self._cancel
            ):
                self._on_piece(utterance)
        except Cancelled:
            pass
        except BaseException as exc:  # handed to the main thread, which decides
            self.error = exc
        finally:
            self.done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once :meth:`run` has ended.

        WORKAROUND for https://github.com/python/cpython/issues/90882: a ``join()``
        interrupted by Ctrl-C can mark a running thread as stopped (Python < 3.13), and
        the interpreter then finalises under onnxruntime, which aborts the process. An
        event the thread sets itself cannot be fooled that way.
        """
        return self.done.wait(timeout)


def speak(
    *,
    engine: SpeechEngine,
    text: str,
    voice: str | None,
    speed: float,
    cancel: CancelToken,
    player: Player | None,
    sample_rate: int = SAMPLE_RATE,
    on_first_piece: Callable[[], None] | None = None,
) -> SpokenReply:
    """Speak ``text`` (into ``player``, or only into the returned reply when None).

    The player's stream starts with the first piece (an output stream started earlier
    would only play silence, and ALSA reports every empty period as an underrun).
    ``on_first_piece`` runs once, just before the first piece is handed over.
    """
    reply = SpokenReply(sample_rate=sample_rate, keep_audio=player is None)
    lock = threading.Lock()

    def on_piece(utterance: Utterance) -> None:
        with lock:
            first = reply.pieces == 0
            if first and on_first_piece is not None:
                on_first_piece()
            if player is not None:
                if first:
                    player.begin()
                player.enqueue(utterance.samples)
                if first:
                    log.info("[speak] playing")
            if first:
                reply.first_audio_at = time.monotonic()
            reply.add(utterance)

    worker = _Synthesis(
        engine=engine,
        text=text,
        voice=voice,
        speed=speed,
        cancel=cancel,
        on_piece=on_piece,
        sample_rate=sample_rate,
    )
    worker.start()
    try:
        while not worker.wait(0.1):  # short waits keep the main thread responsive to Ctrl-C
            pass
    except BaseException:
        cancel.cancel()
        if player is not None:
            player.stop()
        # The engine stops at its next cancel check (Piper: the end of the sentence it is
        # making); a second Ctrl-C ends the wait early.
        if worker.wait(_STOP_WAIT_S):
            worker.join()
        raise
    if worker.error is not None:
        if player is not None:
            player.stop()
        raise worker.error
    if player is not None and reply.pieces:
        player.end()
        deadline = time.monotonic() + reply.duration_s + _DRAIN_SLACK_S
        while not player.wait_finished(0.1):
            if time.monotonic() > deadline:
                raise SpeakError("playback did not finish (the audio device stopped)")
    return reply


