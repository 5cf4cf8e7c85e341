# SPDX-License-Identifier: GPL-3.0-or-later
"""Error bodies as OpenAI-compatible servers write them, read into one shape.

The shapes met in the wild:

- OpenAI's ``{"error": {"message", "type", "code", "param"}}`` (LiteLLM, Ollama, LM Studio,
  llama.cpp, local speech servers), where ``code`` may be a word or a number, and ``param``
  may be the string ``"None"`` (LiteLLM);
- ``{"error": "text"}`` (LM Studio's unknown routes, some proxies);
- ``{"object": "error", "message", "type", "code"}`` at the top level (vLLM);
- FastAPI's ``{"detail": "text"}`` and ``{"detail": [{"loc": [...], "msg": ...}]}``;
- the original backend's ``{"success": false, "message": ...}``;
- anything else: the text itself (an HTML error page, a plain line).

:func:`parse` never raises. What it returns is only ever *searched* (by the status table in
:mod:`companion.backend.policy`) and counted: no part of a body reaches a log line or a crash
report. The one exception is a model's name, which the user typed into Settings themselves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from companion import bounded_json

#: ``code``/``type`` words meaning "the key or session is not (or no longer) valid".
AUTH_CODES = frozenset(
    {
        "invalid_api_key",
        "missing_api_key",
        "incorrect_api_key",
        "invalid_key",
        "authentication_error",
        "authenticationerror",
        "auth_error",
        "invalid_authentication",
        "unauthenticated",
        "unauthorized",
        "token_expired",
        "expired_token",
        "invalid_token",
        # LiteLLM's proxy without its database: a key that is not the master key cannot be
        # looked up, so it answers 400 "No connected db." for every wrong key.
        "no_db_connection",
    }
)
_AUTH_MESSAGE = re.compile(
    r"(invalid|incorrect|wrong|expired) (api |bearer |proxy server |access )?(key|token)"
    r"|authentication (error|failed|required)|api key (is )?(missing|required|invalid|not valid)"
    r"|no api key"
    # FastAPI's security classes ("Not authenticated", "Could not validate credentials"),
    # envelopes saying "Unauthorized", "Unauthenticated", "Invalid credentials"…
    r"|\bunauthori[sz]ed\b|\bunauthenticated\b|\bnot (authenticated|logged in|signed in)\b"
    r"|(could not|cannot|can't) validate credentials|invalid (authentication )?credentials"
    r"|(token|session|jwt) (has )?expired|(login|sign[- ]in) required",
    re.IGNORECASE,
)
_MODEL_MESSAGE = re.compile(
    r"\bmodel\b.{0,120}\b(not found|does not exist|doesn't exist|not exist|not available|unknown)"
    r"|\b(invalid|unknown|unsupported) model\b|\bno such model\b|\bmodel_not_found\b",
    re.IGNORECASE | re.DOTALL,
)
_NO_ROUTE_MESSAGE = re.compile(
    r"unexpected endpoint|unknown (endpoint|route|path)|no (such )?(route|endpoint)"
    r"|(route|endpoint|path) not found|cannot (post|get) /",
    re.IGNORECASE,
)
_FORMAT_MESSAGE = re.compile(r"response_format|\bformat\b", re.IGNORECASE)
#: ``code``/``type`` words of an OpenAI error object → the HTTP status they stand for, for
#: errors that arrive without one (a mid-stream event, a 200 carrying ``{"error": …}``).
STATUS_WORDS: tuple[tuple[str, int], ...] = (
    ("insufficient_quota", 402),
    ("billing", 402),
    ("budget", 402),
    ("credit", 402),
    ("invalid_api_key", 401),
    ("authentication", 401),
    ("unauthorized", 401),
    ("model_not_found", 404),
    ("permission", 403),
    ("rate_limit", 429),
    ("overloaded", 503),
    ("timeout", 504),
    ("invalid_request", 400),
)


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """What an error body says, as far as the status table cares.

    Attributes:
        message: the human message ("" when none).
        type: the error's ``type`` ("" when none), lower-case.
        code: the error's ``code`` as text ("" when none), lower-case.
        param: the parameter it names ("" when none or ``"None"``).
        text: the whole body as text (searched for budget words, never kept).
        structured: True when the body was one of the JSON shapes above.
    """

    message: str = ""
    type: str = ""
    code: str = ""
    param: str = ""
    text: str = ""
    structured: bool = False

    @property
    def words(self) -> str:
        """``type``, ``code`` and ``param`` in one lower-case string."""
        return f"{self.type} {self.code} {self.param}".strip()

    def says_unauthorized(self) -> bool:
        """The key (or session) is wrong: a sign-in matter, whatever the status."""
        if self.type in AUTH_CODES or self.code in AUTH_CODES:
            return True
        return _AUTH_MESSAGE.search(self.message) is not None

    def says_model_not_found(self) -> bool:
        if "model_not_found" in (self.code, self.type):
            return True
        if self.param == "model" and self.message:
            return True
        return _MODEL_MESSAGE.search(self.message) is not None

    def names_format(self) -> bool:
        """The error is about the requested ``response_format``."""
        if self.param == "response_format" or "format" in self.code:
            return True
        return _FORMAT_MESSAGE.search(self.message) is not None

    def says_no_route(self) -> bool:
        """The server does not have the path asked for (LM Studio: "Unexpected endpoint")."""
        return _NO_ROUTE_MESSAGE.search(self.message) is not None

    def status_hint(self) -> int | None:
        """The HTTP status the object stands for, when it carries no real one: its
        ``status``/``code`` number, or its ``type``/``code`` words; None when neither."""
        words = f"{self.type} {self.code}"
        for word, status in STATUS_WORDS:
            if word in words:
                return status
        return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return ""
    if isinstance(value, int | float):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return ""


def _word(value: Any) -> str:
    text = _text(value).strip().lower()
    return "" if text in ("none", "null") else text


def _from_object(obj: dict[str, Any], text: str) -> ErrorBody:
    return ErrorBody(
        message=_text(
            obj.get("message") or obj.get("msg") or obj.get("detail") or obj.get("error")
        ),
        type=_word(obj.get("type")),
        code=_word(obj.get("code") if obj.get("code") is not None else obj.get("status")),
        param=_word(obj.get("param")),
        text=text,
        structured=True,
    )


def _from_detail(detail: Any, text: str) -> ErrorBody:
    """FastAPI: ``detail`` is a line, or a list of validation errors naming their fields."""
    if isinstance(detail, list):
        first = next((d for d in detail if isinstance(d, dict)), {})
        loc = first.get("loc") if isinstance(first, dict) else None
        fields = (
            [str(p) for p in loc if p not in ("body", "query")] if isinstance(loc, list) else []
        )
        return ErrorBody(
            message=_text(first.get("msg")) if isinstance(first, dict) else _text(detail),
            type=_word(first.get("type")) if isinstance(first, dict) else "",
            param=fields[-1].lower() if fields else "",
            text=text,
            structured=True,
        )
    if isinstance(detail, dict):
        return _from_object(detail, text)
    return ErrorBody(message=_text(detail), text=text, structured=True)


def parse(text: str) -> ErrorBody:
    """The error a body describes (any of the shapes in the module docstring)."""
    text = text or ""
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return ErrorBody(message=stripped[:2000], text=text)
    try:
        doc = bounded_json.loads(stripped)
    except ValueError:
        return ErrorBody(message=stripped[:2000], text=text)
    if not isinstance(doc, dict):
        return ErrorBody(text=text)
    return from_json(doc, text)


def from_json(doc: dict[str, Any], text: str = "") -> ErrorBody:
    """The error a parsed JSON body (or an error event's ``data``) describes."""
    error = doc.get("error")
    if isinstance(error, dict):
        return _from_object(error, text)
    if isinstance(error, str) and error:
        return ErrorBody(message=error, code=_word(doc.get("code")), text=text, structured=True)
    if doc.get("object") == "error" or ("message" in doc and ("type" in doc or "code" in doc)):
        return _from_object(doc, text)  # vLLM and friends: the error at the top level
    if "detail" in doc:
        return _from_detail(doc["detail"], text)
    if isinstance(doc.get("success"), bool) or "message" in doc:
        return ErrorBody(message=_text(doc.get("message")), text=text, structured=True)
    return ErrorBody(text=text)


def is_error_document(doc: Any) -> bool:
    """A JSON body that is an error object rather than a payload (``{"error": …}``, vLLM's
    ``{"object": "error"}``, FastAPI's ``{"detail": …}`` alone)."""
    if not isinstance(doc, dict):
        return False
    if doc.get("error") not in (None, "", False):
        return True
    return doc.get("object") == "error" or (set(doc) == {"detail"})
