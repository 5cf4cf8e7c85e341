# SPDX-License-Identifier: GPL-3.0-or-later
"""The peer's uid from the kernel (``SO_PEERCRED``), with a real second user (``nobody``) at
the other end of a real Unix socket, in both directions."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from companion.replies import peer
from tests.support import squatter

linux_only = pytest.mark.skipif(not hasattr(socket, "SO_PEERCRED"), reason="SO_PEERCRED: Linux")


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    if not squatter.can_run_as_nobody():
        pytest.skip("needs root and setpriv to run a process as nobody")
    with squatter.shared_dir() as path:
        yield path


@linux_only
def test_our_own_process_is_ours() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        assert peer.peer_uid(left.fileno()) == os.geteuid()
        assert peer.foreign_uid(left.fileno()) is None
        left.sendall(b"x")  # the descriptor was duplicated, not taken: it still works
        assert right.recv(1) == b"x"


@linux_only
def test_a_client_of_another_user_is_seen(shared_dir: Path) -> None:
    path = str(shared_dir / "sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        os.chmod(path, 0o777)
        server.listen(1)
        client = squatter.run_as_nobody("connect", path)
        server.settimeout(20)
        conn, _ = server.accept()
        with conn:
            assert peer.peer_uid(conn.fileno()) == squatter.NOBODY
            assert peer.foreign_uid(conn.fileno()) == squatter.NOBODY
    squatter.stop(client)


@linux_only
def test_a_server_of_another_user_is_seen(shared_dir: Path) -> None:
    path = shared_dir / "squat" / "sock"
    proc = squatter.run_as_nobody("listen", str(path))
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(path))
            assert peer.foreign_uid(sock.fileno()) == squatter.NOBODY
    finally:
        squatter.stop(proc)


def test_no_answer_where_there_is_no_socket_to_ask() -> None:
    assert peer.peer_uid(-1) is None
    read, write = os.pipe()
    try:
        assert peer.peer_uid(read) is None  # not a socket
    finally:
        os.close(read)
        os.close(write)
