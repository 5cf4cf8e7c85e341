# SPDX-License-Identifier: GPL-3.0-or-later
"""Crash reports: Sentry set-up, scrubbing, explicit reports, and the hooks that catch crashes.

Sentry starts only when a DSN is configured (``COMPANION_SENTRY_DSN`` or the settings) and
the user has not turned reports off. Everything here is a no-op otherwise, except the hooks
of :func:`install_qt_hooks`, which still log one line per crash.

Secrets are scrubbed twice: Sentry's :class:`~sentry_sdk.scrubber.EventScrubber` (recursive,
by key: ``access_token``, ``jwt``, ``api_key``, ``authorization``, ``token``, …) and our
``before_send``/``before_breadcrumb`` pass that rewrites ``Bearer …``, ``sk-…``, ``token=…``,
JWT-shaped strings and URL query strings (``?[Filtered]``) wherever a string appears (message,
exception values, breadcrumbs, extra, contexts, tags). Debug logs are scrubbed by the same
:func:`scrub_text` (:mod:`companion.commands.log_redact`).

sentry-sdk is imported only when Sentry starts (it costs 22 MB resident and 0.2 s of start-up,
``benchmarks/mascot_memory.py``): a mascot without a DSN never loads it.

Expected states never become events: the logging integration only turns ERROR lines into
events, backend errors are logged at the level of the status table
(:mod:`companion.backend.policy`), and lines logged with ``extra=NO_EVENT`` (because they
were reported explicitly) are dropped as events but kept as breadcrumbs.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from companion import __version__
from companion.backend.headers import known_tokens

if TYPE_CHECKING:
    import sentry_sdk.scope

    from companion.backend.errors import BackendApiError

log = logging.getLogger("companion.telemetry")
backend_log = logging.getLogger("companion.backend")
crash_log = logging.getLogger("companion.crash")
qt_log = logging.getLogger("companion.qt")

RELEASE = f"companion@{__version__}"
_NO_EVENT_ATTR = "companion_no_event"
#: ``log.error(..., extra=NO_EVENT)``: a breadcrumb, not an event (it was reported explicitly).
NO_EVENT: dict[str, Any] = {_NO_EVENT_ATTR: True}

#: Keys whose values the event scrubber replaces, anywhere (recursive), besides Sentry's own
#: ``DEFAULT_DENYLIST`` (added when Sentry starts).
DENYLIST: list[str] = [
    "access_token",
    "refresh_token",
    "id_token",
    "jwt",
    "api_key",
    "authorization",
    "token",
    "bearer",
    "audio_base64",
]

_FILTERED = "[Filtered]"
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {_FILTERED}"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{4,}"), _FILTERED),
    (
        re.compile(
            r"(?i)\b((?:access_|refresh_|id_|auth_|login_)?token|jwt|api_?key|password)"
            r"=[^&\s'\"<>]+"
        ),
        rf"\1={_FILTERED}",
    ),
    (
        re.compile(
            r"(?i)([\"'](?:access_|refresh_|id_)?(?:token|jwt|api_?key|authorization|password)"
            r"[\"']\s*:\s*[\"'])[^\"']*"
        ),
        rf"\1{_FILTERED}",
    ),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?"), _FILTERED),
    (re.compile(r"\b[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\b"), _FILTERED),
)


#: A URL's query string (``scheme://host/path?…``), and a bare path's (``GET /cb?… HTTP/1.1``,
#: as urllib3 logs requests): queries carry ``token=``, ``state=``, ``code=`` and their cousins.
_QUERY_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s?#\"'<>]*)\?[^\s#\"'<>]+"),
    re.compile(r"((?<![\w.:/?])/[^\s?#\"'<>]*)\?[^\s#\"'<>]+"),
)


def scrub_query(s: str) -> str:
    """``s`` with every URL's (and request path's) query string replaced by ``?[Filtered]``."""
    for pattern in _QUERY_PATTERNS:
        s = pattern.sub(rf"\1?{_FILTERED}", s)
    return s


#: Shorter tokens in use are not searched for (a test's "x" would blank every line).
MIN_TOKEN_CHARS = 6


def scrub_text(s: str) -> str:
    """``s`` with the tokens in use (:func:`companion.backend.headers.known_tokens`, whatever
    their shape), bearer tokens, ``sk-`` keys, ``token=`` values, JWTs and URL query strings
    replaced."""
    for token in known_tokens():
        if len(token) >= MIN_TOKEN_CHARS and token in s:
            s = s.replace(token, _FILTERED)
    for pattern, replacement in _SECRET_PATTERNS:
        s = pattern.sub(replacement, s)
    return scrub_query(s)


def _scrub_tree(obj: Any) -> Any:
    """Scrub every string in nested dicts/lists/tuples (in place where mutable)."""
    if isinstance(obj, str):
        return scrub_text(obj)
    if isinstance(obj, dict):
        for key, value in list(obj.items()):
            obj[key] = _scrub_tree(value)
        return obj
    if isinstance(obj, list):
        for i, value in enumerate(obj):
            obj[i] = _scrub_tree(value)
        return obj
    if isinstance(obj, tuple):
        return tuple(_scrub_tree(v) for v in obj)
    return obj


def _before_send(event: Any, hint: Any) -> Any:
    record = hint.get("log_record") if isinstance(hint, dict) else None
    if record is not None and getattr(record, _NO_EVENT_ATTR, False):
        return None
    return _scrub_tree(event)


def _before_breadcrumb(crumb: Any, hint: Any) -> Any:
    return _scrub_tree(crumb)


def _quiet_atexit(pending: int, timeout: float) -> None:
    """Sentry's default prints to ``sys.stderr``, which is None in a windowed bundle."""
    log.debug("[telemetry] flushing %d pending reports at exit", pending)


class _State:
    enabled = False
    main_scope: sentry_sdk.scope.Scope | None = None


_state = _State()


def init_telemetry(
    *, dsn: str | None, enabled: bool, environment: str, transport: Any = None
) -> bool:
    """Start Sentry when there is a DSN and reports are on; True when started.

    Calling it again applies new settings: reports turned off stop at once.
    """
    shutdown(1.0)  # a previous start (settings changed): end its session, stop it
    if not dsn or not enabled:
        log.info("[telemetry] crash reports off (%s)", "no DSN" if not dsn else "turned off")
        return False
    try:
        with warnings.catch_warnings():
            # WORKAROUND: sentry-sdk 2.75 deprecates send_default_pii in favour of
            # data_collection, but data_collection switches off the EventScrubber we rely
            # on (https://docs.sentry.io/platforms/python/data-management/data-collected/).
            # False is the value we want either way; we say it explicitly.
            warnings.filterwarnings(
                "ignore", "The send_default_pii option is deprecated", DeprecationWarning
            )
            _init_sdk(dsn, environment, transport)
    except Exception as exc:  # a malformed DSN must not stop the app
        log.warning("[telemetry] crash reports off: cannot start Sentry (%s)", type(exc).__name__)
        return False
    import sentry_sdk

    _state.enabled = True
    _state.main_scope = sentry_sdk.get_isolation_scope()
    sentry_sdk.start_session(session_mode="application")
    log.info("[telemetry] crash reports on (%s)", environment)
    return True


def _init_sdk(dsn: str, environment: str, transport: Any) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.argv import ArgvIntegration
    from sentry_sdk.integrations.atexit import AtexitIntegration
    from sentry_sdk.integrations.excepthook import ExcepthookIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.threading import ThreadingIntegration
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    sentry_sdk.init(
        dsn=dsn,
        release=RELEASE,
        environment=environment,
        send_default_pii=False,
        server_name="",  # the default is the host name, which often names the user
        include_local_variables=False,  # locals hold reply text and tokens
        max_request_body_size="never",
        attach_stacktrace=False,
        event_scrubber=EventScrubber(denylist=[*DEFAULT_DENYLIST, *DENYLIST], recursive=True),
        before_send=_before_send,
        before_breadcrumb=_before_breadcrumb,
        integrations=[
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
            AtexitIntegration(callback=_quiet_atexit),
        ],
        # argv holds `companion say/speak TEXT`; thread and excepthook crashes are
        # captured by install_qt_hooks (Sentry's threading integration misses QThreads).
        disabled_integrations=[ArgvIntegration, ExcepthookIntegration, ThreadingIntegration],
        auto_enabling_integrations=False,
        trace_propagation_targets=[],  # no sentry-trace/baggage headers to the backend
        transport=transport,
    )


def is_enabled() -> bool:
    return _state.enabled


@contextlib.contextmanager
def _report_scope() -> Iterator[sentry_sdk.scope.Scope]:
    """A fresh scope on top of the main thread's isolation scope (its session, breadcrumbs)."""
    import sentry_sdk
    import sentry_sdk.scope

    main = _state.main_scope
    with contextlib.ExitStack() as stack:
        if main is not None:
            stack.enter_context(sentry_sdk.scope.use_isolation_scope(main))
        yield stack.enter_context(sentry_sdk.new_scope())


def report_error(
    message: str,
    tags: dict[str, str | int],
    *,
    extra: dict[str, str | int] | None = None,
    fingerprint: list[str] | None = None,
) -> None:
    """Send one error report. ``tags`` must be low-cardinality (no ids, no text)."""
    if not _state.enabled:
        return
    with _report_scope() as scope:
        for key, value in tags.items():
            scope.set_tag(key, str(value))
        for key, value in (extra or {}).items():
            scope.set_extra(key, value)
        if fingerprint:
            scope.fingerprint = fingerprint
        import sentry_sdk

        sentry_sdk.capture_message(scrub_text(message), level="error")


def report_exception(
    exc: BaseException,
    tags: dict[str, str | int] | None = None,
    *,
    handled: bool = True,
    mechanism: str = "generic",
) -> None:
    """Send an exception report (a bug). Unhandled ones mark the session crashed."""
    if not _state.enabled:
        return
    import sentry_sdk
    import sentry_sdk.utils

    client = sentry_sdk.get_client()
    event, hint = sentry_sdk.utils.event_from_exception(
        (type(exc), exc, exc.__traceback__),
        client_options=client.options,
        mechanism={"type": mechanism, "handled": handled},
    )
    with _report_scope() as scope:
        for key, value in (tags or {}).items():
            scope.set_tag(key, str(value))
        sentry_sdk.capture_event(event, hint=hint)


def log_backend_error(err: BackendApiError, *, operation: str) -> None:
    """Log ``err`` at the table's level; report it iff the table says so."""
    from companion.backend import policy  # only once there is a backend error (requests)

    fields = policy.fields(err, operation)
    backend_log.log(
        policy.log_level(err),
        policy.log_message(err, operation),
        extra={"backend": fields, _NO_EVENT_ATTR: True},
    )
    if policy.should_report(err):
        report_error(
            f"[backend_api] {type(err).__name__}: {err.method} {fields['path']} "
            f"({fields['status']})",
            fields,
            extra={"body_chars": err.body_chars},
            fingerprint=[
                "backend_api",
                type(err).__name__,
                err.method,
                str(fields["path"]),
                str(fields["status"]),
            ],
        )


def flush(timeout: float = 2.0) -> None:
    """End the release-health session and send what is pending (call before exit)."""
    if not _state.enabled:
        return
    if _state.main_scope is not None:
        _state.main_scope.end_session()
    import sentry_sdk

    sentry_sdk.flush(timeout=timeout)


def shutdown(timeout: float = 2.0) -> None:
    """Flush, then stop Sentry in this process (tests; the app just flushes and exits)."""
    if not _state.enabled:
        return
    flush(timeout)
    import sentry_sdk

    client = sentry_sdk.get_client()
    client.close(timeout=timeout)
    sentry_sdk.get_global_scope().set_client(None)
    _state.enabled = False
    _state.main_scope = None


# --- hooks ------------------------------------------------------------------------------
def _where(tb: TracebackType | None) -> str:
    frames = traceback.extract_tb(tb) if tb is not None else []
    if not frames:
        return "?"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}"


def _crash(
    exc_type: type[BaseException],
    exc: BaseException | None,
    tb: TracebackType | None,
    *,
    thread: str,
    mechanism: str,
) -> None:
    crash_log.error(
        "[crash] unhandled %s in thread %s at %s",
        exc_type.__name__,
        thread,
        _where(tb),
        extra=NO_EVENT,
    )
    text = scrub_text("".join(traceback.format_exception(exc_type, exc, tb)))
    crash_log.debug("[crash] %s", text, extra=NO_EVENT)
    stderr = sys.stderr  # None in a windowed bundle
    if stderr is not None:
        with contextlib.suppress(OSError, ValueError):
            stderr.write(text)
    if exc is not None:
        report_exception(exc, handled=False, mechanism=mechanism)


def _sys_excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    """Unhandled exceptions of the main thread, Qt slots and QThreads (PySide routes
    them through ``sys.excepthook``)."""
    if issubclass(exc_type, KeyboardInterrupt):
        return
    _crash(exc_type, exc, tb, thread=threading.current_thread().name, mechanism="excepthook")


def _threading_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    _crash(args.exc_type, args.exc_value, args.exc_traceback, thread=name, mechanism="threading")


def _make_qt_handler(previous: Callable[..., Any] | None) -> Callable[[Any, Any, str], None]:
    from PySide6.QtCore import QtMsgType

    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }

    def handler(mode: Any, context: Any, message: str) -> None:
        level = levels.get(mode, logging.WARNING)
        text = scrub_text(message)
        if level >= logging.ERROR:
            kind = "fatal" if level == logging.CRITICAL else "critical"
            qt_log.log(level, "[qt] %s: %s", kind, text, extra=NO_EVENT)
            report_error(f"[qt] {kind}: {text[:300]}", {"domain": "qt", "qt_level": kind})
            if level == logging.CRITICAL:
                flush(2.0)
        else:
            qt_log.log(level, "[qt] %s", text)
        if previous is not None:
            previous(mode, context, message)

    return handler


def install_qt_hooks() -> Callable[[], None]:
    """Route unhandled exceptions (main thread, Qt slots, QThreads, threads) and Qt
    critical/fatal messages to Sentry, each with one log line. Returns a function that
    puts the previous hooks back."""
    from PySide6.QtCore import qInstallMessageHandler

    if sys.excepthook is _sys_excepthook:  # already installed: keep one set of hooks
        return lambda: None
    previous_sys = sys.excepthook
    previous_threading = threading.excepthook
    sys.excepthook = _sys_excepthook
    threading.excepthook = _threading_excepthook
    previous_qt = qInstallMessageHandler(None)
    qInstallMessageHandler(_make_qt_handler(previous_qt))

    def restore() -> None:
        sys.excepthook = previous_sys
        threading.excepthook = previous_threading
        qInstallMessageHandler(previous_qt)

    return restore
