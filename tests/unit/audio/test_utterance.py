# SPDX-License-Identifier: GPL-3.0-or-later
"""The utterance buffer and its two clocks, driven with explicit times (no device)."""

from __future__ import annotations

import weakref

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from pytest import approx

from companion.audio.utterance import UtteranceState
from companion.speech.types import FloatArray

RATE = 1000  # one frame per millisecond keeps the arithmetic readable


def ramp(start: int, n: int) -> FloatArray:
    return (np.arange(start, start + n, dtype=np.float32) / 10_000).astype(np.float32)


def test_read_into_copies_across_pieces_and_pads_with_zeros() -> None:
    u = UtteranceState(RATE, 0.0, silent=False)
    u.append(ramp(0, 30), 0.0)
    u.append(ramp(30, 20), 0.0)
    out = np.full(64, 9.0, dtype=np.float32)
    assert u.read_into(out, 1.0, 0.0) == 50
    np.testing.assert_array_equal(out[:50], ramp(0, 50))
    assert not out[50:].any()
    assert u.consumed == 50
    assert u.read_into(out, 1.0, 0.1) == 0
    assert not out.any()


def test_volume_multiplies_in_place() -> None:
    u = UtteranceState(RATE, 0.0, silent=False)
    u.append(np.ones(10, dtype=np.float32), 0.0)
    out = np.empty(10, dtype=np.float32)
    u.read_into(out, 0.25, 0.0)
    np.testing.assert_allclose(out, 0.25)


@given(
    pieces=st.lists(st.integers(1, 200), min_size=1, max_size=12),
    blocks=st.lists(st.integers(1, 97), min_size=1, max_size=8),
)
def test_pieces_queued_while_playing_play_gaplessly(pieces: list[int], blocks: list[int]) -> None:
    """Audio appended between callbacks comes out in order, with no gap and nothing lost."""
    u = UtteranceState(RATE, 0.0, silent=False)
    produced: list[FloatArray] = []
    played: list[FloatArray] = []
    start = 0
    total = sum(pieces)
    i = 0
    while u.consumed < total:
        if pieces:
            n = pieces.pop(0)
            produced.append(ramp(start, n))
            u.append(produced[-1], 0.0)
            start += n
        out = np.empty(blocks[i % len(blocks)], dtype=np.float32)
        got = u.read_into(out, 1.0, float(i))
        played.append(out[:got].copy())
        i += 1
    assert u.consumed == total
    np.testing.assert_array_equal(np.concatenate(played), np.concatenate(produced))


def test_device_clock_follows_the_latest_anchor_minus_latency() -> None:
    u = UtteranceState(RATE, 0.0, silent=False)
    u.append(np.zeros(100, dtype=np.float32), 0.0)
    assert u.position_frames(0.5) == approx(0.0)  # nothing handed to the device yet
    out = np.empty(40, dtype=np.float32)
    u.read_into(out, 1.0, first_frame_time=1.010)  # heard 10 ms after the callback at t=1.0
    assert u.position_frames(1.005) == approx(0.0)  # never negative
    assert u.position_frames(1.030) == approx(20.0)
    assert u.position_frames(1.100) == approx(40.0)  # never past what the device was given
    u.read_into(out, 1.0, first_frame_time=1.050)
    assert u.position_frames(1.070) == approx(60.0)
    u.read_into(out, 1.0, first_frame_time=1.090)  # the last 20 frames
    assert u.position_frames(5.0) == approx(100.0)  # never past what was queued


def test_device_clock_never_goes_backwards() -> None:
    u = UtteranceState(RATE, 0.0, silent=False)
    u.append(np.zeros(100, dtype=np.float32), 0.0)
    out = np.empty(50, dtype=np.float32)
    u.read_into(out, 1.0, first_frame_time=0.0)
    assert u.position_frames(0.030) == approx(30.0)
    # A later callback whose latency estimate says frame 50 is heard only at t=0.060.
    u.read_into(out, 1.0, first_frame_time=0.060)
    assert u.position_frames(0.031) == approx(30.0)
    assert u.position_frames(0.070) == approx(60.0)


def test_finished_once_the_last_frame_is_heard() -> None:
    u = UtteranceState(RATE, 0.0, silent=False)
    u.append(np.zeros(20, dtype=np.float32), 0.0)
    out = np.empty(32, dtype=np.float32)
    u.read_into(out, 1.0, first_frame_time=0.010)
    assert not u.finished(1.0)  # not ended: more audio may come
    u.end()
    assert not u.finished(0.020)
    assert u.finished(0.030)


def test_stop_freezes_the_clock_and_silences_the_callback() -> None:
    u = UtteranceState(RATE, 0.0, silent=False)
    u.append(np.ones(100, dtype=np.float32), 0.0)
    out = np.empty(40, dtype=np.float32)
    u.read_into(out, 1.0, first_frame_time=0.0)
    u.stop(0.025)
    assert u.finished(0.025)
    assert u.position_frames(9.0) == approx(25.0)
    assert u.read_into(out, 1.0, first_frame_time=0.040) == 0
    assert not out.any()
    assert u.consumed == 40
    u.append(np.ones(10, dtype=np.float32), 0.05)  # ignored after stop
    assert u.enqueued == 100


def test_silent_clock_runs_in_real_time_and_waits_when_the_queue_is_dry() -> None:
    u = UtteranceState(RATE, 10.0, silent=True)
    assert u.position_frames(10.5) == approx(0.0)
    u.append(np.zeros(300, dtype=np.float32), 11.0)  # audio arrives a second after begin()
    assert u.position_frames(11.1) == approx(100.0)
    assert u.position_frames(11.5) == approx(300.0)  # dry: waits at the end of the queue
    u.append(np.zeros(200, dtype=np.float32), 12.0)
    assert u.position_frames(12.05) == approx(350.0)
    u.end()
    assert not u.finished(12.1)
    assert u.finished(12.2)
    out = np.full(8, 1.0, dtype=np.float32)
    assert u.read_into(out, 1.0, 0.0) == 0  # a stale callback plays nothing
    assert not out.any()


def test_switch_to_silent_carries_on_from_the_position_heard() -> None:
    u = UtteranceState(RATE, 0.0, silent=False)
    u.append(np.zeros(1000, dtype=np.float32), 0.0)
    out = np.empty(300, dtype=np.float32)
    u.read_into(out, 1.0, first_frame_time=0.0)
    u.switch_to_silent(0.2)  # the device vanished: 200 frames heard, 100 lost in its buffer
    assert u.silent
    assert u.position_frames(0.2) == approx(200.0)
    assert u.position_frames(0.7) == approx(700.0)
    assert u.read_into(out, 1.0, 0.7) == 0
    u.end()
    assert u.finished(1.0)


def test_pieces_already_played_are_let_go() -> None:
    u = UtteranceState(RATE, 0.0, silent=False)
    u.append(np.ones(10, dtype=np.float32), 0.0)
    u.append(np.ones(10, dtype=np.float32), 0.0)
    first, second = (weakref.ref(piece) for piece in u._segments)
    out = np.empty(10, dtype=np.float32)
    u.read_into(out, 1.0, 0.0)
    u.append(np.ones(10, dtype=np.float32), 0.0)  # the producer lets go of played pieces
    assert first() is None
    assert second() is not None


# -- mute ----------------------------------------------------------------------------------------


def test_mute_goes_on_silently_and_unmute_hands_the_device_the_clocks_frame() -> None:
    u = UtteranceState(RATE, 0.0, silent=False)
    u.append(ramp(0, 300), 0.0)
    u.append(ramp(300, 700), 0.0)
    out = np.empty(100, dtype=np.float32)
    assert u.read_into(out, 1.0, 0.0) == 100  # frames 0..99 heard from t=0
    u.mute(0.05)  # 50 frames heard: sound stops, the clock runs on in real time
    assert u.muted and u.silent
    assert u.read_into(out, 1.0, 0.06) == 0 and not out.any()
    assert u.position_frames(0.45) == approx(450.0)
    assert u.unmute() and u.resume_pending
    u.resume_on_device(0.45)
    assert not u.silent and u.consumed == 450 and u.seg_index == 1
    assert u.position_frames(0.46) == approx(450.0)  # holds until the device's first buffer
    assert u.read_into(out, 1.0, 0.47) == 100
    np.testing.assert_array_equal(out, ramp(450, 100))  # from the frame the clock reached
    assert u.position_frames(0.52) == approx(500.0)


def test_muted_from_the_start_never_reads_and_finishes_on_time() -> None:
    u = UtteranceState(RATE, 0.0, silent=False, muted=True)
    u.append(ramp(0, 200), 0.0)
    u.end()
    out = np.empty(64, dtype=np.float32)
    assert u.read_into(out, 1.0, 0.0) == 0
    assert not u.finished(0.1) and u.finished(0.2)
    assert u.consumed == 0


def test_unmute_after_the_device_was_lost_stays_silent() -> None:
    u = UtteranceState(RATE, 0.0, silent=False)
    u.append(ramp(0, 500), 0.0)
    u.switch_to_silent(0.0)  # the device went away
    u.mute(0.1)
    assert not u.unmute()  # no device to hand it back to
    assert u.silent and not u.resume_pending


def test_unmute_without_a_device_stays_silent() -> None:
    u = UtteranceState(RATE, 0.0, silent=True, muted=True)
    u.append(ramp(0, 100), 0.0)
    assert not u.unmute()
    assert u.silent
