# SPDX-License-Identifier: GPL-3.0-or-later
"""Screenshots of the desktop as a user meets it: the real app (``python -m companion``) on a
real X server (Xvfb), with and without a window manager (openbox), the chat panel opened from
the mascot's right-click menu with the mouse and keyboard (xdotool), captured with ImageMagick's
``import -window root``.

    .venv/bin/python docs/make_desktop_screenshots.py [--out docs/screenshots] [--size 1280x800]

Writes ``desktop-<wm>-<state>.png`` for wm in ``bare`` (no window manager) and ``openbox``, and
state in ``idle``, ``speaking`` (``companion say``), ``error`` (the chat server answers 500)
and ``signed-out`` (the server refuses the token: the sign-in dialog). The server is the
reference backend (``tests/support/reference_backend.py``) on 127.0.0.1.
Needs ``apt-get install xvfb xdotool openbox imagemagick``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.reference_backend import ReferenceBackend  # noqa: E402
from tests.support.reference_chat import install_chat  # noqa: E402
from tests.support.reference_errors import Fault  # noqa: E402
from tests.support.xvfb import Xvfb  # noqa: E402

STATES = ("idle", "speaking", "error", "signed-out")
HISTORY = [
    ("user", "What can you do?"),
    ("assistant", "I read replies aloud, with my mouth in time with the words. "
                  "Ask me anything, or paste text into the read-aloud box."),
    ("user", "Tell me a fact about owls."),
    ("assistant", "An owl cannot move its eyes, so it turns its whole head, "
                  "up to 270 degrees."),
]
SPOKEN = "Good morning! Here is the weather: sunny spells, a light breeze, and no rain today."


def _run(*args: str, env: dict[str, str], check: bool = True) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=check)
    return done.stdout


def _mascot_window(env: dict[str, str], timeout: float = 60.0) -> tuple[int, int, int, int]:
    """The mascot window's geometry (x, y, w, h), once it is mapped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = _run("xdotool", "search", "--onlyvisible", "--name", "^Companion$",
                   env=env, check=False)  # fmt: skip
        for wid in out.split():
            geo = _run("xdotool", "getwindowgeometry", "--shell", wid, env=env, check=False)
            vals = dict(line.split("=", 1) for line in geo.splitlines() if "=" in line)
            if {"X", "Y", "WIDTH", "HEIGHT"} <= vals.keys():
                return int(vals["X"]), int(vals["Y"]), int(vals["WIDTH"]), int(vals["HEIGHT"])
        time.sleep(0.3)
    raise RuntimeError("the mascot window did not appear")


def _open_chat(env: dict[str, str]) -> None:
    """Right-click the mascot, then Chat… with the keyboard (as a user would)."""
    x, y, w, h = _mascot_window(env)
    _run("xdotool", "mousemove", str(x + w // 2), str(y + h - h // 3), env=env)
    _run("xdotool", "click", "3", env=env)
    time.sleep(0.6)
    # Hide, Mute, (Stop speaking: greyed out while idle, skipped), Replay last, Chat…
    _run("xdotool", "key", "Down", "Down", "Down", "Down", "Return", env=env)
    time.sleep(1.2)


@contextmanager
def _mascot(env: dict[str, str], folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (folder / "mascot.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "companion"], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        _mascot_window(env)
        time.sleep(2.0)  # the start-up notices, the engine warmed
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _companion(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "companion", *args], env=env, cwd=ROOT,
                   capture_output=True, timeout=60, check=False)  # fmt: skip


def _shoot(state: str, wm: str, display: str, backend: ReferenceBackend, out: Path) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f"companion-shot-{state}-"))
    settings = {"backend_url": backend.url, "greeted": True, "engine": "auto"}
    (folder / "settings.json").write_text(json.dumps(settings))
    (folder / "state").mkdir()
    conversation = {"messages": [{"role": r, "content": c, "state": "done"} for r, c in HISTORY]}
    (folder / "state" / "conversation.json").write_text(json.dumps(conversation))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "COMPANION_"))}
    token = "not-the-token" if state == "signed-out" else backend.token
    env |= {"DISPLAY": display, "COMPANION_CONFIG_DIR": str(folder), "PYTHONPATH": str(ROOT),
            "COMPANION_TOKEN": token}  # fmt: skip
    backend.clear_faults()
    with _mascot(env, folder):
        _open_chat(env)
        if state == "speaking":
            _companion(env, "say", SPOKEN)
            time.sleep(2.5)
        elif state == "error":
            backend.inject(Fault(status=500, path="/openai/v1/chat/completions", times=5))
            _companion(env, "ask", "Will it rain tomorrow?")
            time.sleep(3.0)
        elif state == "signed-out":  # the ask waits for a sign-in: left running, then ended
            asking = subprocess.Popen([sys.executable, "-m", "companion", "ask", "Rain?"], env=env,
                                      cwd=ROOT, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)  # fmt: skip
            time.sleep(4.0)
        target = out / f"desktop-{wm}-{state}.png"
        _run("import", "-window", "root", str(target), env=env)
        if state == "signed-out":
            asking.kill()
            asking.wait()
    shutil.rmtree(folder, ignore_errors=True)
    return target


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--size", default="1280x800")
    ap.add_argument("--states", nargs="*", default=list(STATES), choices=STATES)
    ap.add_argument("--wm", nargs="*", default=["bare", "openbox"], choices=["bare", "openbox"])
    args = ap.parse_args()
    for tool in ("Xvfb", "xdotool", "import") + (("openbox",) if "openbox" in args.wm else ()):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: apt-get install xvfb xdotool openbox imagemagick")
            return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with ReferenceBackend() as backend:
        install_chat(backend)
        for wm in args.wm:
            with Xvfb(f"{args.size}x24") as display:
                env = dict(os.environ, DISPLAY=display)
                manager = (subprocess.Popen(["openbox"], env=env, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
                           if wm == "openbox" else None)  # fmt: skip
                time.sleep(1.0)
                try:
                    for state in args.states:
                        print(_shoot(state, wm, display, backend, args.out))
                finally:
                    if manager is not None:
                        manager.terminate()
                        manager.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
