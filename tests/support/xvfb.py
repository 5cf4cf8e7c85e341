# SPDX-License-Identifier: GPL-3.0-or-later
"""A private X server (``Xvfb -displayfd``): the mascot on a real display, for benchmarks and
the bundle's smoke test. ``with Xvfb() as display: env["DISPLAY"] = display``."""

from __future__ import annotations

import os
import shutil
import subprocess


class Xvfb:
    """A private X server (``Xvfb -displayfd``) for a benchmark: ``with Xvfb() as display:``."""

    def __init__(self, size: str = "1280x800x24") -> None:
        self.size = size
        self.display = ""
        self._proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("Xvfb") is not None

    def __enter__(self) -> str:
        read_fd, write_fd = os.pipe()
        self._proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", self.size, "-nolisten", "tcp"],
            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start (apt-get install xvfb)")
        self.display = f":{number}"
        return self.display

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
