# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``Authorization`` header, guarded: a token that would break a header never leaves here,
and a token over plain HTTP to another machine is said once (or refused).

Every bearer header is built by :func:`bearer` (``BackendClient.headers`` calls it). It raises
:class:`~companion.backend.errors.NotSent` before anything reaches ``requests``:

- when :func:`token_problem` finds something no header may carry: a control character
  (CR, LF, NUL, tab, …), a space, a colon, a character outside Latin-1. ``requests`` would
  raise ``InvalidHeader`` with the whole value in its text, and so in a log line or a crash
  report; :class:`NotSent` names the problem, never the value;
- when the request would go over ``http://`` to a host that is not this machine (loopback:
  ``127.0.0.0/8``, ``::1``, ``localhost``) and refusing is on: the ``refuse_plain_http``
  setting (:func:`set_refuse_plain_http`) or ``COMPANION_REFUSE_PLAIN_HTTP=1``.

When refusing is off, the first request with a bearer header that goes out to such a backend
(:func:`went_out`: it connected; a name that does not resolve sends nothing) logs one warning
and hands one line to the notice sink (:func:`set_notice_sink`: the mascot's bubble, ``speak``'s
standard error), once per origin in the process.

Every token :func:`bearer` sees, and every token the session loads or stores, is remembered
(:func:`known_tokens`, the last few) so that log lines and crash reports redact it wherever it
appears, whatever its shape (:func:`companion.telemetry.scrub_text`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
import unicodedata
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from companion.backend.errors import NotSent

log = logging.getLogger("companion.backend")

ENV_REFUSE_PLAIN_HTTP = "COMPANION_REFUSE_PLAIN_HTTP"
#: ``Transient`` reasons of a request that never connected: nothing went out.
UNSENT_REASONS = frozenset({"dns", "refused", "connect"})
#: How many distinct tokens :func:`known_tokens` keeps (sign-ins and rotations in one run).
KNOWN_TOKENS = 8
#: The attribute of a log record whose content the user is told in words (``speak``'s terminal
#: drops it unless ``COMPANION_LOG_LEVEL`` was chosen; see :mod:`companion.commands.logs`).
TOLD_ATTR = "companion_told"

_lock = threading.Lock()
_refuse_setting = False
_warned: set[str] = set()
_known: list[str] = []
_notice_sink: Callable[[str], None] | None = None


# --- the token ---------------------------------------------------------------------------------


def token_problem(token: str) -> str | None:
    """What makes ``token`` unusable in an ``Authorization`` header, in words that never
    quote it; None when it is usable."""
    if not token:
        return "it is empty"
    for ch in token:
        if ch in "\r\n":
            return "it contains a line break"
        if ch == "\0":
            return "it contains a NUL character"
        if unicodedata.category(ch) == "Cc":
            return "it contains a control character"
        if ch.isspace():
            return "it contains a space"
        if ch == ":":
            return "it contains a colon"
        if ord(ch) > 0xFF:
            return "it contains a character an HTTP header cannot carry (not Latin-1)"
    return None


def check_token(token: str, *, source: str = "The token") -> None:
    """Raise :class:`NotSent` (``reason="bad_token"``) when ``token`` is unusable; the message
    names ``source`` and the problem, never the value."""
    problem = token_problem(token)
    if problem is not None:
        raise NotSent("-", "/", "bad_token", problem=problem, source=source)


def known_tokens() -> tuple[str, ...]:
    """The tokens bearer headers were built with in this process (most recent last)."""
    with _lock:
        return tuple(_known)


def remember(token: str) -> None:
    """Keep ``token`` for log redaction (the last :data:`KNOWN_TOKENS`)."""
    if not token:
        return
    with _lock:
        if token in _known:
            _known.remove(token)
        _known.append(token)
        del _known[:-KNOWN_TOKENS]


# --- plain HTTP --------------------------------------------------------------------------------


def set_refuse_plain_http(on: bool) -> None:
    """The ``refuse_plain_http`` setting (the environment variable wins when it is set)."""
    global _refuse_setting
    with _lock:
        _refuse_setting = bool(on)


def refuse_plain_http() -> bool:
    """Whether a token may not go over plain HTTP to another machine: ``COMPANION_REFUSE_PLAIN_
    HTTP`` (``1``/``true``/``yes``/``on``; ``0``/``false``/``no``/``off``), else the setting."""
    value = os.environ.get(ENV_REFUSE_PLAIN_HTTP, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    with _lock:
        return _refuse_setting


def set_notice_sink(sink: Callable[[str], None] | None) -> None:
    """Who tells the user about plain HTTP (called from any thread; None: the log only)."""
    global _notice_sink
    with _lock:
        _notice_sink = sink


def clear_notice_sink(sink: Callable[[str], None]) -> None:
    """No sink any more, if ``sink`` is the current one (its owner is going away)."""
    global _notice_sink
    with _lock:
        if _notice_sink == sink:
            _notice_sink = None


def is_loopback_host(host: str) -> bool:
    """``localhost`` (and ``*.localhost``), ``127.0.0.0/8``, ``::1`` (IPv4-mapped too)."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def plain_http_origin(base_url: str) -> str | None:
    """``http://host[:port]`` when ``base_url`` is plain HTTP to another machine, else None."""
    try:
        parts = urlsplit(base_url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() != "http" or not host or is_loopback_host(host):
        return None
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}" + (f":{port}" if port else "")


def plain_http_line(origin: str) -> str:
    """The one line said once per backend."""
    return (
        f"Warning: the sign-in token goes unencrypted over plain HTTP to {origin}; use an "
        "https:// address, or turn on “Refuse plain HTTP” in Settings to stop it."
    )


def check_plain_http(base_url: str, method: str, path: str) -> None:
    """For a credential sent another way (the sign-in's one-time token, in a body): raises
    :class:`NotSent` when plain HTTP to another machine is refused, else warns once now."""
    _refuse_plain_http(base_url, method, path)
    _warn_once(base_url)


def _refuse_plain_http(base_url: str, method: str, path: str) -> None:
    origin = plain_http_origin(base_url)
    if origin is not None and refuse_plain_http():
        raise NotSent(method, path, "plain_http", origin=origin)


def went_out(base_url: str, sent_headers: Mapping[str, str]) -> None:
    """A request to ``base_url`` with ``sent_headers`` went over the network (an answer came, or
    it failed after connecting): the plain-HTTP warning, once per origin, if it carried a
    token. A request that never connected (DNS, refused) crossed nothing and warns nothing."""
    if "Authorization" in sent_headers:
        _warn_once(base_url)


def _warn_once(base_url: str) -> None:
    origin = plain_http_origin(base_url)
    if origin is None:
        return
    with _lock:
        if origin in _warned:
            return
        _warned.add(origin)
        sink = _notice_sink
    line = plain_http_line(origin)
    log.warning("[backend] %s", line, extra={TOLD_ATTR: sink is not None})
    if sink is not None:
        sink(line)


def bearer(token: str, *, base_url: str, method: str = "GET", path: str = "/") -> str:
    """``Bearer <token>`` for a request to ``base_url``; raises :class:`NotSent` when the token
    is unusable or plain HTTP to another machine is refused (nothing is sent either way).
    The plain-HTTP warning comes once the request went out (:func:`went_out`)."""
    problem = token_problem(token)
    if problem is not None:
        raise NotSent(method, path, "bad_token", problem=problem)
    remember(token)
    _refuse_plain_http(base_url, method, path)
    return f"Bearer {token}"


def reset() -> None:
    """Forget warnings, tokens, the setting and the sink (tests)."""
    global _refuse_setting, _notice_sink
    with _lock:
        _refuse_setting = False
        _notice_sink = None
        _warned.clear()
        _known.clear()
