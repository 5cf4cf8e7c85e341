# SPDX-License-Identifier: GPL-3.0-or-later
"""The private folder for the mascot's socket: ours, or not used (one warning), never repaired.

Folders "of another user" are real ones chowned to ``nobody`` (the tests run as root; skipped
otherwise).
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from companion import runtime_dir

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX folders (pipes on Windows)")
NOBODY = 65534


@pytest.fixture
def tmp_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temp dir of its own (what ``/tmp`` is to the real thing), no XDG_RUNTIME_DIR, and the
    once-per-process warnings forgotten."""
    base = tmp_path / "tmp"
    base.mkdir()
    base.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(runtime_dir, "_warned", set())
    yield base


def _fallback(base: Path) -> Path:
    return base / f"companion-{os.geteuid()}"


def _state_run() -> Path:
    return Path(os.environ["COMPANION_CONFIG_DIR"]) / "state" / "run"


def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to make a folder another user's")


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_private_xdg_runtime_dir_is_used_as_it_is(
    tmp_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xdg = tmp_path / "run-user"
    xdg.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    assert runtime_dir.private_dir() == xdg
    assert not _fallback(tmp_base).exists()


def test_without_xdg_a_0700_folder_is_made_whatever_the_umask(tmp_base: Path) -> None:
    old = os.umask(0)
    try:
        path = runtime_dir.private_dir()
    finally:
        os.umask(old)
    assert path == _fallback(tmp_base)
    st = os.lstat(path)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()
    assert runtime_dir.private_dir() == path  # found again, as the client finds it


@pytest.mark.parametrize("mode", [0o755, 0o770, 0o701])
def test_an_xdg_runtime_dir_others_may_use_is_not_used(
    mode: int,
    tmp_base: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    xdg = tmp_path / "run-user"
    xdg.mkdir()
    xdg.chmod(mode)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    assert runtime_dir.private_dir() == _fallback(tmp_base)
    assert stat.S_IMODE(xdg.stat().st_mode) == mode  # not repaired behind the user's back
    (line,) = _warnings(caplog)
    assert str(xdg) in line and f"mode {mode:o}" in line


def test_a_symlinked_xdg_runtime_dir_is_not_used_even_to_a_private_folder(
    tmp_base: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = tmp_path / "private"
    target.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(target)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(link))
    assert runtime_dir.private_dir() == _fallback(tmp_base)
    assert "symbolic link" in _warnings(caplog)[0]


def test_a_squatted_fallback_is_not_used_and_warned_about_once(
    tmp_base: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another user made ``companion-<our uid>`` first (mode 0700, theirs): the state folder."""
    _needs_root()
    squat = _fallback(tmp_base)
    squat.mkdir(mode=0o700)
    os.chown(squat, NOBODY, NOBODY)
    for _ in range(3):  # the server, then clients: the same answer, one warning
        assert runtime_dir.private_dir() == _state_run()
    (line,) = _warnings(caplog)
    assert str(squat) in line and f"another user (uid {NOBODY})" in line
    assert os.lstat(squat).st_uid == NOBODY  # left alone
    assert stat.S_IMODE(os.lstat(_state_run()).st_mode) == 0o700


def test_a_symlink_or_a_file_in_place_of_the_fallback_is_not_followed(
    tmp_base: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ours = tmp_path / "ours"
    ours.mkdir(mode=0o700)
    _fallback(tmp_base).symlink_to(ours)
    assert runtime_dir.private_dir() == _state_run()
    _fallback(tmp_base).unlink()
    _fallback(tmp_base).write_text("")
    assert runtime_dir.private_dir() == _state_run()
    assert [w.split(": ")[-1] for w in _warnings(caplog)] == [
        "it is a symbolic link",
        "it is not a folder",
    ]


def test_no_private_folder_at_all_is_one_clear_error(
    tmp_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fallback(tmp_base).write_text("")
    monkeypatch.setenv("COMPANION_CONFIG_DIR", "/" + "x" * 120)  # too long for a socket path
    with pytest.raises(runtime_dir.RuntimeDirError, match="no private folder"):
        runtime_dir.private_dir()


def test_room_for_the_file_name_skips_a_folder_too_long_for_a_socket_path(
    tmp_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 30)
    deep.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    monkeypatch.setattr(runtime_dir, "MAX_SOCKET_PATH", len(str(_fallback(tmp_base))) + 10)
    assert runtime_dir.private_dir(room=5) == _fallback(tmp_base)  # deep + 5 is too long
    monkeypatch.setattr(runtime_dir, "MAX_SOCKET_PATH", 4096)
    assert runtime_dir.private_dir(room=5) == deep


def test_why_not_private_names_each_problem(tmp_path: Path) -> None:
    assert runtime_dir.why_not_private(tmp_path / "missing") == "it does not exist"
    ok = tmp_path / "ok"
    ok.mkdir(mode=0o700)
    assert runtime_dir.why_not_private(ok) is None
    ok.chmod(0o750)
    assert runtime_dir.why_not_private(ok) == "others may use it (mode 750)"
