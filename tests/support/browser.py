# SPDX-License-Identifier: GPL-3.0-or-later
"""A browser for sign-in tests: opens the sign-in address with requests and follows the
backend's redirect to the loopback listener, in a thread of its own."""

from __future__ import annotations

import threading

import requests

BROWSER_THREAD = "test-browser"


class Browser:
    """Plays the browser: opens the sign-in address and follows the redirect."""

    def __init__(self) -> None:
        self.pages: list[requests.Response] = []
        self.threads: list[threading.Thread] = []

    def open(self, url: str) -> bool:
        def run() -> None:
            self.pages.append(requests.get(url, timeout=10))

        thread = threading.Thread(target=run, name=BROWSER_THREAD)
        self.threads.append(thread)
        thread.start()
        return True

    def join(self) -> None:
        for thread in self.threads:
            thread.join(10)
