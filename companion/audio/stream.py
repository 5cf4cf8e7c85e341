# SPDX-License-Identifier: GPL-3.0-or-later
"""The player's PortAudio output stream: opened ahead of time, started per utterance, stopped
(still open) when idle, reopened once when it cannot start, and the reason when there is none.

Not thread-safe on its own: :class:`~companion.audio.player.Player` calls it from its janitor
thread (and ``pause`` from ``stop()``), always under the player's stream lock. PortAudio calls
``callback`` and the finished callback from its own thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from companion.audio import devices

log = logging.getLogger("companion.audio")

Callback = Callable[[Any, int, Any, Any], None]


class DeviceStream:
    """One output stream on the requested (or default) device.

    Attributes:
        device_request: the device name asked for (None: the default output).
        silent: no stream could be opened or started; ``notice`` says why.
        notice: one line about the output for the user, or None.
        output_latency: the latency (seconds) PortAudio chose for the last stream opened.
        device_name: the name of the device the last stream opened on ("" when none).
        running: the stream is started (callbacks run).
        started_at: monotonic time of the latest start.
        reopen: open a new stream before the next start (another device was chosen).
    """

    def __init__(
        self,
        *,
        sd: ModuleType,
        sample_rate: int,
        latency: float | str,
        callback: Callback,
        device: str | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self._sd = sd
        self._rate = sample_rate
        self._latency = latency
        self._callback = callback
        self._on_lost = on_lost
        self.device_request = device
        self._stream: Any = None
        self._generation = 0
        self._lost_generation = -1
        self._ours = False  # our own abort/close: the finished callback is no loss
        self.silent = False
        self.notice: str | None = None
        self.output_latency = 0.0
        self.device_name = ""
        self.running = False
        self.started_at = 0.0
        self.reopen = False

    @property
    def prepared(self) -> bool:
        return self._stream is not None

    @property
    def lost(self) -> bool:
        """The running stream ended by itself (PortAudio error, device or server gone)."""
        stream = self._stream
        if stream is None or not self.running:
            return False
        return self._lost_generation == self._generation or not stream.active

    def resolve(self) -> tuple[int | None, str | None]:
        """The device index to open and a notice when the named one was not found."""
        wanted = self.device_request
        if wanted:
            index = devices.find_device(wanted)
            if index is not None:
                return index, None
            default = devices.default_output_device()
            notice = f"Audio device “{wanted}” not found — using the default output."
            if default is None:
                notice = f"Audio device “{wanted}” not found — playing silently."
            return default, notice
        return devices.default_output_device(), None

    def prepare(self) -> bool:
        """An open stream for the requested device (True), or the reason for silence."""
        if self._stream is not None and not self.reopen:
            return True
        self.discard()
        self.reopen = False
        device, device_notice = self.resolve()
        if device is None:
            self.silent, self.notice = True, device_notice or devices.NO_DEVICE
            log.info("[audio] no output device; playing silently")
            return False
        self._generation += 1
        generation = self._generation
        sd = self._sd
        try:
            stream = sd.OutputStream(
                samplerate=self._rate,
                channels=1,
                dtype="float32",
                latency=self._latency,
                device=device,
                callback=self._callback,
                finished_callback=lambda: self._on_finished(generation),
                # The first callbacks fill the empty buffer: the first frame queued is heard
                # at once, not after a buffer of zeros.
                prime_output_buffers_using_stream_callback=True,
            )
        except (sd.PortAudioError, ValueError) as exc:
            self._cannot_open(exc)
            return False
        self._stream = stream
        self.output_latency = float(stream.latency)
        self.device_name = devices.device_name(device)
        self.silent, self.notice = False, device_notice
        log.debug(
            "[audio] stream open: device=%s latency_ms=%.1f",
            self.device_name,
            1000 * self.output_latency,
        )
        return True

    def start(self) -> bool:
        """Start the prepared stream (opening it first if needed, reopening it once when it
        cannot start: the sound server restarted under it). False: silence, see ``notice``."""
        for attempt in range(2):
            if not self.prepare():
                return False
            self.started_at = time.monotonic()
            try:
                self._stream.start()
            except self._sd.PortAudioError as exc:
                log.info("[audio] the output stream did not start: %s", _short(exc))
                self.discard()
                if attempt:
                    self._cannot_open(exc)
                continue
            self.running = True
            return True
        return False

    def pause(self) -> None:
        """Stop the stream, dropping what it buffers; it stays open, ready to start again."""
        self.running = False
        if self._stream is not None:
            self._quietly(self._stream.abort)

    def discard(self) -> None:
        """Close the stream (if any)."""
        stream, self._stream = self._stream, None
        self.running = False
        if stream is not None:
            self._quietly(stream.abort)
            self._quietly(stream.close)

    def _quietly(self, action: Callable[..., None]) -> None:
        self._ours = True
        try:
            action(ignore_errors=True)
        finally:
            self._ours = False

    def _on_finished(self, generation: int) -> None:
        # PortAudio's thread, when a stream ends for any reason; we only take note.
        if not self._ours:
            self._lost_generation = generation
            if self._on_lost is not None:
                self._on_lost()

    def _cannot_open(self, exc: Exception) -> None:
        self.silent = True
        self.notice = f"Could not open the audio output ({_short(exc)}) — playing silently."
        log.info("[audio] opening the output stream failed: %s", _short(exc))


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]
