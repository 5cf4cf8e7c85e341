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
(Ctrl-C). Expected states never print a traceback. Standard error shows warnings only;
``COMPANION_LOG_LEVEL=info`` (or ``debug``) shows more (``commands/logs.py``).

Bound: each utterance from the backend ends within 60 s (retries included) whatever the
server does; ``COMPANION_REQUEST_DEADLINE``, ``COMPANION_CONNECT_TIMEOUT`` and
``COMPANION_READ_TIMEOUT`` (seconds) change the limits (``companion/backend/client.py``).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from companion import config
from companion.commands.logs import setup_logging
from companion.commands.speak_io import (
    MAX_INPUT_CHARS,
    SpeakError,
    check_target,
    output_format,
    read_text,
    write_visemes,
    write_wav,
)
from companion.commands.speak_synthesis import SAMPLE_RATE, THREAD_NAME, speak
from companion.speech.types import CancelToken, SpeechEngine
from companion.terminal_text import printable
from companion.vocab import ExitCode

if TYPE_CHECKING:
    from companion.audio.player import Player
    from companion.backend.client import BackendClient

__all__ = ["MAX_INPUT_CHARS", "SAMPLE_RATE", "SpeakError", "read_text", "run_speak", "speak"]

log = logging.getLogger("companion.speak")

EXIT_OK = ExitCode.OK
EXIT_FAILED = ExitCode.FAILED
EXIT_SIGNED_OUT = ExitCode.SIGNED_OUT
EXIT_INTERRUPTED = ExitCode.INTERRUPTED


def _say(line: str) -> None:
    print(f"companion speak: {printable(line, one_line=True)}", file=sys.stderr, flush=True)


def _speed(args: argparse.Namespace, settings: config.Settings) -> float:
    speed = args.speed if args.speed is not None else settings.speed
    if not 0.5 <= speed <= 2.0:
        raise SpeakError("--speed must be between 0.5 and 2.0")
    return float(speed)


# -- the voice -------------------------------------------------------------------------------


def make_client(settings: config.Settings) -> BackendClient | None:
    url = config.backend_url(settings)
    if not url:
        return None
    from companion.backend import headers
    from companion.backend.auth import SessionStore
    from companion.backend.client import BackendClient

    # Plain HTTP to another machine: refused per the setting, else one line, once.
    headers.set_refuse_plain_http(settings.refuse_plain_http)
    headers.set_notice_sink(_say)
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


def _open_player(sample_rate: int) -> tuple[Player, str | None]:
    """The player and the notice to show when it starts (silent playback, device trouble)."""
    try:
        from companion.audio.player import Player
    except ImportError:
        raise SpeakError(
            "audio playback is not available here (sounddevice/PortAudio cannot load); "
            "--output FILE.wav writes the speech to a file"
        ) from None
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
    setup_logging()
    _interruptible()
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
        _check_files(args)  # before anything is synthesised
        voice = args.voice or settings.voice or None
        client = make_client(settings)
        engine = make_engine(settings, client, SAMPLE_RATE)
        if args.voice:
            _require_voice(engine, args.voice)
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
        for name, what, write in (
            (args.output, "audio file", write_wav),
            (args.visemes, "viseme file", write_visemes),
        ):
            if name is None:
                continue
            try:
                write(Path(name), reply)
            except OSError as exc:
                why = exc.strerror or "it cannot be written"
                raise SpeakError(f"cannot write the {what} {name} ({why})") from None
        log.info("[speak] %d pieces, %.1f s of audio", reply.pieces, reply.duration_s)
        return EXIT_OK
    except KeyboardInterrupt:
        cancel.cancel()
        if player is not None:
            player.stop()
        _say("interrupted")
        if any(t.name == THREAD_NAME and t.is_alive() for t in threading.enumerate()):
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
        _say("speech failed unexpectedly (a bug); COMPANION_LOG_LEVEL=debug shows details")
        return EXIT_FAILED
    finally:
        _cleanup(player, client, telemetry)


def _interruptible() -> None:
    """Ctrl-C (SIGINT) interrupts, even when this process was started with SIGINT ignored (a
    background job of a non-interactive shell, ``nohup``): Python then installs no
    KeyboardInterrupt handler, and speech would play on to the end and exit 0."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _check_files(args: argparse.Namespace) -> None:
    if args.output is not None:
        output_format(Path(args.output))
        check_target(Path(args.output), "audio file")
    if args.visemes is not None:
        check_target(Path(args.visemes), "viseme file")


def _require_voice(engine: SpeechEngine, voice: str) -> None:
    """``--voice`` names a local voice that is installed and loads (the backend's voices are
    the backend's to check)."""
    from companion.speech.voice_engine import VoiceEngine
    from companion.speech.voices import VoiceError

    if isinstance(engine, VoiceEngine):
        try:
            engine.require(voice)
        except VoiceError as exc:
            raise SpeakError(str(exc)) from None


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
