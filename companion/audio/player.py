# SPDX-License-Identifier: GPL-3.0-or-later
"""The player: a PortAudio callback stream, a clock of what is heard, a silent fallback.

Plain Python (no Qt), thread-safe: ``begin``/``enqueue``/``end``/``stop`` come from the GUI
thread or the speech thread, ``position_ms`` from the GUI thread at up to 60 fps.

Design notes (figures from ``benchmarks/player_clock.py`` on the PulseAudio null sink):

- The callback copies from arrays queued before it ran and advances integer cursors
  (:class:`~companion.audio.utterance.UtteranceState`); it takes no lock and logs nothing.
- The clock interpolates from the latest callback with ``time.monotonic``, corrected by the output
  latency PortAudio reports for each buffer (``outputBufferDacTime - currentTime``), so the mouth
  follows what is audible now.
- Latency: ``DEFAULT_LATENCY`` (0.1 s), not ``"low"``. At ``"low"`` (8.5 ms through ALSA's pulse
  plugin, a callback every 2 ms) one busy Python thread (the speech worker synthesising the next
  sentence) starves the callback of the GIL: 461 underflows and 7.6 s of wall time for 5 s of
  audio, i.e. stutter; at 0.1 s, none. The clock is corrected by the latency, so the mouth does
  not lag; ``stop()`` aborts a stream that buffers more than 30 ms, which drops what it holds.
- An open stream writing zeros costs CPU (4 % of a core at ``"low"``, 0.4-0.8 % at 0.1 s), so
  the stream stays open only while an utterance plays and for ``IDLE_CLOSE_S`` after
  (back-to-back pieces reuse it); opening one costs a few milliseconds.
- A janitor thread (asleep unless a stream is open) closes idle streams and notices a lost
  device: the stream ending by itself (PortAudio error, device unplugged, sound server gone) or no
  callback for ``STALL_S`` while audio waits. The utterance then carries on from the position
  heard on a silent clock that runs in real time, and ``notice`` says so.
"""

from __future__ import annotations

import logging
import threading
import time
from types import ModuleType
from typing import Any

import numpy as np

from companion.audio import devices
from companion.audio.utterance import UtteranceState
from companion.speech.types import PLAYER_RATE, FloatArray

log = logging.getLogger("companion.audio")

DEFAULT_LATENCY = 0.1
"""Seconds of audio the output buffers: enough to ride out a busy Python thread."""
IDLE_CLOSE_S = 3.0
"""Keep an idle stream open this long after an utterance, for the next piece of a reply."""
STALL_S = 2.5
"""No callback for this long while audio waits: the device is gone (e.g. a suspended sink)."""
_JANITOR_TICK_S = 0.25
_STOP_ABORT_LATENCY_S = 0.03
"""Streams buffering more than this are aborted on stop() so silence comes within 50 ms."""
LOST_NOTICE = "Audio output lost mid-reply — playing silently; the next reply tries it again."


class Player:
    """Plays float32 mono audio and tells how much of it has been heard.

    ``idle_close_s`` and ``stall_s`` tune :data:`IDLE_CLOSE_S` and :data:`STALL_S`.

    Attributes:
        sample_rate: frames per second of everything passed to :meth:`enqueue`.
        silent: True while the silent clock stands in for a device (none, or lost).
        muted: sound is off (:meth:`set_muted`); the clock runs on in real time.
        notice: one line for the user about the audio output (what to install, what failed),
            or None when all is well.
        underflows: output underflows PortAudio reported (diagnostics).
        callbacks: audio callbacks run (diagnostics).
        output_delay: seconds from the latest callback to its first frame being heard.
        device_name: the name of the device the last stream opened on ("" when none).
    """

    def __init__(
        self,
        *,
        sample_rate: int = PLAYER_RATE,
        device: str | None = None,
        volume: float = 1.0,
        latency: float | str = DEFAULT_LATENCY,
        idle_close_s: float = IDLE_CLOSE_S,
        stall_s: float = STALL_S,
    ) -> None:
        self.sample_rate = sample_rate
        self._idle_close_s = idle_close_s
        self._stall_s = stall_s
        self._device_request = device
        self._volume = _clamp_volume(volume)
        self._latency = latency
        self._lock = threading.Lock()  # utterance state; never taken by PortAudio threads
        self._stream_lock = threading.RLock()  # opening/closing streams; taken before _lock
        self._utt = UtteranceState(sample_rate, time.monotonic(), silent=True)
        self._utt.end()
        self._stream: Any = None
        self._generation = 0
        self._lost_generation = -1
        self._closing = False
        self._output_latency = 0.0
        self._last_callback = 0.0
        self._idle_since: float | None = None
        self._reopen = False
        self._open_pending = False
        self.muted = False
        self.underflows = 0
        self.callbacks = 0
        self.output_delay = 0.0
        self.device_name = ""
        backend = devices.load_backend()
        self._sd: ModuleType | None = backend.sd
        self.silent = backend.sd is None
        self.notice: str | None = backend.notice
        if backend.sd is not None:
            index, self.notice = self._resolve_device()
            if index is None:
                self.silent, self.notice = True, self.notice or devices.NO_DEVICE
        self._wake = threading.Event()
        self._closed = False
        self._janitor = threading.Thread(target=self._janitor_loop, name="audio-janitor")
        self._janitor.daemon = True
        self._janitor.start()

    # -- the contract --------------------------------------------------------------------------

    def begin(self) -> None:
        """Start a new utterance: the clock goes back to 0, queued audio is dropped."""
        with self._stream_lock:
            if self._closed:
                return
            self._interrupt()
            ready = self._stream_ready()
            with self._lock:
                now = time.monotonic()
                # Without PortAudio the clock is silent from the start; otherwise it waits for
                # the stream's first callback (or turns silent if the stream cannot open).
                self._utt = UtteranceState(
                    self.sample_rate, now, silent=self._sd is None, muted=self.muted
                )
                self._idle_since = None
            # Opening a PortAudio stream takes 5-50 ms: the janitor thread does it, so the
            # caller (the GUI thread) never waits on the sound server. Muted, none is needed.
            self._open_pending = not ready and self._sd is not None and not self.muted
        self._wake.set()

    def enqueue(self, samples: FloatArray) -> None:
        """Append audio (mono, at ``sample_rate``) to the current utterance."""
        own = np.array(samples, dtype=np.float32, copy=True).reshape(-1)
        with self._lock:
            self._utt.append(own, time.monotonic())

    def end(self) -> None:
        """No more audio for this utterance; ``finished`` turns true once it has been heard."""
        with self._lock:
            self._utt.end()

    def stop(self) -> None:
        """Silence now (within 50 ms), freeze the clock, drop the queued audio."""
        with self._stream_lock:
            self._interrupt()
        self._wake.set()

    def set_muted(self, muted: bool) -> None:
        """Sound off or on; the current utterance goes on without a break in its clock.

        Muting silences at once (a stream that buffers more than a few milliseconds is
        dropped) and the utterance carries on, on its silent clock, in real time; later ones
        begin muted. Unmuting hands the current utterance back to the device from the
        position its clock reached (the stream is opened by the janitor thread).
        """
        with self._stream_lock:
            if self._closed or muted == self.muted:
                return
            self.muted = muted
            with self._lock:
                now = time.monotonic()
                if muted:
                    cut = self._utt.unheard(now)
                    self._utt.mute(now)
                    resume = False
                else:
                    cut = False
                    resume = self._utt.unmute()
            if cut and self._output_latency > _STOP_ABORT_LATENCY_S:
                self._discard_stream()
            if resume:
                self._open_pending = True
        self._wake.set()

    @property
    def audible(self) -> bool:
        """Sound of the current utterance is reaching a device now (not muted, not silent,
        not finished)."""
        with self._lock:
            utt = self._utt
            return not (utt.silent or utt.muted or utt.finished(time.monotonic()))

    def _interrupt(self) -> None:
        """Stop the current utterance; drop what the device still holds of it."""
        with self._lock:
            now = time.monotonic()
            cut = self._utt.unheard(now)
            self._utt.stop(now)
        # The callback writes zeros from its next buffer on; a stream that buffers more than a
        # few milliseconds is aborted so the audio it holds is dropped too (reopened by begin()).
        if cut and self._output_latency > _STOP_ABORT_LATENCY_S:
            self._discard_stream()

    def position_ms(self) -> float:
        """Milliseconds of the current utterance heard so far (PlaybackClock)."""
        with self._lock:
            frames = self._utt.position_frames(time.monotonic())
        return 1000.0 * frames / self.sample_rate

    def queued_ms(self) -> float:
        """Milliseconds of audio queued in the current utterance so far (heard or not)."""
        with self._lock:
            return 1000.0 * self._utt.enqueued / self.sample_rate

    @property
    def output_latency(self) -> float:
        """The latency (seconds) PortAudio chose for the last stream opened."""
        return self._output_latency

    @property
    def stream_open(self) -> bool:
        """A PortAudio stream is open (while playing and ``idle_close_s`` after)."""
        return self._stream is not None

    @property
    def frames_played(self) -> int:
        """Frames of the current utterance handed to the device (diagnostics and tests)."""
        return self._utt.consumed

    @property
    def finished(self) -> bool:
        """The current utterance was heard to its end (after ``end()``) or stopped."""
        with self._lock:
            return self._utt.finished(time.monotonic())

    @property
    def stopped(self) -> bool:
        """The current utterance was stopped early."""
        return self._utt.stopped

    @property
    def playing(self) -> bool:
        """An utterance is under way: begun, neither stopped nor finished."""
        return not self.finished

    def wait_finished(self, timeout: float | None = None) -> bool:
        """Block until ``finished`` (True) or ``timeout`` seconds pass (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.finished:
            if self._closed:
                return True
            remaining = 0.01 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(0.01, remaining))
        return True

    @property
    def volume(self) -> float:
        return self._volume

    @volume.setter
    def volume(self, value: float) -> None:
        self._volume = _clamp_volume(value)

    def set_device(self, name: str | None) -> None:
        """Play on the device whose name contains ``name`` (None: the default device).

        Takes effect from the next utterance; an idle stream is closed now.
        """
        with self._stream_lock:
            self._device_request = name or None
            with self._lock:
                busy = self._utt.unheard(time.monotonic())
            if busy:
                self._reopen = True
            else:
                self._discard_stream()

    def close(self) -> None:
        """Stop, close the stream, end the janitor. Safe to call twice."""
        with self._stream_lock:
            if self._closed:
                return
            self._closed = True
            with self._lock:
                self._utt.stop(time.monotonic())
            self._discard_stream()
        self._wake.set()
        self._janitor.join(timeout=2.0)

    @property
    def on_underflow(self) -> int:
        """The contract's name for :attr:`underflows`."""
        return self.underflows

    # -- the audio callback (PortAudio's thread: no locks, no allocation, no logging) ----------

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        now = time.monotonic()
        self._last_callback = now
        self.callbacks += 1
        if status.output_underflow:
            self.underflows += 1
        delay = time_info.outputBufferDacTime - time_info.currentTime
        if not 0.0 <= delay < 1.0:  # host APIs that report no times give 0 or nonsense
            delay = self._output_latency
        self.output_delay = delay
        self._utt.read_into(outdata[:, 0], self._volume, now + delay)

    def _on_finished(self, generation: int) -> None:
        # PortAudio's thread, when a stream ends for any reason; we only take note.
        if not self._closing:
            self._lost_generation = generation
            self._wake.set()

    # -- streams (under _stream_lock) ----------------------------------------------------------

    def _stream_ready(self) -> bool:
        """The open stream can play the next utterance as it is."""
        stream = self._stream
        return (
            stream is not None
            and stream.active
            and self._lost_generation != self._generation
            and not self._reopen
        )

    def _ensure_stream(self) -> bool:
        """An open, running stream (True), or the reason for silence in ``notice`` (False)."""
        if self._stream_ready():
            return True
        self._discard_stream()
        sd = self._sd
        if sd is None:
            self.silent = True
            return False
        self._reopen = False
        device, device_notice = self._resolve_device()
        if device is None:
            self.silent, self.notice = True, device_notice or devices.NO_DEVICE
            log.info("[audio] no output device; playing silently")
            return False
        self._generation += 1
        generation = self._generation
        try:
            stream = sd.OutputStream(
                samplerate=self.sample_rate,
                channels=1,
                dtype="float32",
                latency=self._latency,
                device=device,
                callback=self._callback,
                finished_callback=lambda: self._on_finished(generation),
            )
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            self.silent = True
            self.notice = f"Could not open the audio output ({_short(exc)}) — playing silently."
            log.info("[audio] opening the output stream failed: %s", _short(exc))
            return False
        self._stream = stream
        self._output_latency = float(stream.latency)
        self._last_callback = time.monotonic()
        self.device_name = devices.device_name(device)
        self.silent = False
        self.notice = device_notice
        log.debug(
            "[audio] stream open: device=%s latency_ms=%.1f",
            self.device_name,
            1000 * self._output_latency,
        )
        return True

    def _resolve_device(self) -> tuple[int | None, str | None]:
        """The device index to open and a notice when the named one was not found."""
        wanted = self._device_request
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

    def _discard_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._closing = True
        try:
            stream.abort(ignore_errors=True)
            stream.close(ignore_errors=True)
        finally:
            self._closing = False

    # -- janitor: idle close, lost device ------------------------------------------------------

    def _janitor_loop(self) -> None:
        while True:
            timeout = _JANITOR_TICK_S if self._stream is not None else None
            self._wake.wait(timeout)
            self._wake.clear()
            with self._stream_lock:
                if self._closed:
                    return
                if self._open_pending:
                    self._open_pending = False
                    self._open_for_utterance()
                self._janitor_tick()

    def _open_for_utterance(self) -> None:
        """Open the stream begin() (or unmute) asked for; carry on silently when it cannot."""
        opened = self._ensure_stream()
        with self._lock:
            now = time.monotonic()
            if not opened:
                self._utt.resume_pending = False
                self._utt.switch_to_silent(now)
            elif self._utt.resume_pending:
                self._utt.resume_on_device(now)

    def _janitor_tick(self) -> None:
        stream = self._stream
        if stream is None:
            return
        now = time.monotonic()
        lost = self._lost_generation == self._generation or not stream.active
        with self._lock:
            waiting = self._utt.unheard(now)
            stalled = waiting and now - self._last_callback > self._stall_s
            if lost or stalled:
                self._utt.switch_to_silent(now)
            playing = not self._utt.finished(now)
        if lost and not waiting:
            log.info("[audio] the idle output stream ended; the next utterance reopens it")
            self._discard_stream()
            return
        if lost or stalled:
            log.warning(
                "[audio] output lost (%s); carrying on silently", "stalled" if stalled else "ended"
            )
            self._discard_stream()
            self.silent, self.notice = True, LOST_NOTICE
            return
        if playing:
            self._idle_since = None
        elif self._idle_since is None:
            self._idle_since = now
        elif now - self._idle_since >= self._idle_close_s:
            log.debug("[audio] closing the idle stream")
            self._discard_stream()


def _clamp_volume(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]
