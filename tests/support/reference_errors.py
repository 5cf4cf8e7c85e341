# SPDX-License-Identifier: GPL-3.0-or-later
"""What the reference backend answers when something is wrong: the faults a test queues
(:class:`Fault`) and the error bodies, as the real APIs write them.

On the OpenAI-shaped paths (``/v1/…`` and the original backend's ``/openai/v1/…`` proxy of
it) an error body is OpenAI's ``{"error": {"message", "type", "param", "code"}}``: 401
``invalid_api_key``, 404 ``model_not_found``, 429 ``rate_limit_exceeded`` (with
``Retry-After`` on speech), ``insufficient_quota``, ``server_error``. The original backend's
own routes (``/auth/…``, ``/channels/…``, anything else) answer ``{"success": false,
"message"}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>{status} Error</title></head>"
    "<body><h1>{status}</h1><p>The upstream server returned an error.</p></body></html>"
)
BUDGET_MESSAGE = "Your budget is exhausted: no credits left on this account."
#: ``Retry-After`` a speech 429 carries when the fault names none (as OpenAI's does).
SPEECH_RETRY_AFTER = "1"

# status → (type, code, message) of OpenAI's error objects.
_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    402: ("insufficient_quota", "insufficient_quota", BUDGET_MESSAGE),
    403: ("permission_error", None, "You are not allowed to perform this request."),
    404: ("invalid_request_error", "not_found", "Not found."),
    408: ("timeout", None, "Request timed out."),
    409: ("invalid_request_error", "conflict", "Conflict."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def is_openai_path(path: str) -> bool:
    return path.startswith(("/v1/", "/openai/v1/"))


def is_speech_path(path: str) -> bool:
    return path in ("/openai/v1/audio/speech", "/v1/audio/speech")


def openai_error(
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """An error body as OpenAI's API writes it."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def openai_status_error(status: int) -> dict[str, Any]:
    kind, code, message = _OPENAI_ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, "Error.")
    )
    return openai_error(message, type=kind, code=code)


def model_not_found(model: str) -> dict[str, Any]:
    return openai_error(
        f"The model `{model}` does not exist or you do not have access to it.",
        code="model_not_found",
    )


def format_refused(fmt: str) -> dict[str, Any]:
    """How a server that cannot make ``fmt`` says so (local-tts-studio without ffmpeg)."""
    return openai_error(
        f"response_format '{fmt}' is not supported by this server. Use 'wav'.",
        code="unsupported_response_format",
        param="response_format",
    )


@dataclass
class Fault:
    """What to do to the next matching request(s) instead of answering normally.

    Attributes:
        status: answer this status (body per ``body``).
        retry_after: a ``Retry-After`` header value (a speech 429 carries
            :data:`SPEECH_RETRY_AFTER` when this is None; ``""``: no header at all).
        body: "json" (the path's error shape: OpenAI's on ``/v1`` paths, else
            ``{success: false}``), "html", "budget", "empty", or literal text.
        content_type: the Content-Type of a literal ``body`` (default text/plain).
        hang: seconds to wait before sending anything (``math.inf``: until stop).
        stall_after: send headers and this many body bytes, then hang until stop.
        drip: seconds between single bytes of the normal body.
        cut_short: announce the full length, send half the body, close.
        reset: answer with a TCP reset instead of a response.
        reset_after: send headers and this many body bytes, then a TCP reset.
        corrupt: send bytes that are not audio, labelled as audio.
        location: a ``Location`` header for the status answer (a redirect).
        path: only requests to this path (None: any).
        body_contains: only requests whose JSON body contains this text (None: any).
        times: how many requests it applies to.
    """

    status: int | None = None
    retry_after: str | None = None
    body: str = "json"
    content_type: str = "text/plain; charset=utf-8"
    hang: float | None = None
    stall_after: int | None = None
    drip: float | None = None
    cut_short: bool = False
    reset: bool = False
    reset_after: int | None = None
    corrupt: bool = False
    location: str | None = None
    path: str | None = None
    body_contains: str | None = None
    times: int = 1


def fault_headers(fault: Fault, path: str) -> dict[str, str]:
    if fault.location is not None:
        return {"Location": fault.location}
    if fault.retry_after:
        return {"Retry-After": fault.retry_after}
    if fault.retry_after is None and fault.status == 429 and is_speech_path(path):
        return {"Retry-After": SPEECH_RETRY_AFTER}
    return {}


def fault_body(fault: Fault, path: str) -> tuple[bytes, str]:
    """The body and Content-Type of a fault's status answer on ``path``."""
    status = fault.status or 500
    openai = is_openai_path(path)
    if fault.body == "json":
        doc = openai_status_error(status) if openai else {"success": False, "message": "Error"}
        return json.dumps(doc).encode(), "application/json"
    if fault.body == "budget":
        if openai:
            doc = openai_error(BUDGET_MESSAGE, type="insufficient_quota", code="insufficient_quota")
        else:
            doc = {"success": False, "message": BUDGET_MESSAGE}
        return json.dumps(doc).encode(), "application/json"
    if fault.body == "html":
        page = HTML_ERROR_PAGE.format(status=fault.status)
        return page.encode(), "text/html; charset=utf-8"
    if fault.body == "empty":
        return b"", "text/plain"
    return fault.body.encode(), fault.content_type
