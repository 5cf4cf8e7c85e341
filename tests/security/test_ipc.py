# SPDX-License-Identifier: GPL-3.0-or-later
"""Local squatting of the ``say`` socket, with a real second user: the squatter is ``nobody``
(:mod:`tests.support.squatter`), the victim is this user (root), every part a real process.

Root ignores file modes, so the direction matters: ``nobody`` plants sockets, folders and lock
files where the victim would look (the temp dir, a world-writable ``/tmp`` of the test's own
given as ``TMPDIR``, never the machine's ``/tmp``); the victim's ``say``, ``ask --print`` and
mascot must not use them. Where the peer check itself is the point, the mascot is ``nobody``'s
and root (which reaches any socket) is the other user.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from companion.replies import ipc_client
from companion.terminal_text import is_printable
from tests.security.conftest import (
    AS_NOBODY,
    ROOT,
    Victim,
    companion_argv,
    companion_env,
    record,
    run_victim,
)
from tests.support import squatter
from tests.support.reference_backend import ReferenceBackend
from tests.support.reference_chat import install_chat

pytestmark = pytest.mark.skipif(
    not (squatter.can_run_as_nobody() and hasattr(socket, "SO_PEERCRED")),
    reason="needs Linux, root and setpriv: a real second local user",
)
ESC = "\x1b"


@pytest.fixture
def world_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A world-writable, sticky temp dir (what ``/tmp`` is), the victim's ``TMPDIR`` and this
    process's too (so ``server_name()`` here finds what the victim finds)."""
    with squatter.shared_dir(mode=0o1777) as path:
        monkeypatch.setattr(tempfile, "tempdir", str(path))
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
        yield path


@pytest.fixture
def cfg(world_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The victim's config dir (root's, mode 0700), short enough for a socket path in its
    ``state/run`` (pytest's folders are too long), and every mascot using it stopped at the
    end, whatever happened."""
    path = world_tmp / "cfg"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("COMPANION_CONFIG_DIR", str(path))
    yield path
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = [a for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue
        config = f"COMPANION_CONFIG_DIR={path}".encode()
        if cmdline[-2:] == [b"-m", b"companion"] and config in environ:
            os.kill(int(entry.name), signal.SIGKILL)


def _victim_env(cfg: Path, tmp: Path, **extra: str) -> dict[str, str]:
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "settings.json").write_text(json.dumps({"engine": "espeak", "greeted": True}))
    env = companion_env(cfg, TMPDIR=str(tmp), QT_QPA_PLATFORM="offscreen")
    env.pop("XDG_RUNTIME_DIR", None)
    env.update(extra)
    return env


def _guesses(tmp: Path) -> list[str]:
    """Where a squatter would listen: the old place (the temp dir itself) and the new fallback
    folder's name, which anyone can work out (uid 0)."""
    name = ipc_client.socket_file_name()
    return [str(tmp / name), str(tmp / f"companion-{os.geteuid()}" / name)]


def _start_squatter(*paths: str) -> subprocess.Popen[str]:
    proc = squatter.run_as_nobody("listen", *paths)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _one_warning(victim: Victim, *expected: str) -> None:
    assert "Traceback" not in victim.stderr, victim.stderr[-3000:]
    (line,) = victim.lines()
    assert "[ipc] not using" in line and all(e in line for e in expected), line


def test_a_squatter_in_tmp_receives_no_say_and_its_locks_stop_nothing(
    cfg: Path, world_tmp: Path
) -> None:
    guesses = _guesses(world_tmp)
    proc = _start_squatter(*guesses)
    try:
        env = _victim_env(cfg, world_tmp)
        victim = run_victim(companion_argv("say", "Secret walrus plans."), env)
        assert victim.returncode == 0, victim.stderr
        _one_warning(victim, f"companion-{os.geteuid()}", f"another user (uid {squatter.NOBODY})")
        # The mascot `say` started listens in the state folder, despite the planted locks.
        name = ipc_client.server_name()
        assert name.startswith(str(cfg / "state" / "run"))
        assert ipc_client.server_answers(name)
        # And nobody cannot reach the real one: the folder is root's, mode 0700.
        reach = squatter.run_as_nobody("connect", name)
        reach.wait(20)
        assert squatter.stop(reach) == ["refused PermissionError"]
    finally:
        heard = squatter.stop(proc)
    assert heard == [], heard  # not one connection
    for path in guesses:
        assert Path(f"{path}.lock").exists()  # planted, and ignored
    record(
        "say: nobody squats /tmp (old socket, guessed folder, locks)",
        "nothing received; mascot started",
        victim.seconds,
        victim.peak_rss_mb,
    )


def test_ask_print_never_reaches_a_squatter_and_prints_no_escape(
    cfg: Path,
    world_tmp: Path,
    reference_backend: ReferenceBackend,
) -> None:
    """The squatter waits with a reply full of escape sequences; the real backend's reply has
    them too (a hostile model or server): ``ask --print`` prints neither's."""
    chat = install_chat(reference_backend)
    chat.script.reply = (
        f"Hello {ESC}]0;pwned\a{ESC}[2J{ESC}]52;c;cm0gLXJmIH4K\a\x9b6n there. The end."
    )
    proc = _start_squatter(*_guesses(world_tmp))
    try:
        env = _victim_env(
            cfg,
            world_tmp,
            COMPANION_BACKEND_URL=reference_backend.url,
            COMPANION_TOKEN=reference_backend.token,
        )
        victim = run_victim(companion_argv("ask", "--print", "Secret question?"), env)
    finally:
        heard = squatter.stop(proc)
    assert heard == [], heard
    assert victim.returncode == 0, victim.stderr
    _one_warning(victim, "another user")
    # Not one control character: whatever a sequence's pieces were (the reply streams in
    # tokens), its ESC is gone, and what is left of it is plain text.
    assert is_printable(victim.stdout), repr(victim.stdout)
    assert victim.stdout.startswith("Hello ") and victim.stdout.rstrip().endswith("The end.")
    assert squatter.HOSTILE_TEXT not in victim.stdout
    record(
        "ask --print: nobody squats /tmp; escapes in the reply",
        "nothing received; 0 ESC printed",
        victim.seconds,
        victim.peak_rss_mb,
    )


@pytest.mark.parametrize("shape", ["theirs", "symlink"])
def test_a_squatted_xdg_runtime_dir_is_not_used(shape: str, cfg: Path, world_tmp: Path) -> None:
    """``XDG_RUNTIME_DIR`` names nobody's folder (or a symlink to it), with a socket waiting."""
    theirs = world_tmp / "run-nobody"
    name = ipc_client.socket_file_name()
    proc = _start_squatter(str(theirs / name))
    try:
        xdg = theirs
        if shape == "symlink":
            xdg = world_tmp / "run-link"  # short: a long one is skipped for its length
            xdg.symlink_to(theirs)
        env = _victim_env(cfg, world_tmp, XDG_RUNTIME_DIR=str(xdg))
        victim = run_victim(companion_argv("say", "Secret heron notes."), env)
    finally:
        heard = squatter.stop(proc)
    assert heard == [], heard
    assert victim.returncode == 0, victim.stderr
    why = "symbolic link" if shape == "symlink" else f"another user (uid {squatter.NOBODY})"
    _one_warning(victim, str(xdg), why)
    record(
        f"say: XDG_RUNTIME_DIR is nobody's ({shape})",
        "not used, one warning",
        victim.seconds,
        victim.peak_rss_mb,
    )


def test_another_users_client_is_dropped_by_the_mascot(tmp_path: Path) -> None:
    """The peer check with real processes: the mascot is ``nobody``'s, and root (which reaches
    any socket, whatever its mode) sends it a ``say``: dropped unread, one warning."""
    base = Path(tempfile.mkdtemp(prefix="companion-peer-", dir="/tmp"))
    try:
        base.chmod(0o755)
        config, home, run = base / "config", base / "home", base / "run"
        env = _victim_env(config, base, HOME=str(home), XDG_RUNTIME_DIR=str(run))
        env["COMPANION_LOG_LEVEL"] = "info"
        env.pop("PULSE_SERVER", None)  # root's sound server is not nobody's: the silent clock
        for path in (home, run):
            path.mkdir(mode=0o700)
        for path in (config, config / "settings.json", home, run):  # _victim_env wrote the settings
            os.chown(path, squatter.NOBODY, squatter.NOBODY)
        log = base / "mascot.log"
        with log.open("w") as err:
            os.chmod(log, 0o666)
            mascot = subprocess.Popen(
                [*AS_NOBODY, sys.executable, "-m", "companion"],
                env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 25
            while not (sockets := [str(p) for p in run.iterdir() if p.is_socket()]):
                assert mascot.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)  # another process: no Qt event loop to wait on here
            (sock_path,) = sockets
            start = time.monotonic()
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(10)
                sock.connect(sock_path)
                body = json.dumps({"cmd": "say", "text": "Secret from root."}).encode()
                try:
                    sock.sendall(len(body).to_bytes(4, "big") + body)
                    answer = sock.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    answer = b""
            seconds = time.monotonic() - start
            assert answer == b""
            deadline = time.monotonic() + 10
            while "refused a connection" not in log.read_text():
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)
            rss = _vm_hwm_mb(mascot.pid)  # setpriv execs in place: the mascot's own pid
            mascot.send_signal(signal.SIGTERM)
            assert mascot.wait(timeout=10) == 0
        finally:
            if mascot.poll() is None:
                mascot.kill()
                mascot.wait()
        text = log.read_text()
        assert text.count("refused a connection from another user (uid 0)") == 1
        assert "[ipc] say:" not in text and "Secret" not in text
        assert "Traceback" not in text
    finally:
        shutil.rmtree(base, ignore_errors=True)
    record("mascot: another user's client (peer uid)", "dropped unread", seconds, rss)


def _vm_hwm_mb(pid: int) -> float | None:
    """A running process's peak RSS so far (``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None
