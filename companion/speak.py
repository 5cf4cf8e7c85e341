# SPDX-License-Identifier: GPL-3.0-or-later
"""``companion speak TEXT|-``: speak without the mascot window.

The backend speaks when ``COMPANION_BACKEND_URL`` (or the settings) names one, with
``COMPANION_TOKEN`` as its bearer token, else the token the mascot's sign-in stored
(keyring or the 0600 credentials file); otherwise the embedded voice. Pieces are
synthesised in a thread that hands each to the player as soon as it is ready, so piece
n plays while piece n+1 is being made. ``--output FILE.wav`` writes a 16-bit WAV
instead of playing; ``--visemes FILE.json`` writes the whole reply's viseme timeline.

Exit status: 0 done; 1 one line on stderr for any failure (bad input, no voice, the
backend failing, a file that cannot be written); 3 signed out (the backend answered
401, or the stored sign-in has expired: then no request is made); 130 interrupted
(Ctrl-C). Expected states never print a traceback. Set ``COMPANION_LOG_LEVEL=info``
(or ``debug``) to see log lines on stderr.

Bound: each utterance from the backend ends within 60 s (retries included) whatever the
server does; ``COMPANION_REQUEST_DEADLINE``, ``COMPANION_CONNECT_TIMEOUT`` and
``COMPANION_READ_TIMEOUT`` (seconds) change the limits (``companion/backend/client.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from companion import config
from companion.speech.types import Cancelled, CancelToken, FloatArray, SpeechEngine
from companion.speech.visemes import VisemeTimeline
from companion.textinput import TextInputError, decode_text

if TYPE_CHECKING:
    from companion.audio.player import Player
    from companion.backend.client import BackendClient
    from companion.speech.pipeline import Utterance

log = logging.getLogger("companion.speak")

SAMPLE_RATE = 22050
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_SIGNED_OUT = 3
EXIT_INTERRUPTED = 130
MAX_INPUT_CHARS = 100_000
#: Playback may run this much longer than the audio before we give up waiting.
_DRAIN_SLACK_S = 10.0
#: How long an interrupted synthesis may take to reach its next cancel check.
_STOP_WAIT_S = 10.0
_THREAD_NAME = "speak-synthesis"


class SpeakError(Exception):
    """An expected failure: its message is the one line shown to the user."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def _say(line: str) -> None:
    print(f"companion speak: {line}", file=sys.stderr, flush=True)


def _setup_logging() -> None:
    level_name = os.environ.get("COMPANION_LOG_LEVEL", "").strip().upper()
    root = logging.getLogger()
    if level_name and isinstance(logging.getLevelName(level_name), int):
        if not root.handlers:
            logging.basicConfig(
                level=level_name,
                format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                stream=sys.stderr,
            )
    elif not root.handlers:
        # Quiet by default: without a handler Python would print warnings to stderr.
        root.addHandler(logging.NullHandler())


# -- input ---------------------------------------------------------------------------------


def read_text(arg: str, stdin: Any = None) -> str:
    """The text to speak: ``arg`` itself, or standard input for ``-``."""
    if arg == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        raw: bytes = stream.read(MAX_INPUT_CHARS * 4 + 1)
        if len(raw) > MAX_INPUT_CHARS * 4:
            raise SpeakError(f"standard input is too long (more than {MAX_INPUT_CHARS} characters)")
        try:
            text = decode_text(raw)
        except TextInputError as exc:
            raise SpeakError(str(exc)) from None
        source = "standard input"
    else:
        text = arg
        source = "the text"
    if len(text) > MAX_INPUT_CHARS:
        raise SpeakError(f"{source} is too long (more than {MAX_INPUT_CHARS} characters)")
    if not text.strip():
        raise SpeakError(f"nothing to speak: {source} is empty")
    return text


def _speed(args: argparse.Namespace, settings: config.Settings) -> float:
    speed = args.speed if args.speed is not None else settings.speed
    if not 0.5 <= speed <= 2.0:
        raise SpeakError("--speed must be between 0.5 and 2.0")
    return float(speed)


# -- results ---------------------------------------------------------------------------------


@dataclass
class SpokenReply:
    """What was spoken: pieces, the whole timeline, and (for --output) the audio."""

    sample_rate: int
    keep_audio: bool
    pieces: int = 0
    frames: int = 0
    timeline: VisemeTimeline = field(default_factory=lambda: VisemeTimeline([]))
    audio: list[FloatArray] = field(default_factory=list)
    first_audio_at: float | None = None

    def add(self, utterance: Utterance) -> None:
        offset_ms = 1000.0 * self.frames / self.sample_rate
        self.timeline = self.timeline.extended(utterance.timeline, offset_ms)
        self.frames += len(utterance.samples)
        self.pieces += 1
        if self.keep_audio:
            self.audio.append(utterance.samples)

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    path = path.expanduser()
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_wav(path: Path, reply: SpokenReply) -> None:
    import soundfile

    audio = np.concatenate(reply.audio) if reply.audio else np.zeros(0, np.float32)

    def write(tmp: Path) -> None:
        soundfile.write(str(tmp), audio, reply.sample_rate, format="WAV", subtype="PCM_16")

    _write_atomically(path, write)


def write_visemes(path: Path, reply: SpokenReply) -> None:
    def write(tmp: Path) -> None:
        tmp.write_text(json.dumps(reply.timeline.to_json(), indent=1) + "\n", encoding="utf-8")

    _write_atomically(path, write)


# -- the voice -------------------------------------------------------------------------------


def make_client(settings: config.Settings) -> BackendClient | None:
    url = config.backend_url(settings)
    if not url:
        return None
    from companion.backend.auth import SessionStore
    from companion.backend.client import BackendClient

    # COMPANION_TOKEN first, else the stored sign-in; an expired one makes no request.
    return BackendClient(base_url=url, token=SessionStore(base_url=url).token)


def make_engine(
    settings: config.Settings, client: BackendClient | None, sample_rate: int
) -> SpeechEngine:
    from companion.speech.engines import EngineUnavailable, choose_engine

    try:
        choice = choose_engine(settings, client=client, sample_rate=sample_rate)
    except EngineUnavailable as exc:
        raise SpeakError(str(exc)) from None
    if choice.notice:
        _say(choice.notice)
    return choice.engine


# -- speaking --------------------------------------------------------------------------------


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
        super().__init__(name=_THREAD_NAME, daemon=True)
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


def _open_player(sample_rate: int) -> tuple[Player, str | None]:
    """The player and the notice to show when it starts (silent playback, device trouble)."""
    try:
        from companion.audio.player import Player
    except ImportError as exc:
        raise SpeakError(f"audio playback is not available ({type(exc).__name__})") from None
    player = Player(sample_rate=sample_rate)
    notice = player.notice
    if player.silent and not notice:
        notice = "no audio output device: playing silently"
    return player, notice


def _init_telemetry(settings: config.Settings) -> Any:
    try:
        from companion import telemetry
    except ImportError:
        return None
    telemetry.init_telemetry(
        dsn=config.sentry_dsn(settings) or None,
        enabled=settings.crash_reports,
        environment=os.environ.get("COMPANION_ENVIRONMENT", "production"),
    )
    return telemetry


def _backend_failure(exc: BaseException, telemetry: Any) -> SpeakError | None:
    """The one line (and exit code) for a backend error, or None if ``exc`` is not one."""
    try:
        from companion.backend.errors import BackendApiError, Unauthorized
    except ImportError:
        return None
    if not isinstance(exc, BackendApiError):
        return None
    if telemetry is not None:
        telemetry.log_backend_error(exc, operation="speak")
    if isinstance(exc, Unauthorized):
        why = (
            f"the backend refused the key (HTTP {exc.status})"
            if exc.status
            else "the stored sign-in has expired"
        )
        return SpeakError(
            f"signed out: {why}; sign in again (or set a fresh COMPANION_TOKEN)",
            EXIT_SIGNED_OUT,
        )
    message = exc.user_message.rstrip(".")
    # A 2xx whose body broke off or would not decode: its status says nothing useful.
    failed_status = exc.status is not None and not 200 <= exc.status < 300
    if failed_status and str(exc.status) not in message:
        message += f" (HTTP {exc.status})"
    return SpeakError(message)


def run_speak(args: argparse.Namespace) -> int:
    """``companion speak``; returns the exit status."""
    _setup_logging()
    telemetry: Any = None
    client: BackendClient | None = None
    player: Player | None = None
    cancel = CancelToken()
    try:
        loaded = config.load_settings()
        settings = loaded.settings
        if loaded.notice:
            _say(loaded.notice)
        telemetry = _init_telemetry(settings)
        text = read_text(args.text)
        speed = _speed(args, settings)
        voice = args.voice or settings.voice or None
        client = make_client(settings)
        engine = make_engine(settings, client, SAMPLE_RATE)
        notice: str | None = None
        if args.output is None:
            player, notice = _open_player(SAMPLE_RATE)
        reply = speak(
            engine=engine,
            text=text,
            voice=voice,
            speed=speed,
            cancel=cancel,
            player=player,
            sample_rate=SAMPLE_RATE,
            on_first_piece=functools.partial(_say_notices, notice, engine),
        )
        _say_notices(None, engine)  # a notice that came after the first piece
        try:
            if args.output is not None:
                write_wav(Path(args.output), reply)
            if args.visemes is not None:
                write_visemes(Path(args.visemes), reply)
        except OSError as exc:
            raise SpeakError(
                f"cannot write the output file ({exc.strerror or type(exc).__name__})"
            ) from None
        log.info("[speak] %d pieces, %.1f s of audio", reply.pieces, reply.duration_s)
        return EXIT_OK
    except KeyboardInterrupt:
        cancel.cancel()
        if player is not None:
            player.stop()
        _say("interrupted")
        if any(t.name == _THREAD_NAME and t.is_alive() for t in threading.enumerate()):
            # Synthesis did not stop in time (a second Ctrl-C): onnxruntime aborts the
            # process ("terminate called without an active exception") if the interpreter
            # finalises while a session runs in another thread, so leave without finalising.
            _cleanup(player, client, telemetry)
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except SpeakError as exc:
        _say(str(exc))
        return exc.code
    except Exception as exc:
        failure = _backend_failure(exc, telemetry)
        if failure is not None:
            _say(str(failure))
            return failure.code
        if _is_voice_unavailable(exc):
            _say(f"no voice could speak ({_short(exc)})")
            return EXIT_FAILED
        log.debug("[speak] failed", exc_info=True)
        if telemetry is not None:
            telemetry.report_exception(exc, tags={"operation": "speak"})
        # Only the type: an unexpected exception's text could quote the reply.
        _say(f"speech failed ({type(exc).__name__}); COMPANION_LOG_LEVEL=debug shows details")
        return EXIT_FAILED
    finally:
        _cleanup(player, client, telemetry)


def _say_notices(notice: str | None, engine: SpeechEngine) -> None:
    """The player's notice and the engine's (the server has no voice: the built-in one
    speaks), one line each."""
    from companion.speech.fallback import take_notice

    for line in (notice, take_notice(engine)):
        if line:
            _say(line)


def _cleanup(player: Player | None, client: BackendClient | None, telemetry: Any) -> None:
    """Close everything (safe to call twice)."""
    if player is not None:
        player.close()
    if client is not None:
        client.close()
    if telemetry is not None:
        telemetry.flush()


def _is_voice_unavailable(exc: BaseException) -> bool:
    """Engine errors whose messages are ours (one line, no reply text)."""
    from companion.speech.piper_engine import PiperUnavailable

    try:
        from companion.speech.espeak_engine import EspeakUnavailable
    except (ImportError, OSError):
        return isinstance(exc, PiperUnavailable)
    return isinstance(exc, PiperUnavailable | EspeakUnavailable)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else "no details"
    return text[:160]
