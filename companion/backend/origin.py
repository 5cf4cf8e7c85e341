# SPDX-License-Identifier: GPL-3.0-or-later
"""Backend calls stay at their origin: redirects are followed by us, never by ``requests``.

``requests`` follows redirects on its own: a 307/308 re-sends the body (the reply text, the
one-time login token) and the request to wherever ``Location`` says, and a 301/302/303 turns
the POST into a GET there. :class:`OriginBoundSession` switches that off for every request it
sends (``get``, ``post``, ``request`` and ``send`` alike) and follows a redirect only when
it stays at the same origin (scheme, host and port, default ports filled in): with the method,
the headers and the body kept, at most :data:`MAX_HOPS` times. Any other 3xx answer raises
:class:`RedirectBlocked` before anything is sent elsewhere: a ``requests`` exception, so every
caller's connection-failure path receives it, and the status table
(:func:`companion.backend.policy.classify_exception`) makes it the typed
:class:`~companion.backend.errors.RedirectRefused`.

A 3xx that is not followed is never handed to the caller as an answer either (``requests``
counts 3xx as ``ok``): a 300/304 without a usable ``Location`` is refused the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple, NoReturn
from urllib.parse import urljoin, urlsplit

import requests

#: Same-origin redirects followed per request; the next one is refused (``too_many``).
MAX_HOPS = 5
DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin(NamedTuple):
    """Scheme, host and port of a URL (lower-case, the default port filled in)."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        """``scheme://host[:port]`` (the port only when it is not the default): for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if DEFAULT_PORTS.get(self.scheme) == self.port:
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{host}:{self.port}"


def origin_of(url: str) -> Origin | None:
    """The origin of an ``http``/``https`` URL, or None (another scheme, no host, a bad port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return Origin(scheme, host, port if port is not None else DEFAULT_PORTS[scheme])


def shown_origin(url: str) -> str:
    """The origin of ``url`` for a message ("" when it has none): never a path or a query."""
    origin = origin_of(url)
    return "" if origin is None else str(origin)


class RedirectBlocked(requests.exceptions.RequestException):
    """A 3xx answer that was not followed; nothing was sent to its target.

    Attributes:
        status: the redirect's HTTP status.
        reason: ``other_origin``, ``too_many`` or ``no_location``.
        origin: the origin the request was made to, as shown in messages.
        target: the origin ``Location`` named (``other_origin`` only), else "".
    """

    def __init__(self, status: int, reason: str, *, origin: str, target: str = "") -> None:
        super().__init__(f"HTTP {status} redirect not followed ({reason})")
        self.status = status
        self.reason = reason
        self.origin = origin
        self.target = target


class OriginBoundSession(requests.Session):
    """A ``requests.Session`` whose requests never leave their origin (see the module).

    ``requests`` hands every answer of :meth:`send` to :meth:`resolve_redirects`; ours follows
    same-origin hops with the request as it was (``requests``' own would change the method,
    drop the body and read the redirect's whole body first) and refuses every other 3xx.
    ``allow_redirects=False`` is not honoured: a 3xx never reaches the caller as an answer.
    Only streamed requests (``stream=True``) leave a redirect's body unread.

    Attributes:
        max_hops: same-origin redirects followed per request.
    """

    def __init__(self, *, max_hops: int = MAX_HOPS) -> None:
        super().__init__()
        self.max_hops = max_hops

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send ``request``; same-origin redirects are followed, every other 3xx raises
        :class:`RedirectBlocked`."""
        kwargs["allow_redirects"] = True  # the answer always goes through resolve_redirects
        return super().send(request, **kwargs)

    def resolve_redirects(
        self,
        resp: requests.Response,
        req: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
        yield_requests: bool = False,
        **adapter_kwargs: Any,
    ) -> Iterator[requests.Response]:
        """The responses of the same-origin hops after ``resp``; raises RedirectBlocked."""
        if yield_requests:  # Response.next, asked for by a send without redirects: not offered
            return
        start = origin_of(req.url or "")
        shown = "" if start is None else str(start)
        hops = 0
        while 300 <= resp.status_code < 400:
            target_url = self._target(resp)
            if target_url is None:
                _refuse(resp, "no_location", shown)
            target = origin_of(target_url)
            if target is None or target != start:
                _refuse(resp, "other_origin", shown, "" if target is None else str(target))
            if hops >= self.max_hops:
                _refuse(resp, "too_many", shown)
            hops += 1
            following = req.copy()  # method, headers and body as they were
            try:
                following.prepare_url(target_url, None)
            except (requests.exceptions.RequestException, ValueError):
                _refuse(resp, "no_location", shown)
            resp.close()  # unread: a redirect's body is never ours to read
            req = following
            resp = requests.Session.send(
                self,
                following,
                stream=stream,
                timeout=timeout,
                verify=verify,
                cert=cert,
                proxies=proxies,
                allow_redirects=False,
                **adapter_kwargs,
            )
            yield resp

    def _target(self, resp: requests.Response) -> str | None:
        """The absolute URL ``Location`` names, or None when there is none that parses."""
        location = resp.headers.get("Location")
        if not location:
            return None
        # http.client decodes headers as latin-1; servers send UTF-8 (as requests assumes).
        location = location.encode("latin-1", "replace").decode("utf-8", "replace")
        try:
            return urljoin(resp.url, location.strip())
        except ValueError:  # not a URL (an unclosed IPv6 bracket): as good as none
            return None


def _refuse(resp: requests.Response, reason: str, origin: str, target: str = "") -> NoReturn:
    status = resp.status_code
    resp.close()
    raise RedirectBlocked(status, reason, origin=origin, target=target)
