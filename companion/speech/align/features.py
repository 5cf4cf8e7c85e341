# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: RUF002, RUF003 - typographic signs in the docs
"""10 ms frames of a signal: MFCCs, loudness and silence, as every aligner step sees them.

Frame ``i`` is centred on ``i * 10`` ms (25 ms Hann windows at 16 kHz); the cepstra are
normalised per utterance where they are compared, so the speaker matters less.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from companion.speech.types import FloatArray

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

HOP_MS = 10.0
RATE = 16000
_HOP = 160
_WIN = 400
_NFFT = 512
_N_MEL = 40
_N_CEP = 13
#: Frames more than this far below the loud frames (95th percentile) are silence.
SILENCE_DB = 40.0
#: Frames below this level (dB full scale, about −60 dBFS RMS) are silence in any case.
FLOOR_DBFS = -60.0
#: A quiet stretch at least this long inside speech is a pause (the mouth closes).
PAUSE_MS = 150.0


def _mel_filters() -> F64:
    def hz_to_mel(f: F64) -> F64:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m: F64) -> F64:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = mel_to_hz(
        np.linspace(hz_to_mel(np.array(60.0)), hz_to_mel(np.array(7600.0)), _N_MEL + 2)
    )
    bins = np.fft.rfftfreq(_NFFT, 1.0 / RATE)
    bank = np.zeros((_N_MEL, len(bins)))
    for i in range(_N_MEL):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        bank[i] = np.clip(np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)), 0.0, None)
    return bank


_MEL = _mel_filters()
_DCT = np.cos(np.pi / _N_MEL * (np.arange(_N_MEL)[None, :] + 0.5) * np.arange(_N_CEP)[:, None])
_HANN = np.hanning(_WIN)


@dataclass(frozen=True)
class Features:
    """Per-10 ms frames of one signal; frame ``i`` is centred on ``i * 10`` ms.

    Attributes:
        mfcc: cepstra c0..c12 of a 40-band log-mel spectrum (frames × 13).
        energy: frame loudness in dB relative to the loud frames (95th percentile = 0).
        quiet: frames that are silence: far below the loud frames, or below
            ``FLOOR_DBFS`` whatever the rest (an all-silent signal).
    """

    mfcc: F64
    energy: F64
    quiet: Mask

    def __len__(self) -> int:
        return len(self.energy)


def at_16k(samples: FloatArray, sample_rate: int) -> F64:
    """``samples`` as float64 at :data:`RATE` (16 kHz), resampled with soxr if needed."""
    x = np.asarray(samples, dtype=np.float64)
    if sample_rate != RATE and len(x):
        import soxr

        x = np.asarray(soxr.resample(x, sample_rate, RATE), dtype=np.float64)
    return x


def features(samples: FloatArray, sample_rate: int) -> Features:
    """MFCCs and loudness per 10 ms (25 ms Hann windows at 16 kHz)."""
    return features_16k(at_16k(samples, sample_rate))


def features_16k(x: F64) -> Features:
    """:func:`features` of samples already at 16 kHz."""
    n = max(1, round(len(x) / _HOP))
    padded = np.pad(x, (_WIN // 2, _WIN // 2 + 2 * _HOP))
    frames = padded[np.arange(_WIN)[None, :] + _HOP * np.arange(n)[:, None]] * _HANN
    power = np.abs(np.fft.rfft(frames, _NFFT)) ** 2
    mfcc = np.log(power @ _MEL.T + 1e-9) @ _DCT.T
    level = 10.0 * np.log10(np.mean(frames * frames, axis=1) + 1e-10)
    energy = level - float(np.percentile(level, 95))
    return Features(mfcc, energy, (energy < -SILENCE_DB) | (level < FLOOR_DBFS))


def normalise(m: F64) -> F64:
    out: F64 = (m - m.mean(axis=0)) / (m.std(axis=0) + 1e-6)
    return out


def deltas(m: F64) -> F64:
    p = np.pad(m, ((2, 2), (0, 0)), mode="edge")
    return (2.0 * (p[4:] - p[:-4]) + (p[3:-1] - p[1:-3])) / 10.0


def warp_vectors(f: Features) -> F64:
    """What DTW compares: the spectral envelope (c1..c8) and its motion, and loudness."""
    c = f.mfcc[:, 1:9]
    loud = (f.energy / 10.0)[:, None]
    return np.hstack([normalise(c), 0.5 * normalise(deltas(c)), loud])


def model_vectors(f: Features) -> F64:
    """What the per-utterance phoneme models see: c1..c12, deltas, loudness and its delta."""
    c = f.mfcc[:, 1:]
    loud = (f.energy / 10.0)[:, None]
    return np.hstack([normalise(c), 0.5 * normalise(deltas(c)), loud, deltas(loud)])


def speech_region(quiet: Mask) -> tuple[int, int]:
    """First and one-past-last frame of speech: the outer runs of 3 frames not quiet."""
    loud = (~quiet).astype(np.int64)
    if len(loud) < 3:
        return 0, len(loud)
    runs = np.flatnonzero(np.convolve(loud, np.ones(3, dtype=np.int64), "valid") == 3)
    if len(runs) == 0:
        idx = np.flatnonzero(loud)
        return (int(idx[0]), int(idx[-1]) + 1) if len(idx) else (0, 0)
    return int(runs[0]), int(runs[-1]) + 3


def runs(mask: Mask, *, min_len: int) -> list[tuple[int, int]]:
    """``[start, end)`` of the runs of True at least ``min_len`` long."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [
        (int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True) if e - s >= min_len
    ]

