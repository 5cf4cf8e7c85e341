# SPDX-License-Identifier: GPL-3.0-or-later
"""Backend addresses as the user typed them: is it one, and how to show it in a message.

:func:`url_problem` asks ``requests`` (the client that will use the address) whether it can
make a request to it, and adds what ``requests`` lets through but no server answers (another
scheme, no host). :func:`shown_url` is the address for a message: without user name, password
or query string (either can hold a secret).
"""

from __future__ import annotations

import urllib.parse


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a backend address (one short phrase), or None when it can."""
    url = url.strip()
    if not url:
        return "it is empty"
    if any(ch.isspace() for ch in url):
        return "it contains a space"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises on a port that is not a number or out of range
    except ValueError:
        return "its port is not a number from 1 to 65535"
    if parts.scheme.lower() not in ("http", "https"):
        return "it does not start with http:// or https://"
    if not parts.hostname:
        return "it names no host"
    if port == 0:
        return "its port is not a number from 1 to 65535"
    labels = parts.hostname.rstrip(".").split(".")
    if ":" not in parts.hostname and any(not label or len(label) > 63 for label in labels):
        return "its host name is not valid"
    import requests  # here: the command line imports this module before it needs requests

    try:
        requests.Request("GET", url).prepare()
    except (requests.exceptions.RequestException, ValueError):
        return "it is not a valid web address"
    return None


def shown_url(url: str) -> str:
    """``url`` for a message: scheme, host, port and path only (no credentials, no query)."""
    url = url.strip()
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return url.split("@")[-1].split("?")[0][:200]
    if not parts.scheme or not host:
        return url.split("@")[-1].split("?")[0][:200]
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
