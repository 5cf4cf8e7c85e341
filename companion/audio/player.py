# SPDX-License-Identifier: GPL-3.0-or-later
"""The player: a PortAudio callback stream, a clock of what is heard, a silent fallback.

Plain Python (no Qt), thread-safe: ``begin``/``enqueue``/``end``/``stop`` come from the GUI
thread or the speech thread, ``position_ms`` from the GUI thread at up to 60 fps.

Design notes (figures from ``benchmarks/player_clock.py`` and ``first_sound.py``, null sink):

- The callback copies from arrays queued before it ran and advances integer cursors
  (:class:`~companion.audio.utterance.UtteranceState`); no lock, no allocation, no logging.
- The clock interpolates from the latest callback, corrected by the output latency PortAudio
  reports per buffer, so the mouth follows what is audible now; mute keeps the same clock.
- Latency 0.1 s, not ``"low"``: at 8.5 ms a busy Python thread starves the callback of the GIL
  (461 underflows for 5 s of audio); ``stop()`` stops a stream buffering more than 30 ms.
- First sound without the buffer's wait: the stream is opened ahead and started when the
  utterance's first audio arrives, primed from the callback
  (``prime_output_buffers_using_stream_callback``): heard ~30 ms after ``enqueue()``, where a
  running stream first played its 0.1 s of zeros (120 ms). Idle for ``IDLE_STOP_S``, it is
  stopped (kept open): a running stream writing zeros costs 0.4-0.8 % of a core.
- A janitor thread opens, starts and stops streams (callers never wait on the sound server) and
  notices a lost device (the stream ended, or no callback for ``STALL_S`` while audio waits):
  the utterance carries on from the position heard on a silent clock, and ``notice`` says so.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np

from companion.audio import devices
from companion.audio.stream import DeviceStream
from companion.audio.utterance import UtteranceState
from companion.speech.types import PLAYER_RATE, FloatArray

log = logging.getLogger("companion.audio")

DEFAULT_LATENCY = 0.1
"""Seconds of audio the output buffers: enough to ride out a busy Python thread."""
IDLE_STOP_S = 0.3
"""Stop the stream once nothing queued has been unheard this long. More than the error of
PortAudio's latency estimate (the sink heard frames up to 30 ms after the time it gave), so no
tail of audio still in the sound server's buffer is cut."""
STALL_S = 2.5
"""No callback for this long while audio waits: the device is gone (e.g. a suspended sink)."""
_JANITOR_TICK_S = 0.1
#: How long a caller waits for PortAudio to load before it is taken as missing (silent).
LOAD_TIMEOUT_S = 10.0
_STOP_ABORT_S = 0.03
"""Streams buffering more than this are aborted on stop() so silence comes within 50 ms."""
LOST_NOTICE = "Audio output lost mid-reply — playing silently; the next reply tries it again."


class Player:
    """Plays float32 mono audio and tells how much of it has been heard.

    ``idle_stop_s`` and ``stall_s`` tune :data:`IDLE_STOP_S` and :data:`STALL_S`.

    Attributes:
        sample_rate: frames per second of everything passed to :meth:`enqueue`.
        silent: True while the silent clock stands in for a device.
        muted: sound is off (:meth:`set_muted`); the clock runs on in real time.
        notice: one line for the user about the audio output (what to install, what failed),
            or None when all is well. Both wait for PortAudio to have loaded (in the player's
            own thread, started by the constructor).
        underflows: output underflows PortAudio reported (diagnostics).
        callbacks: audio callbacks run (diagnostics).
        output_delay: seconds from the latest callback to its first frame being heard.
    """

    def __init__(
        self,
        *,
        sample_rate: int = PLAYER_RATE,
        device: str | None = None,
        volume: float = 1.0,
        latency: float | str = DEFAULT_LATENCY,
        idle_stop_s: float = IDLE_STOP_S,
        stall_s: float = STALL_S,
    ) -> None:
        self.sample_rate = sample_rate
        self._idle_stop_s = idle_stop_s
        self._stall_s = stall_s
        self._volume = _clamp_volume(volume)
        self._lock = threading.Lock()  # utterance state; never taken by PortAudio threads
        self._stream_lock = threading.RLock()  # starting/stopping streams; taken before _lock
        self._utt = UtteranceState(sample_rate, time.monotonic(), silent=True)
        self._utt.end()
        self._idle_since: float | None = None
        self._last_callback = 0.0
        self._prepare_pending = False
        self._start_pending = False
        self.muted = False
        self.underflows = 0
        self.callbacks = 0
        self.output_delay = 0.0
        self._wake = threading.Event()
        self._ready = threading.Event()
        self._device_request, self._latency = device, latency
        self._out: DeviceStream | None = None
        self._silent = True
        self._notice: str | None = None
        self._closed = False
        # Loading PortAudio (import sounddevice: Pa_Initialize probes every ALSA device, 200-270
        # ms here) happens in the janitor thread, while the caller builds the rest of the window.
        self._janitor = threading.Thread(target=self._janitor_main, name="audio-janitor")
        self._janitor.daemon = True
        self._janitor.start()

    def _load_backend(self) -> None:
        """The janitor's first job: PortAudio, the device, a stream opened ahead."""
        backend = devices.load_backend()
        self._silent, self._notice = backend.sd is None, backend.notice
        if backend.sd is not None:
            out = DeviceStream(
                sd=backend.sd,
                sample_rate=self.sample_rate,
                latency=self._latency,
                callback=self._callback,
                device=self._device_request,
                on_lost=self._wake.set,
            )
            index, self._notice = out.resolve()
            if index is None:
                self._silent, self._notice = True, self._notice or devices.NO_DEVICE
            self._out = out
            self._prepare_pending = index is not None  # open the stream ahead of the first use

    def _wait_ready(self) -> None:
        self._ready.wait(LOAD_TIMEOUT_S)

    @property
    def silent(self) -> bool:
        """True while the silent clock stands in for a device."""
        self._wait_ready()
        return self._silent

    @property
    def notice(self) -> str | None:
        """One line for the user about the audio output, or None when all is well."""
        self._wait_ready()
        return self._notice

    # -- the contract --------------------------------------------------------------------------

    def begin(self) -> None:
        """Start a new utterance: the clock goes back to 0, queued audio is dropped.

        The stream starts when the utterance's first audio is queued (see the module notes).
        """
        self._wait_ready()
        with self._stream_lock:
            if self._closed:
                return
            self._interrupt()
            with self._lock:
                # Without PortAudio the clock is silent from the start; otherwise it waits for
                # the stream's first callback (or turns silent if the stream cannot start).
                now = time.monotonic()
                self._utt = UtteranceState(
                    self.sample_rate, now, silent=self._out is None, muted=self.muted
                )
                self._idle_since = None
            out = self._out
            if out is not None and (not out.prepared or out.reopen) and not out.running:
                self._prepare_pending = True
        self._wake.set()

    def enqueue(self, samples: FloatArray) -> None:
        """Append audio (mono, at ``sample_rate``) to the current utterance."""
        own = np.array(samples, dtype=np.float32, copy=True).reshape(-1)
        with self._lock:
            self._utt.append(own, time.monotonic())
            audible = len(own) > 0 and not (self._utt.silent or self._utt.stopped)
            self._idle_since = None
        out = self._out
        if audible and out is not None and not (out.running and self._utt.consumed):
            # Starting a PortAudio stream takes 1-50 ms: the janitor thread does it, so the
            # caller (the GUI thread) never waits on the sound server.
            self._start_pending = True
            self._wake.set()

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

        Muting silences at once (a stream buffering more than a few milliseconds is stopped)
        and the utterance carries on, on its silent clock, in real time; later ones begin
        muted. Unmuting hands the current utterance back to the device from the position its
        clock reached (the janitor thread starts the stream). Never waits for PortAudio.
        """
        with self._stream_lock:
            if self._closed or muted == self.muted:
                return
            self.muted = muted
            with self._lock:
                now = time.monotonic()
                cut = muted and self._utt.unheard(now)
                if muted:
                    self._utt.mute(now)
                resume = not muted and self._utt.unmute()
            out = self._out
            if cut and out is not None and out.running and out.output_latency > _STOP_ABORT_S:
                out.pause()
            if resume:
                self._start_pending = True
        self._wake.set()

    @property
    def audible(self) -> bool:
        """Sound of the current utterance reaches a device now (not muted, silent or over)."""
        with self._lock:
            utt = self._utt
            return not (utt.silent or utt.muted or utt.finished(time.monotonic()))

    def _interrupt(self) -> None:
        """Stop the current utterance; drop what the device still holds of it."""
        with self._lock:
            now = time.monotonic()
            cut = self._utt.unheard(now)
            self._utt.stop(now)
        self._start_pending = False
        # The callback writes zeros from its next buffer on; a stream that buffers more than a
        # few milliseconds is stopped so the audio it holds is dropped too (it stays open).
        out = self._out
        if cut and out is not None and out.running and out.output_latency > _STOP_ABORT_S:
            out.pause()

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
        return self._out.output_latency if self._out is not None else 0.0

    @property
    def device_name(self) -> str:
        """The name of the device the last stream opened on ("" when none)."""
        return self._out.device_name if self._out is not None else ""

    @property
    def stream_open(self) -> bool:
        """A PortAudio stream is running (while audio plays and ``idle_stop_s`` after); an
        idle player keeps its stream open but stopped (no callbacks, no CPU)."""
        return self._out is not None and self._out.running

    @property
    def stream_prepared(self) -> bool:
        """A PortAudio stream is open, running or ready to start."""
        return self._out is not None and self._out.prepared

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
        self._wait_ready()
        with self._stream_lock:
            self._device_request = name or None
            out = self._out
            if out is None:
                return
            out.device_request = name or None
            with self._lock:
                busy = self._utt.unheard(time.monotonic())
            out.reopen = True
            if not busy:
                out.discard()
                self._prepare_pending = True
        self._wake.set()

    def close(self) -> None:
        """Stop, close the stream, end the janitor. Safe to call twice."""
        with self._stream_lock:
            if self._closed:
                return
            self._closed = True
            with self._lock:
                self._utt.stop(time.monotonic())
            if self._out is not None:
                self._out.discard()
        self._wake.set()
        self._janitor.join(timeout=2.0)

    @property
    def on_underflow(self) -> int:
        return self.underflows  # the contract's name for it

    # -- the audio callback (PortAudio's thread: no locks, no allocation, no logging) ----------

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        now = time.monotonic()
        self._last_callback = now
        self.callbacks += 1
        if status.output_underflow:
            self.underflows += 1
        delay = time_info.outputBufferDacTime - time_info.currentTime
        if not 0.0 <= delay < 1.0:  # host APIs that report no times give 0 or nonsense
            delay = self.output_latency
        self.output_delay = delay
        self._utt.read_into(outdata[:, 0], self._volume, now + delay)

    # -- janitor: open, start, idle stop, lost device ------------------------------------------

    def _janitor_main(self) -> None:
        try:
            self._load_backend()
        finally:
            self._ready.set()
        self._wake.set()  # the stream to open ahead, or work asked for while loading
        self._janitor_loop()

    def _janitor_loop(self) -> None:
        while True:
            self._wake.wait(_JANITOR_TICK_S if self.stream_open else None)
            self._wake.clear()
            with self._stream_lock:
                if self._closed:
                    return
                out = self._out
                if out is None:
                    continue
                if self._start_pending:
                    self._start_pending = False
                    self._start_for_utterance(out)
                elif self._prepare_pending:
                    self._prepare_pending = False
                    out.prepare()
                self._janitor_tick(out)

    def _start_for_utterance(self, out: DeviceStream) -> None:
        """Start the stream for the audio just queued; carry on silently when it cannot."""
        with self._lock:
            resume = self._utt.resume_pending  # unmuted: on from the silent clock's frame
            fresh = self._utt.consumed == 0 and not self._utt.silent
            if resume:
                self._utt.resume_on_device(time.monotonic())
        if not (fresh or resume) and out.running:
            return
        if out.running:
            # Running for an earlier utterance: its buffer of zeros would delay this one.
            out.pause()
        self._last_callback = time.monotonic()
        started = out.start()
        self._silent, self._notice = out.silent, out.notice
        if not started:
            with self._lock:
                self._utt.switch_to_silent(time.monotonic())

    def _janitor_tick(self, out: DeviceStream) -> None:
        if not out.running:
            return
        now = time.monotonic()
        lost = out.lost
        with self._lock:
            waiting = self._utt.unheard(now)
            stalled = waiting and now - self._last_callback > self._stall_s
            if lost or stalled:
                self._utt.switch_to_silent(now)
        if lost and not waiting:
            log.info("[audio] the idle output stream ended; the next utterance reopens it")
            out.discard()
            return
        if lost or stalled:
            log.warning(
                "[audio] output lost (%s); carrying on silently", "stalled" if stalled else "ended"
            )
            out.discard()
            self._silent, self._notice = True, LOST_NOTICE
            return
        if waiting:
            self._idle_since = None
        elif self._idle_since is None:
            self._idle_since = now
        elif now - self._idle_since >= self._idle_stop_s:
            log.debug("[audio] stopping the idle stream (kept open)")
            out.pause()
            if out.reopen:
                out.discard()
                self._prepare_pending = True
                self._wake.set()


def _clamp_volume(value: float) -> float:
    return min(1.0, max(0.0, float(value)))
