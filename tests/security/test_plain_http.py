# SPDX-License-Identifier: GPL-3.0-or-later
"""Plain HTTP to another machine: said once, or refused with nothing sent (issue 17).

The reference backend listens on a non-loopback address of this machine (``hostname -I``), so
``companion speak`` talks to it as it would to a server on the network: over ``http://`` the
bearer token would cross the wire unencrypted. Without the setting, one warning line, once,
however many requests the reply takes, and the reply is spoken; with ``refuse_plain_http`` (the
setting or ``COMPANION_REFUSE_PLAIN_HTTP=1``) one clear line, exit 1, and the server receives
not even a connection. Loopback stays exempt.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.security.conftest import Victim, companion_argv, companion_env, record, run_victim
from tests.support.reference_backend import ReferenceBackend

#: Three sentences: three speech requests, one warning.
TEXT = "Walrus umbrellas drift north. Seven moons rise slowly. The tide answers them."
SHORT = {"COMPANION_CONNECT_TIMEOUT": "2", "COMPANION_READ_TIMEOUT": "10"}
WARNING = "companion speak: Warning: the sign-in token goes unencrypted over plain HTTP to "
REFUSED = "companion speak: Not sent: the token would go unencrypted over plain HTTP to "


def _non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine that is not loopback and can be listened on."""
    found: list[str] = []
    if shutil.which("hostname"):
        done = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10)
        found += done.stdout.split()
    with contextlib.suppress(OSError):
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        found += [str(info[4][0]) for info in infos]
    for text in found:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            continue
        if ip.version != 4 or ip.is_loopback or ip.is_link_local:
            continue
        try:
            with socket.create_server((text, 0)):
                return text
        except OSError:
            continue
    return None


@pytest.fixture(scope="module")
def address() -> str:
    host = _non_loopback_ipv4()
    if host is None:
        pytest.skip("this machine has no non-loopback IPv4 address to listen on")
    return host


@pytest.fixture
def remote(address: str) -> Iterator[ReferenceBackend]:
    with ReferenceBackend(host=address) as server:
        yield server


def _speak(
    tmp_path: Path,
    backend: ReferenceBackend,
    *,
    settings: Mapping[str, object] | None = None,
    **extra: str,
) -> tuple[Victim, Path]:
    cfg = tmp_path / "config"
    if settings is not None:
        cfg.mkdir(parents=True, exist_ok=True)
        (cfg / "settings.json").write_text(json.dumps(settings))
    env = companion_env(
        cfg, COMPANION_BACKEND_URL=backend.url, COMPANION_TOKEN=backend.token, **SHORT, **extra
    )
    wav = tmp_path / "out.wav"
    return run_victim(companion_argv("speak", TEXT, "--output", str(wav)), env), wav


def test_plain_http_to_another_machine_is_said_once(
    tmp_path: Path, remote: ReferenceBackend
) -> None:
    victim, wav = _speak(tmp_path, remote)
    assert victim.returncode == 0, victim.stderr
    (line,) = victim.lines()
    assert line.startswith(WARNING + f"{remote.url};") and "Refuse plain HTTP" in line
    assert remote.token not in victim.stderr
    assert len(remote.speech_requests()) >= 2  # many requests, one warning
    assert wav.stat().st_size > 1000
    record(
        "plain HTTP to a non-loopback host (speak)",
        f"one warning for {len(remote.speech_requests())} requests, spoken",
        victim.seconds,
        victim.peak_rss_mb,
    )


@pytest.mark.parametrize("how", ["env", "setting"])
def test_plain_http_refused_sends_nothing(
    how: str, tmp_path: Path, remote: ReferenceBackend
) -> None:
    if how == "env":
        victim, wav = _speak(tmp_path, remote, COMPANION_REFUSE_PLAIN_HTTP="1")
    else:
        victim, wav = _speak(tmp_path, remote, settings={"refuse_plain_http": True})
    assert victim.returncode == 1, victim.stderr
    (line,) = victim.lines()
    assert line.startswith(REFUSED + remote.url), line
    assert "Traceback" not in victim.stderr and remote.token not in victim.stderr
    assert remote.connections == 0 and remote.requests == []  # not even a connection
    assert not wav.exists()
    record(
        f"plain HTTP refused ({how}) to a non-loopback host (speak)",
        "refused, exit 1, server received nothing",
        victim.seconds,
        victim.peak_rss_mb,
    )


def test_the_environment_can_allow_what_the_setting_refuses(
    tmp_path: Path, remote: ReferenceBackend
) -> None:
    settings = {"refuse_plain_http": True}
    victim, _ = _speak(tmp_path, remote, settings=settings, COMPANION_REFUSE_PLAIN_HTTP="0")
    assert victim.returncode == 0, victim.stderr
    assert [line.startswith(WARNING) for line in victim.lines()] == [True]


def test_loopback_is_exempt(tmp_path: Path) -> None:
    with ReferenceBackend() as local:
        victim, wav = _speak(tmp_path, local, COMPANION_REFUSE_PLAIN_HTTP="1")
    assert victim.returncode == 0, victim.stderr
    assert victim.lines() == [] and wav.stat().st_size > 1000
    record(
        "plain HTTP to 127.0.0.1, refusing on (speak)",
        "exempt: no warning, spoken",
        victim.seconds,
        victim.peak_rss_mb,
    )


def test_the_sign_in_exchange_is_refused_too(tmp_path: Path, remote: ReferenceBackend) -> None:
    """The one-time login token travels in a body, not a header: the same refusal holds."""
    env = companion_env(tmp_path / "config", COMPANION_REFUSE_PLAIN_HTTP="1", **SHORT)
    argv = [sys.executable, "-m", "tests.security.victims", "exchange", remote.url]
    victim = run_victim(argv, env)
    assert victim.returncode == 1, victim.stderr
    (line,) = victim.lines()
    assert line.startswith("sign-in: Not sent: the token would go unencrypted over plain HTTP")
    assert line.endswith("[NotSent plain_http]") and "one-time-login-token" not in line
    assert remote.connections == 0 and remote.requests == []
    record(
        "plain HTTP refused: sign-in token exchange to a non-loopback host",
        "refused, one line, server received nothing",
        victim.seconds,
        victim.peak_rss_mb,
    )
