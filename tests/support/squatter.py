# SPDX-License-Identifier: GPL-3.0-or-later
"""Another local user at the mascot's socket, as a process of its own (run as ``nobody``).

``python -m tests.support.squatter listen PATH...``: makes each PATH's folder (mode 0777, so
the victim could reach it), listens there and plants ``PATH.lock`` (held by a live process, as
Qt's lock files say); every connection is reported on standard output
(``received PATH <bytes>``) and answered the way a hostile server answers ``ask --print``: an
``ok``, then a reply full of terminal escape sequences. Prints ``ready`` once all listen; runs
until killed.

``python -m tests.support.squatter connect PATH``: connects and sends a ``say``; prints
``answered <bytes>`` (what came back before the other end closed or reset the connection) or
``refused <error>`` (it could not connect).

Plain sockets and the wire format written out, no Companion import: what an attacker has. The
test side's helpers (run it as ``nobody``, a folder both users reach) are at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

#: The escape sequences a squatter answers with: title, clear screen, OSC 52 clipboard write.
HOSTILE_TEXT = "\x1b]0;pwned\x07\x1b[2J\x1b[H\x1b]52;c;cm0gLXJmIH4K\x07\x9b6n visible"


_OUT = threading.Lock()


def _say(line: str) -> None:
    with _OUT:  # one whole line at a time from the connection threads
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _message(payload: dict[str, object]) -> bytes:
    body = json.dumps(payload).encode()
    return struct.pack(">I", len(body)) + body


def _serve(conn: socket.socket, path: str) -> None:
    conn.settimeout(2.0)
    got = b""
    try:
        while len(got) < 4 or len(got) < 4 + struct.unpack(">I", got[:4])[0]:
            data = conn.recv(65536)
            if not data:
                break
            got += data
    except OSError:
        pass
    _say(f"received {path} {len(got)}")
    try:
        conn.sendall(_message({"ok": True, "pid": 1}))
        conn.sendall(_message({"event": "delta", "text": HOSTILE_TEXT}))
        conn.sendall(_message({"event": "notice", "message": "\x1b]52;c;aGk=\x07note\nforged"}))
        conn.sendall(_message({"event": "done"}))
    except OSError:
        pass
    finally:
        conn.close()


def _listen(path: str) -> socket.socket:
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):  # a guessed private folder, made first
        os.makedirs(folder)
        os.chmod(folder, 0o777)
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o777)
    server.listen(16)
    # And a lock file that looks held: by this live process, named as a Python mascot's is.
    exe = os.path.basename(os.path.realpath(sys.executable))
    with open(f"{path}.lock", "w") as lock:
        lock.write(f"{os.getpid()}\n{exe}\n{socket.gethostname()}\n")
    return server


def _accept_loop(server: socket.socket, path: str) -> None:
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_serve, args=(conn, path), daemon=True).start()


def listen(paths: list[str]) -> None:
    servers = [(_listen(p), p) for p in paths]
    for server, path in servers:
        threading.Thread(target=_accept_loop, args=(server, path), daemon=True).start()
    _say("ready")
    threading.Event().wait()


def connect(path: str) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5.0)
    try:
        sock.connect(path)
    except OSError as exc:
        _say(f"refused {type(exc).__name__}")
        sock.close()
        return
    got = b""
    try:
        sock.sendall(_message({"cmd": "say", "text": "from another user"}))
        while data := sock.recv(65536):
            got += data
    except OSError:
        pass  # dropped: reset, or a broken pipe
    finally:
        sock.close()
    _say(f"answered {len(got)}")


# -- the test side ------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
NOBODY = 65534


def can_run_as_nobody() -> bool:
    """Root with setpriv: a real second user for the attacker (root ignores file modes)."""
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


def run_as_nobody(*args: str) -> subprocess.Popen[str]:
    """``squatter <args>`` as ``nobody``; its lines on ``stdout``."""
    return subprocess.Popen(
        [*AS_NOBODY, sys.executable, "-m", "tests.support.squatter", *args],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def stop(proc: subprocess.Popen[str]) -> list[str]:
    """Kills ``proc``; the lines it printed."""
    proc.kill()
    out, _ = proc.communicate(timeout=10)
    return out.splitlines()


@contextlib.contextmanager
def shared_dir(mode: int = 0o777) -> Iterator[Path]:
    """A folder in /tmp both users can use (pytest's folders are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="companion-squat-", dir="/tmp"))
    try:
        path.chmod(mode)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1] == "listen":
        listen(sys.argv[2:])
    else:
        connect(sys.argv[2])
