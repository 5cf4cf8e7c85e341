# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad local input: damaged settings, settings from a newer version, a config folder that
cannot be written, two ``say`` racing to start the mascot, a megabyte of text, binary junk.
Each gives one clear message, and nothing is lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from companion import config
from companion.app import AppOptions, Companion, ensure_qapp
from companion.replies import ipc
from companion.textinput import MAX_TEXT_CHARS
from tests.faults.conftest import (
    EVIDENCE,
    MAX_LOOP_GAP_MS,
    QT_OFFSCREEN_NOISE,
    LoopWatch,
    Mascot,
    env_without_companion,
    presynthesize,
)
from tests.support.reference_backend import ReferenceBackend

pytestmark = pytest.mark.qt_log_ignore(QT_OFFSCREEN_NOISE)

ROOT = Path(__file__).resolve().parents[2]
#: Run a command as ``nobody`` (setpriv execs it in place: the process id stays the same).
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
JUNK = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00\x01\x00\x00\x00"


def _env(cfg: Path, **extra: str) -> dict[str, str]:
    return env_without_companion(
        COMPANION_CONFIG_DIR=str(cfg), QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT), **extra
    )


def _companion(
    cfg: Path, *args: str, stdin: bytes = b"", timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "companion", *args],
        input=stdin.decode("latin-1"),
        env=_env(cfg, **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="latin-1",
        timeout=timeout,
    )
    EVIDENCE.add(f"companion {args[:1]} stderr", done.stderr)
    return done


def _mascot_pids(cfg: Path) -> list[int]:
    """Mascot processes (``python -m companion``) running with this config dir."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a for a in cmdline if a]
        if args[-2:] == [b"-m", b"companion"] and f"COMPANION_CONFIG_DIR={cfg}".encode() in environ:
            found.append(int(entry.name))
    return found


@pytest.fixture
def kill_mascots(_private_config_dir: Path) -> Iterator[None]:
    yield
    for pid in _mascot_pids(_private_config_dir):
        os.kill(pid, signal.SIGKILL)


# -- settings -------------------------------------------------------------------------------


def test_damaged_settings_give_a_notice_and_are_kept_aside(
    qtbot: QtBot, _private_config_dir: Path
) -> None:
    _private_config_dir.mkdir(parents=True)
    damaged = b'{"volume": 0.3, "engine": "esp\xff\x00 broken'
    (_private_config_dir / "settings.json").write_bytes(damaged)
    qapp = ensure_qapp()
    app = Companion(qapp=qapp, options=AppOptions(signals=False, telemetry=False, ipc=False))
    qtbot.add_widget(app.window)
    try:
        assert app.start()
        text = app.window.bubble.text()
        assert "Settings file was damaged; defaults restored." in text
        (aside,) = _private_config_dir.glob("settings.json.corrupt-*")
        assert aside.name in text
        assert aside.read_bytes() == damaged  # nothing lost: the user can mend it
        qtbot.wait_until(lambda: bool(app.engine_name), timeout=30000)
    finally:
        app.shutdown()
    assert config.load_settings().notice is None  # a good file was written in its place


def test_damaged_settings_do_not_stop_speak(_private_config_dir: Path, tmp_path: Path) -> None:
    _private_config_dir.mkdir(parents=True)
    (_private_config_dir / "settings.json").write_text("[1, 2,")
    out = tmp_path / "out.wav"
    text = EVIDENCE.secret("Sparrows file reports.")
    done = _companion(_private_config_dir, "speak", text, "--output", str(out))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("companion speak: Settings file was damaged")
    assert out.stat().st_size > 1000
    assert list(_private_config_dir.glob("settings.json.corrupt-*"))


def test_settings_from_a_newer_version_keep_what_they_do_not_know(
    qtbot: QtBot, _private_config_dir: Path
) -> None:
    _private_config_dir.mkdir(parents=True)
    future = {
        "version": 7,
        "volume": 0.4,
        "engine": "espeak",
        "greeted": True,
        "hologram": {"mode": "full", "tint": [1, 2, 3]},
        "scale": "gigantic",  # a value this version does not know: the default, the rest kept
    }
    (_private_config_dir / "settings.json").write_text(json.dumps(future))
    app = Companion(
        qapp=ensure_qapp(), options=AppOptions(signals=False, telemetry=False, ipc=False)
    )
    qtbot.add_widget(app.window)
    try:
        assert app.start()
        assert "written by a newer Companion (format 7)" in app.window.bubble.text()
        assert app.player.volume == pytest.approx(0.4) and app.settings.scale == "medium"
        app.save()
    finally:
        app.shutdown()
    saved = json.loads((_private_config_dir / "settings.json").read_text())
    assert saved["hologram"] == future["hologram"]  # kept for the newer version
    assert saved["volume"] == 0.4


# -- a config folder that cannot be written -----------------------------------------------------


@pytest.fixture
def unwritable_config() -> Iterator[tuple[Path, Path]]:
    """A config folder ``nobody`` can read but not write, and a home of its own for it.

    Tests run as root, and root ignores file modes: the mascot runs as ``nobody`` instead.
    """
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv (util-linux) to run the mascot as another user")
    base = Path(tempfile.mkdtemp(prefix="companion-ro-"))
    try:
        base.chmod(0o755)
        cfg = base / "config"
        cfg.mkdir(mode=0o755)
        (cfg / "settings.json").write_text(json.dumps({"engine": "espeak", "scale": "small"}))
        (cfg / "settings.json").chmod(0o644)
        home = base / "home"
        home.mkdir(mode=0o700)
        runtime = base / "run"
        runtime.mkdir(mode=0o700)
        for path in (home, runtime):
            os.chown(path, 65534, 65534)
        yield cfg, home
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_an_unwritable_config_folder_is_said_and_the_mascot_works(
    unwritable_config: tuple[Path, Path],
) -> None:
    cfg, home = unwritable_config
    before = (cfg / "settings.json").read_bytes()
    run = str(home.parent / "run")
    env = _env(cfg, HOME=str(home), XDG_RUNTIME_DIR=run, COMPANION_LOG_LEVEL="info")
    env.pop("PULSE_SERVER", None)  # root's sound server is not nobody's: the silent clock
    log = home.parent / "mascot.log"
    with log.open("w") as err:
        os.chmod(log, 0o666)
        proc = subprocess.Popen(
            [*AS_NOBODY, sys.executable, "-m", "companion"],
            env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "[app] mascot shown" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)  # another process: no Qt event loop to wait on here
        said = subprocess.run(
            [*AS_NOBODY, sys.executable, "-m", "companion", "say", EVIDENCE.secret("Moles dig.")],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert said.returncode == 0, said.stderr
        deadline = time.monotonic() + 30
        while "[router] reply 2 done" not in log.read_text():  # 1: the greeting
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    EVIDENCE.add("unwritable config mascot log", text)
    print("\n[faults] unwritable config:", [x for x in text.splitlines() if "[settings]" in x])
    assert "[settings] cannot save settings: PermissionError" in text
    assert "Traceback" not in text and "[crash]" not in text
    assert (cfg / "settings.json").read_bytes() == before  # untouched, nothing half-written
    assert sorted(p.name for p in cfg.iterdir()) == ["settings.json"]


# -- say ---------------------------------------------------------------------------------------


def test_two_says_while_the_mascot_starts_leave_one_mascot_and_lose_nothing(
    reference_backend: ReferenceBackend, _private_config_dir: Path, kill_mascots: None
) -> None:
    """Two ``say`` at once, no mascot running: each starts one; one stays, both texts play."""
    backend = reference_backend
    texts = ["Owls count stars.", "Foxes knit scarves."]
    for text in texts:
        presynthesize(text, "pcm")
    cfg = _private_config_dir
    cfg.mkdir(parents=True)
    settings = {"backend_url": backend.url, "greeted": True, "queue_mode": "queue"}
    (cfg / "settings.json").write_text(json.dumps(settings))
    env = _env(cfg, COMPANION_TOKEN=backend.token)
    command = [sys.executable, "-m", "companion", "say"]
    procs = [
        subprocess.Popen([*command, t], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for t in texts
    ]
    results = [(p.wait(timeout=60), p.communicate()[0]) for p in procs]
    assert [code for code, _ in results] == [0, 0], results
    deadline = time.monotonic() + 30
    while sorted(str(r.json.get("input")) for r in backend.speech_requests()) != sorted(texts):
        assert time.monotonic() < deadline, [r.json for r in backend.speech_requests()]
        time.sleep(0.05)  # other processes: no Qt event loop to wait on here
    # A second mascot that lost the race leaves on its own (it found the first one answering).
    deadline = time.monotonic() + 15
    while len(_mascot_pids(cfg)) != 1:
        assert time.monotonic() < deadline, _mascot_pids(cfg)
        time.sleep(0.05)  # other processes: no Qt event loop to wait on here
    assert ipc.server_answers(ipc.server_name())


def test_the_longest_text_through_say_is_taken_whole_and_the_mascot_stays_responsive(
    qtbot: QtBot,
    make_mascot: Callable[..., Mascot],
    loop_watch: LoopWatch,
    _private_config_dir: Path,
) -> None:
    paragraph = "The tide comes in and the tide goes out, and the crabs do not mind at all. "
    text = (paragraph * (MAX_TEXT_CHARS // len(paragraph) + 1))[:MAX_TEXT_CHARS].strip()
    EVIDENCE.secret(paragraph.strip())
    m = make_mascot(engine="espeak", ipc=True)
    assert m.app.ipc is not None and m.app.ipc.listening
    loop_watch.start()
    sent = time.monotonic()
    with subprocess.Popen(
        [sys.executable, "-m", "companion", "say", "-"],
        env=_env(_private_config_dir), cwd=ROOT,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as proc:  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        stdin = proc.stdin

        def feed() -> None:  # say reads all of it before it connects
            with contextlib.suppress(BrokenPipeError):
                stdin.write(text.encode())
                stdin.close()

        # From a thread: the pipe takes the megabyte only as fast as the new process reads it,
        # and a blocking write here would stall the very event loop this test watches.
        writer = threading.Thread(target=feed, name="say-stdin")
        writer.start()
        qtbot.wait_until(lambda: proc.poll() is not None, timeout=60000)
        writer.join(10)
        out, err = proc.stdout.read(), proc.stderr.read()
    assert proc.returncode == 0 and out == b"" and err == b"", err
    reply = m.app.router.current_reply
    assert reply is not None and reply.text == text  # all of it, nothing cut
    qtbot.wait_until(lambda: bool(m.started), timeout=60000)
    first_audio = time.monotonic() - sent
    m.app.window.escape_pressed.emit()  # enough: Esc stops it
    qtbot.wait_until(lambda: not m.app.router.busy, timeout=5000)
    gap = loop_watch.stop()
    print(f"\n[faults] {len(text)} chars say: first audio {first_audio:.1f} s, gap {gap:.0f} ms")
    assert gap < MAX_LOOP_GAP_MS
    assert first_audio < 30.0


@pytest.mark.parametrize("command", ["say", "ask", "speak"])
def test_binary_junk_on_stdin_is_refused_in_one_line(
    command: str, _private_config_dir: Path, kill_mascots: None
) -> None:
    done = _companion(_private_config_dir, command, "-", stdin=JUNK)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"companion {command}: standard input looks like binary data, not text"
    ]
    assert _mascot_pids(_private_config_dir) == []  # nothing started to speak junk
    not_utf8 = _companion(_private_config_dir, command, "-", stdin=b"caf\xe9 \xff\xfe ok")
    assert not_utf8.returncode == 1
    assert not_utf8.stderr.splitlines() == [
        f"companion {command}: standard input is not UTF-8 text"
    ]
