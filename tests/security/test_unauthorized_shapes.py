# SPDX-License-Identifier: GPL-3.0-or-later
"""401 in other shapes: the original backend's ``200 {"success": false, "message":
"Unauthorized"}`` and FastAPI's ``401/403 {"detail": "Not authenticated"}`` are the sign-in
path (``Unauthorized``: no crash report), not a protocol bug, through the one status table:
checked on the table itself and against a real server, with ``speak`` (exit 3, signed out)
and the sign-in check as processes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from companion.backend import policy
from companion.backend.client import unwrap_envelope
from companion.backend.errors import HttpError, ProtocolError, Unauthorized
from tests.security.conftest import companion_argv, companion_env, record, run_victim
from tests.security.hostile_server import Attack, HostileServer

ENVELOPE = b'{"success": false, "message": "Unauthorized"}'
SHAPES = {
    "200 success:false Unauthorized": (200, ENVELOPE),
    "403 detail Not authenticated": (403, b'{"detail": "Not authenticated"}'),
    "401 detail Not authenticated": (401, b'{"detail": "Not authenticated"}'),
    "403 detail Could not validate credentials": (
        403,
        b'{"detail": "Could not validate credentials"}',
    ),
    "400 success:false Unauthenticated": (400, b'{"success": false, "message": "Unauthenticated"}'),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_table_rows(name: str) -> None:
    status, body = SHAPES[name]
    if 200 <= status < 300:
        with pytest.raises(Unauthorized) as caught:
            unwrap_envelope("POST", "/auth/login-token/consume", status, policy_doc(body))
        err: object = caught.value
    else:
        err = policy.classify("GET", "/auth/me", status, body.decode())
    assert isinstance(err, Unauthorized) and err.status == status
    assert not policy.should_report(err)


def policy_doc(body: bytes) -> object:
    return json.loads(body)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (403, '{"detail": "Forbidden"}', HttpError),  # a permission bug stays reported
        (403, '{"detail": "You are not allowed to do this"}', HttpError),
        (200, '{"success": false, "message": "Something broke"}', ProtocolError),
    ],
)
def test_what_is_not_a_lapsed_session_stays_reported(status: int, body: str, kind: type) -> None:
    if status == 200:
        with pytest.raises(kind) as caught:
            unwrap_envelope("GET", "/auth/me", status, policy_doc(body.encode()))
        err: object = caught.value
    else:
        err = policy.classify("GET", "/auth/me", status, body)
    assert type(err) is kind
    assert policy.should_report(err)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(SHAPES))
def test_sign_in_check_says_signed_out(name: str, tmp_path: Path) -> None:
    status, body = SHAPES[name]
    with HostileServer({"/auth/me": Attack("body", status=status, body=body)}) as server:
        argv = [sys.executable, "-m", "tests.security.victims", "me", server.url]
        victim = run_victim(argv, companion_env(tmp_path))
    assert "Traceback" not in victim.stderr
    (line,) = victim.lines()
    assert "did not accept this token" in line and "[Unauthorized" in line, line
    record(f"me: {name}", "Unauthorized", victim.seconds, victim.peak_rss_mb)


@pytest.mark.parametrize("name", list(SHAPES))
def test_speak_says_signed_out(name: str, tmp_path: Path) -> None:
    status, body = SHAPES[name]
    attack = Attack("body", status=status, body=body)
    with HostileServer({"/openai/v1/audio/speech": attack}) as server:
        env = companion_env(tmp_path, COMPANION_BACKEND_URL=server.url, COMPANION_TOKEN="t")
        out = str(tmp_path / "never.wav")
        victim = run_victim(companion_argv("speak", "Walrus umbrellas.", "--output", out), env)
    assert "Traceback" not in victim.stderr
    (line,) = victim.lines()
    assert line.startswith("companion speak: ") and "sign" in line.lower(), line
    assert victim.returncode == 3, victim.stderr
    record(f"speak: {name}", "Unauthorized (exit 3)", victim.seconds, victim.peak_rss_mb)
