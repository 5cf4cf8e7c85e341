# SPDX-License-Identifier: GPL-3.0-or-later
"""The unauthorized path, timed: how fast the mascot goes quiet and asks, and how fast the
held reply is heard again after sign-in. Goal: quiet within one frame (16 ms) of the 401
reaching the GUI; asking without a round trip when the token is known to be expired.

Run: ``.venv/bin/python benchmarks/unauthorized_path.py [--runs 5]``

The real app (remote engine, speech thread, player, offscreen) against the reference backend
over real HTTP on 127.0.0.1. Measured per run:

- server 401 → player stopped and dialog shown (the token revoked on the server; the
  reply's first piece already playing): from the moment the 401 request reached the server;
- say() → dialog, token revoked on the server (a 401 round trip) — the baseline — against
  say() → dialog with a locally expired token (no request at all);
- browser sign-in (button → signed in: listener, redirect, exchange, /auth/me) and
  signed in → the held reply's first audio.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["COMPANION_CONFIG_DIR"] = tempfile.mkdtemp(prefix="companion-bench-")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests
from _figure import figure
from PySide6.QtCore import QCoreApplication

from companion.app import AppOptions, Companion, ensure_qapp
from companion.backend.auth import SessionStore
from tests.support.reference_auth import ReferenceAuth
from tests.support.reference_backend import ReferenceBackend, synthesize

REPLY = "The kettle is on. Tea in five minutes. Milk is in the fridge. See you soon."


def wait_for(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("condition not met")
        QCoreApplication.processEvents()
        time.sleep(0.0005)


def browser(url: str) -> bool:
    threading.Thread(target=lambda: requests.get(url, timeout=10), name="bench-browser").start()
    return True


def ms(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"median {statistics.median(values):7.1f} ms  (min {low:.1f}, max {high:.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    synthesize("Ready.")
    backend = ReferenceBackend().start()
    # The reference server flushes headers and body in separate writes; without TCP_NODELAY
    # Nagle's algorithm and the client's delayed ACK hold the small 401 body back ~40 ms on
    # loopback (a server artefact, not the app's): measure the app, not that.
    opened = backend._opened

    def no_delay(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        opened(conn)

    backend._opened = no_delay  # type: ignore[method-assign]
    auth = ReferenceAuth.install(backend)
    cfg = Path(os.environ["COMPANION_CONFIG_DIR"])
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "settings.json").write_text(json.dumps({"backend_url": backend.url, "greeted": True}))
    SessionStore(base_url=backend.url, env={}).store(backend.token)
    app = Companion(
        qapp=ensure_qapp(),
        options=AppOptions(signals=False, telemetry=False, greet=False, ipc=False),
    )
    app.start()
    app.session_flow.open_url = browser
    flow = app.session_flow
    marks: dict[str, float] = {}
    flow.dialog_opened.connect(lambda: marks.setdefault("dialog", time.monotonic()))
    app.session_flow.sign_in_needed.connect(lambda e: marks.setdefault("quiet", time.monotonic()))
    app.router.reply_started.connect(lambda r: marks.setdefault("started", time.monotonic()))
    flow.signed_in.connect(lambda a: marks.setdefault("signed_in", time.monotonic()))
    wait_for(lambda: bool(app.engine_name))

    to_quiet, to_dialog, roundtrip, local, sign_in, to_audio = [], [], [], [], [], []
    for _ in range(args.runs):
        # 1. Mid-reply: the first piece plays, the second request meets a 401.
        auth.expire(app.session.token(), after=1)
        marks.clear()
        app.router.say(REPLY)
        wait_for(lambda: "dialog" in marks)
        # The refused request is the last to arrive before the dialog opened (a speech request,
        # or the account check, whichever used up the token's last authorized call).
        refused = [r for r in backend.requests if r.at <= marks["dialog"]][-1]
        assert not app.player.playing and app.window.view.current_mouth().openness == 0.0
        to_quiet.append(1000 * (marks["quiet"] - refused.at))
        to_dialog.append(1000 * (marks["dialog"] - refused.at))
        # 2. Browser sign-in; the held reply plays from its start.
        dialog = flow.dialog
        assert dialog is not None
        marks.clear()
        clicked = time.monotonic()
        dialog.browser_button.click()
        wait_for(lambda: "started" in marks)
        sign_in.append(1000 * (marks["signed_in"] - clicked))
        to_audio.append(1000 * (marks["started"] - marks["signed_in"]))
        app.router.stop()
        # 3. Baseline: token revoked on the server, say() → dialog (a 401 round trip).
        auth.revoke(app.session.token())
        marks.clear()
        started = time.monotonic()
        app.router.say("Hello.")
        wait_for(lambda: "dialog" in marks)
        roundtrip.append(1000 * (marks["dialog"] - started))
        assert flow.dialog is not None
        flow.dialog.reject()
        # 4. Locally expired token: say() → dialog, no request.
        app.session.store(auth.issue(lifetime_s=-60))
        before = len(backend.requests)
        marks.clear()
        started = time.monotonic()
        app.router.say("Hello.")
        wait_for(lambda: "dialog" in marks)
        local.append(1000 * (marks["dialog"] - started))
        assert len(backend.requests) == before, "an expired token made a request"
        assert flow.dialog is not None
        flow.dialog.reject()
        fresh = auth.issue()
        app.session.store(fresh)
        backend.token = fresh

    print(f"runs: {args.runs}")
    print(f"server 401 -> player stopped, mouth at rest:  {ms(to_quiet)}")
    print(f"server 401 -> sign-in dialog shown:           {ms(to_dialog)}")
    print(f"say() -> dialog, 401 round trip (baseline):   {ms(roundtrip)}")
    print(f"say() -> dialog, expired locally (no request): {ms(local)}")
    print(f"browser sign-in (click -> signed in):         {ms(sign_in)}")
    print(f"signed in -> held reply's first audio:        {ms(to_audio)}")
    med = statistics.median
    figure(
        "unauth_quiet",
        med(to_quiet),
        "ms",
        what="server 401 to player stopped, mouth at rest",
        goal="< 16 ms",
    )
    figure(
        "unauth_dialog_local",
        med(local),
        "ms",
        what="say() to sign-in dialog, token expired",
        baseline=med(roundtrip),
        baseline_what="a 401 round trip",
    )
    figure("unauth_resume", med(to_audio), "ms", what="signed in to held reply's first audio")
    app.shutdown()
    backend.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
