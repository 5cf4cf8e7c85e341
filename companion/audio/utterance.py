# SPDX-License-Identifier: GPL-3.0-or-later
"""One utterance's audio and its clock, shared by the audio callback and the player's callers.

The audio callback (:meth:`UtteranceState.read_into`) only copies from arrays that were
allocated before it ran and moves integer cursors: no new arrays, no locks, no logging. The
producer appends whole arrays to a list (``list.append`` is atomic under the GIL), so audio can
arrive while it plays. Every other method runs under the player's lock, never in the callback.

Two clocks, one interface:

- device clock: each callback that hands frames to the device records an *anchor*: the index of
  its first frame and the monotonic time that frame reaches the speaker (now + output latency).
  The position is interpolated from the latest anchor, never past the frames handed over.
- silent clock (no device, the device was lost, or muted): a virtual device that consumes the
  queued frames in real time and waits, like a real one, when the queue runs dry.

Mute switches an utterance to its silent clock at the position heard (:meth:`mute`); unmute
(:meth:`unmute`, then :meth:`resume_on_device` once a stream runs) hands the device the frames
from the position the silent clock reached, so sound, mouth and subtitles keep one clock.

Positions never go backwards, below 0, or beyond what was queued.
"""

from __future__ import annotations

import numpy as np

from companion.speech.types import FloatArray

_EMPTY: FloatArray = np.zeros(0, dtype=np.float32)
_SNAP_FRAMES = 1e-3


class UtteranceState:
    """Queued audio, cursors and clock of one utterance (from ``begin()`` to the next).

    Attributes:
        rate: frames per second.
        consumed: frames handed to the device so far (written only by the audio callback).
        enqueued: frames queued so far.
        ended: no more audio will be queued.
        stopped: stopped early; the clock is frozen.
        silent: the silent clock runs this utterance (from the moment it switched).
        muted: silent because it is muted (not because the device is missing or lost).
        resume_pending: unmuted; the device takes over once a stream runs.
    """

    __slots__ = (
        "_anchor",
        "_base_frames",
        "_base_t",
        "_device_on_unmute",
        "_frozen",
        "_last",
        "_released",
        "_segments",
        "consumed",
        "ended",
        "enqueued",
        "muted",
        "rate",
        "resume_pending",
        "seg_index",
        "seg_offset",
        "silent",
        "stopped",
    )

    def __init__(self, rate: int, now: float, *, silent: bool, muted: bool = False) -> None:
        self.rate = rate
        self._segments: list[FloatArray] = []
        self._released = 0
        self.seg_index = 0
        self.seg_offset = 0
        self.consumed = 0
        self.enqueued = 0
        self.ended = False
        self.stopped = False
        self.silent = silent or muted
        self.muted = muted
        self.resume_pending = False
        # Unmuting hands the utterance to the device only when a device could play it.
        self._device_on_unmute = not silent
        self._anchor: tuple[int, float] | None = None
        self._base_frames = 0.0
        self._base_t = now
        self._frozen: float | None = None
        self._last = 0.0

    # -- producer side (player lock held) ------------------------------------------------------

    def append(self, samples: FloatArray, now: float) -> None:
        """Queue ``samples`` (the caller's own copy: the callback reads it without a lock)."""
        if self.stopped or self.ended or len(samples) == 0:
            return
        if self.silent:
            self._advance_silent(now)
        self._segments.append(samples)
        self.enqueued += len(samples)
        # Let go of arrays the callback has finished with (it only looks at seg_index onwards).
        done = self.seg_index
        while self._released < done:
            self._segments[self._released] = _EMPTY
            self._released += 1

    def end(self) -> None:
        self.ended = True

    def stop(self, now: float) -> None:
        """Freeze the clock where it is now and drop the queued audio."""
        if self.stopped:
            return
        self._frozen = self.position_frames(now)
        self.stopped = True
        self._segments = []

    def switch_to_silent(self, now: float) -> None:
        """Carry on from the position heard now on the silent clock (the device is gone)."""
        if self.silent or self.stopped:
            return
        position = self.position_frames(now)
        self.silent = True
        self._base_frames = position
        self._base_t = now

    def mute(self, now: float) -> None:
        """Go on silently from the position heard now (sound stops, the clock runs on)."""
        if self.muted:
            return
        self._device_on_unmute = not self.silent
        self.muted = True
        self.resume_pending = False
        self.switch_to_silent(now)

    def unmute(self) -> bool:
        """Sound may come back: True when the device should take over (see
        :meth:`resume_on_device`); False when it stays silent (no device, lost, stopped)."""
        if not self.muted:
            return False
        self.muted = False
        self.resume_pending = self._device_on_unmute and not self.stopped
        return self.resume_pending

    def resume_on_device(self, now: float) -> None:
        """The device plays on from the frame the silent clock reached (a stream runs now).

        The callback reads nothing while ``silent`` is set, so the cursors are moved first and
        ``silent`` cleared last; the clock holds at that frame until the first callback.
        """
        if not self.resume_pending or self.stopped:
            self.resume_pending = False
            return
        self.resume_pending = False
        # Segments before ``seg_index`` may be released already (the device took them): walk
        # from the start of the current one; a position inside a released one starts there.
        start = self.consumed - self.seg_offset
        frame = max(int(self.position_frames(now)), start)
        index, offset = self.seg_index, frame - start
        segments = self._segments
        while index < len(segments) and offset >= len(segments[index]):
            offset -= len(segments[index])
            start += len(segments[index])
            index += 1
        self.seg_index = index
        self.seg_offset = offset if index < len(segments) else 0
        self.consumed = start + self.seg_offset
        self._anchor = None
        self.silent = False

    # -- audio callback side (no lock, no allocation) ------------------------------------------

    def read_into(self, out: FloatArray, volume: float, first_frame_time: float) -> int:
        """Fill ``out`` with the next frames times ``volume``, zeros past the end of the queue.

        ``first_frame_time`` is when ``out[0]`` will be heard (monotonic seconds). Returns the
        number of frames taken from the queue.
        """
        wanted = len(out)
        if self.stopped or self.silent:
            out.fill(0.0)
            return 0
        segments = self._segments
        first = self.consumed
        written = 0
        while written < wanted and self.seg_index < len(segments):
            segment = segments[self.seg_index]
            offset = self.seg_offset
            n = min(len(segment) - offset, wanted - written)
            np.multiply(segment[offset : offset + n], volume, out=out[written : written + n])
            written += n
            offset += n
            if offset >= len(segment):
                self.seg_index += 1
                self.seg_offset = 0
            else:
                self.seg_offset = offset
        if written < wanted:
            out[written:].fill(0.0)
        if written:
            self.consumed = first + written
            self._anchor = (first, first_frame_time)
        return written

    # -- clock (player lock held) --------------------------------------------------------------

    def _silent_frames(self, now: float) -> float:
        elapsed = max(0.0, now - self._base_t)
        return min(float(self.enqueued), self._base_frames + elapsed * self.rate)

    def _advance_silent(self, now: float) -> None:
        # Re-base so a dry spell (nothing queued) does not count as time played.
        self._base_frames = self._silent_frames(now)
        self._base_t = now

    def position_frames(self, now: float) -> float:
        """Frames heard by ``now`` (monotonic seconds); monotonic, within [0, enqueued]."""
        if self._frozen is not None:
            return self._frozen
        if self.silent:
            position = self._silent_frames(now)
        else:
            anchor = self._anchor
            if anchor is None:
                position = 0.0
            else:
                frame, heard_at = anchor
                position = min(frame + (now - heard_at) * self.rate, float(self.consumed))
        position = max(position, self._last, 0.0)
        if position > self.enqueued - _SNAP_FRAMES:  # float rounding must not delay the end
            position = float(self.enqueued)
        self._last = position
        return position

    def finished(self, now: float) -> bool:
        """Stopped, or ended and every queued frame heard."""
        if self.stopped:
            return True
        return self.ended and self.position_frames(now) >= self.enqueued

    def unheard(self, now: float) -> bool:
        """Queued frames remain that the device has not played yet."""
        return not self.stopped and self.position_frames(now) < self.enqueued
