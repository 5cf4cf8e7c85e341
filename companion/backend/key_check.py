# SPDX-License-Identifier: GPL-3.0-or-later
"""Checking an API key with an OpenAI-compatible server: ``GET /v1/models``, the cheapest
request that needs the key.

A 401 (or a proxy's 400/403 saying so) is a wrong key: ``Unauthorized``. A server without that
route (tts-daemon, Piper's own HTTP server: 404/405/501,
:class:`~companion.backend.errors.NoModelsRoute`) cannot check it; the key is taken, and its
first real request tells whether it works. Nothing here is a crash report.
"""

from __future__ import annotations

import logging

from companion.backend.client import BackendClient
from companion.backend.errors import NoModelsRoute

log = logging.getLogger("companion.auth")


def check_api_key(client: BackendClient) -> None:
    """Raise the typed error a wrong key gets; return when it works or cannot be checked."""
    try:
        client.authed_json("GET", client.openai_path("/models"), operation="check_key")
    except NoModelsRoute as err:
        log.info("[signin] the server lists no models (HTTP %s): key taken unchecked", err.status)
