# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: RUF001, RUF002, RUF003 - IPA letters and typographic signs are this file's data
"""Viseme cues for speech that came without any: the text's phonemes aligned to the audio.

For audio with neither backend visemes nor engine phoneme timings (an OpenAI-style
backend sending plain audio), :func:`align_text_to_audio` works in three steps:

1. **Reference.** espeak-ng speaks the same text; its phoneme events say exactly when each
   phoneme of *its* audio sounds.
2. **Warp.** Both signals become 10 ms frames of MFCCs (numpy, per-utterance normalised)
   plus loudness; dynamic time warping between their speech regions maps espeak-ng's
   phoneme boundaries onto the target audio.
3. **Refine on the target.** A Gaussian per phoneme (backed off to its broad class) is
   fitted on the target's own frames under that first segmentation, and a segmental
   Viterbi pass (durations around espeak-ng's, boundaries within a window of the warp)
   re-places every boundary. Then the target's loudness has the last word: silence at the
   edges and long quiet stretches close the mouth.

Where the text gives nothing (no text, nothing pronounceable, espeak-ng missing),
:func:`estimate_from_audio` classifies each 10 ms frame by itself (loudness, spectral
shape, MFCC-based vowel classes learnt from espeak-ng's voice) with look-ahead smoothing.

:func:`cues_from_char_alignment` uses a backend's character alignment instead: each
word's phonemes (espeak-ng, in context) spread over its characters' times.

Everything runs in the speech worker before playback, so it may look ahead. Cost is
linear in the audio length apart from the banded DTW: a 20 s reply takes about 0.3 s
of one core (``benchmarks/lipsync_eval.py`` measures it).
"""

from __future__ import annotations

import difflib
import functools
import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from companion.speech.espeak_engine import PAUSE, EspeakEngine, EspeakUnavailable
from companion.speech.types import CharAlignment, FloatArray, PhonemeEvent, VisemeCue
from companion.speech.visemes import cues_from_phonemes, ipa_to_viseme, merge_runs

log = logging.getLogger("companion.speech")

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

HOP_MS = 10.0
_RATE = 16000
_HOP = 160
_WIN = 400
_NFFT = 512
_N_MEL = 40
_N_CEP = 13
#: Frames more than this far below the loud frames (95th percentile) are silence.
_SILENCE_DB = 40.0
#: Frames below this level (dB full scale, about −60 dBFS RMS) are silence in any case.
_FLOOR_DBFS = -60.0
#: A quiet stretch at least this long inside speech is a pause (the mouth closes).
_PAUSE_MS = 150.0
#: How far (frames) the segmental pass may move a boundary away from the warp's.
_WINDOW = 12
#: espeak-ng reports a phoneme this long before it sounds (measured on its own audio:
#: vowels after a pause get loud about 5 ms after their event).
ESPEAK_LEAD_MS = 5.0
#: Spread (natural-log standard deviation) of the duration prior around espeak-ng's
#: durations scaled to the target's pace; pauses vary twice as much.
_DURATION_SPREAD = 0.5
#: Gaps between words shorter than this (character alignments) are no pause.
_BRIDGE_MS = 80.0
#: Shortest closure shown, so a bilabial is seen at 30-60 fps.
_MIN_CLOSURE_MS = 40.0


# --- features ----------------------------------------------------------------------------


def _mel_filters() -> F64:
    def hz_to_mel(f: F64) -> F64:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m: F64) -> F64:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = mel_to_hz(
        np.linspace(hz_to_mel(np.array(60.0)), hz_to_mel(np.array(7600.0)), _N_MEL + 2)
    )
    bins = np.fft.rfftfreq(_NFFT, 1.0 / _RATE)
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
            ``_FLOOR_DBFS`` whatever the rest (an all-silent signal).
    """

    mfcc: F64
    energy: F64
    quiet: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.energy)


def features(samples: FloatArray, sample_rate: int) -> Features:
    """MFCCs and loudness per 10 ms (25 ms Hann windows at 16 kHz)."""
    x = np.asarray(samples, dtype=np.float64)
    if sample_rate != _RATE and len(x):
        import soxr

        x = np.asarray(soxr.resample(x, sample_rate, _RATE), dtype=np.float64)
    n = max(1, round(len(x) / _HOP))
    padded = np.pad(x, (_WIN // 2, _WIN // 2 + 2 * _HOP))
    frames = padded[np.arange(_WIN)[None, :] + _HOP * np.arange(n)[:, None]] * _HANN
    power = np.abs(np.fft.rfft(frames, _NFFT)) ** 2
    mfcc = np.log(power @ _MEL.T + 1e-9) @ _DCT.T
    level = 10.0 * np.log10(np.mean(frames * frames, axis=1) + 1e-10)
    energy = level - float(np.percentile(level, 95))
    return Features(mfcc, energy, (energy < -_SILENCE_DB) | (level < _FLOOR_DBFS))


def _normalise(m: F64) -> F64:
    out: F64 = (m - m.mean(axis=0)) / (m.std(axis=0) + 1e-6)
    return out


def _deltas(m: F64) -> F64:
    p = np.pad(m, ((2, 2), (0, 0)), mode="edge")
    return (2.0 * (p[4:] - p[:-4]) + (p[3:-1] - p[1:-3])) / 10.0


def _warp_vectors(f: Features) -> F64:
    """What DTW compares: the spectral envelope (c1..c8) and its motion, and loudness."""
    c = f.mfcc[:, 1:9]
    loud = (f.energy / 10.0)[:, None]
    return np.hstack([_normalise(c), 0.5 * _normalise(_deltas(c)), loud])


def _model_vectors(f: Features) -> F64:
    """What the per-utterance phoneme models see: c1..c12, deltas, loudness and its delta."""
    c = f.mfcc[:, 1:]
    loud = (f.energy / 10.0)[:, None]
    return np.hstack([_normalise(c), 0.5 * _normalise(_deltas(c)), loud, _deltas(loud)])


def speech_region(quiet: npt.NDArray[np.bool_]) -> tuple[int, int]:
    """First and one-past-last frame of speech: the outer runs of 3 frames not quiet."""
    loud = (~quiet).astype(np.int64)
    if len(loud) < 3:
        return 0, len(loud)
    runs = np.flatnonzero(np.convolve(loud, np.ones(3, dtype=np.int64), "valid") == 3)
    if len(runs) == 0:
        idx = np.flatnonzero(loud)
        return (int(idx[0]), int(idx[-1]) + 1) if len(idx) else (0, 0)
    return int(runs[0]), int(runs[-1]) + 3


# --- dynamic time warping ----------------------------------------------------------------


def dtw_path(a: F64, b: F64) -> tuple[I64, I64]:
    """Cheapest monotone path between frame sequences ``a`` and ``b`` (Euclidean cost).

    Steps (1,0), (0,1), (1,1); a Sakoe-Chiba band around the straight line keeps it
    O(n·w). Each row is one vectorised pass: along a row the horizontal recurrence
    ``D[j] = min(T[j], D[j-1] + c[j])`` is a running minimum of ``T - S`` plus ``S``
    with ``S`` the prefix sum of the row's costs.
    """
    n, m = len(a), len(b)
    width = max(60, int(0.3 * max(n, m)))
    centre = (np.arange(n) * (m - 1) / max(1, n - 1)).astype(np.int64)
    lo = np.clip(centre - width, 0, m - 1)
    hi = np.clip(centre + width + 1, 1, m)
    lo[0], hi[-1] = 0, m
    hi = np.maximum.accumulate(hi)
    for i in range(1, n):  # each row starts inside the one before: the path never breaks
        lo[i] = min(lo[i], hi[i - 1] - 1)
    lo = np.minimum.accumulate(lo[::-1])[::-1]
    b2 = np.sum(b * b, axis=1)
    moves: list[npt.NDArray[np.int8]] = []  # per cell: 0 diagonal, 1 up, 2 left
    prev = np.empty(0)
    for i in range(n):
        row_lo, row_hi = int(lo[i]), int(hi[i])
        cost = np.sqrt(
            np.maximum(
                0.0, np.sum(a[i] * a[i]) + b2[row_lo:row_hi] - 2.0 * (b[row_lo:row_hi] @ a[i])
            )
        )
        s = np.cumsum(cost)
        if i == 0:
            row = s
            move = np.full(len(cost), 2, dtype=np.int8)
        else:
            p_lo, p_hi = int(lo[i - 1]), int(hi[i - 1])
            up = np.full(len(cost), np.inf)
            diag = np.full(len(cost), np.inf)
            u0, u1 = max(row_lo, p_lo), min(row_hi, p_hi)
            up[u0 - row_lo : u1 - row_lo] = prev[u0 - p_lo : u1 - p_lo]
            d0, d1 = max(row_lo, p_lo + 1), min(row_hi, p_hi + 1)
            diag[d0 - row_lo : d1 - row_lo] = prev[d0 - 1 - p_lo : d1 - 1 - p_lo]
            t = np.minimum(up, diag) + cost
            run = np.minimum.accumulate(t - s)
            row = s + run
            move = np.where(diag <= up, 0, 1).astype(np.int8)
            move[(t - s) > run] = 2
        moves.append(move)
        prev = row
    # Backtrack from the end, following the recorded moves.
    i, j = n - 1, m - 1
    path_i, path_j = [i], [j]
    while i > 0 or j > 0:
        step = int(moves[i][j - int(lo[i])]) if i > 0 else 2
        if step == 0:
            i, j = i - 1, j - 1
        elif step == 1:
            i -= 1
        else:
            j -= 1
        path_i.append(i)
        path_j.append(j)
    return np.array(path_i[::-1], dtype=np.int64), np.array(path_j[::-1], dtype=np.int64)


# --- phoneme units -----------------------------------------------------------------------

_STRESS = set("ˈˌ")
_BROAD: dict[str, str] = {}
for _chars, _cls in (
    ("aɑæɐʌɶ", "V-open"),
    ("eɛəɜɘɞ", "V-mid"),
    ("iɪyʏᵻɨ", "V-front"),
    ("oɔɒøœɤ", "V-round"),
    ("uʊɯʉ", "V-close-round"),
    ("wjɰ", "glide"),
    ("mnŋɲɱɴ", "nasal"),
    ("bdgɡɖɟ", "stop-voiced"),
    ("ptkʔcqʈ", "stop"),
    ("ɾ", "flap"),
    ("vðzʒʝɣ", "fric-voiced"),
    ("fθsʃçxhɦ", "fric"),
    ("lɹrɚɝɫɻʎ", "liquid"),
):
    for _c in _chars:
        _BROAD[_c] = _cls


def _broad(label: str) -> str:
    if label == PAUSE:
        return PAUSE
    return _BROAD.get(label[:1], "other")


@dataclass(frozen=True)
class _Unit:
    """One mouth-shape-sized piece of a phoneme: ``label`` with modifiers stripped."""

    label: str
    ipa: str
    start_ms: float
    end_ms: float


def _units(events: Sequence[PhonemeEvent]) -> list[_Unit]:
    """espeak-ng phonemes → units: one per mouth shape (``aɪ`` → ``a``, ``ɪ``).

    A phoneme with several shapes is split evenly at first; the refinement moves the
    split. Stress marks are dropped; length marks stay with their vowel.
    """
    out: list[_Unit] = []
    for ev in events:
        if ev.phoneme == PAUSE:
            out.append(_Unit(PAUSE, PAUSE, ev.start_ms, ev.end_ms))
            continue
        parts: list[str] = []
        last_shape: str | None = None
        for ch in unicodedata.normalize("NFD", ev.phoneme):
            if ch in _STRESS:
                continue
            shape = ipa_to_viseme(ch)
            if shape is None or unicodedata.combining(ch):
                if parts:
                    parts[-1] += ch
                continue
            if parts and shape == last_shape:
                parts[-1] += ch
            else:
                parts.append(ch)
            last_shape = shape
        if not parts:
            continue
        step = (ev.end_ms - ev.start_ms) / len(parts)
        for k, part in enumerate(parts):
            label = "".join(c for c in part if not unicodedata.combining(c) and c not in "ːˑ")
            out.append(
                _Unit(label or part, part, ev.start_ms + k * step, ev.start_ms + (k + 1) * step)
            )
    return out


# --- segmental refinement ----------------------------------------------------------------


def _fit_models(
    x: F64, bounds: I64, labels: Sequence[str], *, tau: float = 15.0
) -> dict[str, tuple[F64, F64]]:
    """Diagonal Gaussians per label, MAP-smoothed toward the broad class, then the utterance."""
    dim = x.shape[1]
    g_mean = x.mean(axis=0)
    g_var = x.var(axis=0) + 1e-3
    stats: dict[str, list[F64]] = {}
    for k, label in enumerate(labels):
        seg = x[bounds[k] : bounds[k + 1]]
        for key in (label, "#" + _broad(label)):
            s = stats.setdefault(key, [np.zeros(1), np.zeros(dim), np.zeros(dim)])
            s[0] += len(seg)
            s[1] += seg.sum(axis=0)
            s[2] += (seg * seg).sum(axis=0)
    models: dict[str, tuple[F64, F64]] = {}
    for label in set(labels):
        nb, sb, qb = stats["#" + _broad(label)]
        mb = (sb + tau * g_mean) / (nb + tau)
        vb = (qb + tau * (g_var + g_mean**2)) / (nb + tau) - mb**2
        nl, sl, ql = stats[label]
        ml = (sl + tau * mb) / (nl + tau)
        vl = (ql + tau * (vb + mb**2)) / (nl + tau) - ml**2
        models[label] = (ml, np.maximum(vl, 0.05 * g_var))
    return models


def _refine(x: F64, bounds: I64, units: Sequence[_Unit], ref_ms: F64) -> I64:
    """Re-place the unit boundaries on the target frames ``x`` (segmental Viterbi).

    Unit ``k`` spans frames ``[bounds[k], bounds[k+1])``; ``bounds[0] = 0`` and
    ``bounds[-1] = len(x)`` stay. Each inner boundary may move ``_WINDOW`` frames; a
    unit's score is its frames' log-likelihood under its model plus a log-normal
    duration prior centred on espeak-ng's duration scaled to the target's pace.
    """
    n_units, n_frames = len(units), len(x)
    if n_units < 2 or n_frames < n_units:
        return bounds
    labels = [u.label for u in units]
    models = _fit_models(x, bounds, labels)
    scale = n_frames / max(1e-9, float(ref_ms.sum()) / HOP_MS)
    expected = np.maximum(1.0, ref_ms / HOP_MS * scale)
    sigma = np.array([2.0 * _DURATION_SPREAD if lb == PAUSE else _DURATION_SPREAD for lb in labels])
    temper = 4.0 / x.shape[1]
    windows: list[I64] = [np.array([0], dtype=np.int64)]
    for k in range(1, n_units):
        lo = max(k, int(bounds[k]) - _WINDOW)
        hi = min(n_frames - (n_units - k), int(bounds[k]) + _WINDOW)
        windows.append(np.arange(lo, max(lo, hi) + 1, dtype=np.int64))
    windows.append(np.array([n_frames], dtype=np.int64))
    score = np.zeros(1)
    back: list[I64] = []
    for k in range(n_units):
        starts, ends = windows[k], windows[k + 1]
        f_lo, f_hi = int(starts[0]), int(ends[-1])
        mean, var = models[labels[k]]
        seg = x[f_lo:f_hi]
        ll = -0.5 * np.sum((seg - mean) ** 2 / var + np.log(var), axis=1) * temper
        cum = np.concatenate([[0.0], np.cumsum(ll)])
        dur = ends[:, None] - starts[None, :]
        with np.errstate(divide="ignore"):
            log_d = np.log(np.maximum(dur, 1))
        total = (
            score[None, :]
            + cum[ends[:, None] - f_lo]
            - cum[starts[None, :] - f_lo]
            - 0.5 * ((log_d - np.log(expected[k])) / sigma[k]) ** 2
        )
        total = np.where(dur >= 1, total, -np.inf)
        best = np.argmax(total, axis=1)
        score = total[np.arange(len(ends)), best]
        back.append(best.astype(np.int64))
    if not np.isfinite(score[0]):
        return bounds
    out = np.empty(n_units + 1, dtype=np.int64)
    out[n_units] = n_frames
    idx = 0
    for k in range(n_units - 1, -1, -1):
        idx = int(back[k][idx])
        out[k] = windows[k][idx]
    return out


# --- cues --------------------------------------------------------------------------------


def _finish(events: Sequence[PhonemeEvent], feats: Features, duration_ms: float) -> list[VisemeCue]:
    """Phoneme events on the target → viseme cues, with the target's loudness applied.

    Long quiet stretches close the mouth whatever the text said; closures last long
    enough to be seen; louder vowels open wider (the cue weight).
    """
    cues = [c for c in cues_from_phonemes(events) if c.viseme != "sil"]
    pauses = _runs(feats.quiet, min_len=int(_PAUSE_MS / HOP_MS))
    out: list[VisemeCue] = []
    for cue in cues:
        pieces = [(max(0.0, cue.start_ms), min(cue.end_ms, duration_ms))]
        for p_start, p_end in pauses:
            s_ms, e_ms = p_start * HOP_MS, p_end * HOP_MS
            nxt: list[tuple[float, float]] = []
            for a, b in pieces:
                if e_ms <= a or s_ms >= b:
                    nxt.append((a, b))
                    continue
                if a < s_ms:
                    nxt.append((a, s_ms))
                if e_ms < b:
                    nxt.append((e_ms, b))
            pieces = nxt
        for a, b in pieces:
            if b - a < 1.0:
                continue
            weight = 1.0
            if cue.viseme in ("aa", "E", "I", "O", "U"):
                lo, hi = int(a / HOP_MS), max(int(a / HOP_MS) + 1, int(b / HOP_MS))
                level = float(np.mean(feats.energy[lo:hi])) if hi <= len(feats) else 0.0
                weight = round(float(np.clip(1.0 + level / 30.0, 0.55, 1.0)), 2)
            out.append(VisemeCue(a, b, cue.viseme, weight))
    return _visible_closures(merge_runs(out), duration_ms)


def _runs(mask: npt.NDArray[np.bool_], *, min_len: int) -> list[tuple[int, int]]:
    """``[start, end)`` of the runs of True at least ``min_len`` long."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [
        (int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True) if e - s >= min_len
    ]


def _visible_closures(cues: list[VisemeCue], end_ms: float) -> list[VisemeCue]:
    """Stretch bilabial closures shorter than ``_MIN_CLOSURE_MS`` into their neighbours.

    Nothing moves before 0 or past ``end_ms`` (the end of the audio).
    """
    out = list(cues)
    for k, cue in enumerate(out):
        if cue.viseme != "PP" or cue.end_ms - cue.start_ms >= _MIN_CLOSURE_MS:
            continue
        need = (_MIN_CLOSURE_MS - (cue.end_ms - cue.start_ms)) / 2.0
        start, end = cue.start_ms - need, cue.end_ms + need
        if k > 0 and out[k - 1].end_ms > start:
            prev = out[k - 1]
            start = max(start, prev.start_ms + (prev.end_ms - prev.start_ms) / 2.0)
            out[k - 1] = VisemeCue(prev.start_ms, start, prev.viseme, prev.weight)
        if k + 1 < len(out) and out[k + 1].start_ms < end:
            nxt = out[k + 1]
            end = min(end, nxt.end_ms - (nxt.end_ms - nxt.start_ms) / 2.0)
            out[k + 1] = VisemeCue(end, nxt.end_ms, nxt.viseme, nxt.weight)
        out[k] = VisemeCue(
            max(0.0, start), min(end, max(end_ms, cue.end_ms)), cue.viseme, cue.weight
        )
    return out


# --- audio only --------------------------------------------------------------------------

#: What espeak-ng reads to teach the audio-only classifier the five mouth classes. Written
#: for this purpose (no overlap with the evaluation corpus): every English vowel, each
#: bilabial in several contexts, pauses.
_CALIBRATION = (
    "Father saw a large heart on the cart, and Bob stopped by the pond. "
    "We see three green leaves, she keeps the key, and Ted met ten men at the end. "
    "Who knew the blue moon would move so soon? Look, a good book, full of wool. "
    "Go home, Joe, the old boat floats. Paul bought all the tall straw. "
    "Mamma baked a big apple pie, papa brought buns. Maybe Mabel needs a map. "
    "Time to fly high in the sky; I might try. A cat sat flat at the back. "
    "Fine vines fill five vases, very fast. Think of this, thank them. "
    "Nobody knew. Sing a long song, ring the bell, sell the shells."
)
_AUDIO_CLASSES: tuple[str, ...] = ("closed", "open", "wide", "round", "cons")
#: The viseme shown for each class (a consonant shows a neutral half-open mouth).
_CLASS_VISEME = {"closed": "PP", "open": "aa", "wide": "E", "round": "O", "cons": "DD"}
_VISEME_CLASS = {
    "sil": "closed", "PP": "closed", "aa": "open", "E": "wide", "I": "wide",
    "O": "round", "U": "round",
}  # fmt: skip
#: Penalty (in log-likelihood units per frame) for changing class: smooths 10 ms flicker.
_SWITCH = 6.0


def _frame_vectors(f: Features) -> F64:
    c = f.mfcc[:, 1:]
    loud = (f.energy / 10.0)[:, None]
    return np.hstack([_normalise(c), 0.5 * _normalise(_deltas(c)), loud])


@functools.lru_cache(maxsize=4)
def _class_models(engine: EspeakEngine) -> tuple[F64, F64]:
    """Per-class diagonal Gaussians (means, variances) learnt from espeak-ng's voice."""
    vectors: list[F64] = []
    labels: list[npt.NDArray[np.int64]] = []
    for speed in (0.8, 1.0, 1.3):
        samples, rate, events = engine.phonemes_with_times(_CALIBRATION, speed=speed)
        feats = features(samples, rate)
        x = _frame_vectors(feats)
        y = np.full(len(x), -1, dtype=np.int64)
        for cue in cues_from_phonemes(events):
            cls = _VISEME_CLASS.get(cue.viseme, "cons")
            lo = int(np.ceil(cue.start_ms / HOP_MS))
            hi = int(np.ceil(cue.end_ms / HOP_MS))
            y[lo:hi] = _AUDIO_CLASSES.index(cls)
        y[feats.quiet] = 0
        vectors.append(x)
        labels.append(y)
    x_all = np.vstack(vectors)
    y_all = np.concatenate(labels)
    means = np.zeros((len(_AUDIO_CLASSES), x_all.shape[1]))
    variances = np.ones_like(means)
    floor = 0.05 * x_all.var(axis=0)
    for k in range(len(_AUDIO_CLASSES)):
        sel = x_all[y_all == k]
        if len(sel) >= 2:
            means[k] = sel.mean(axis=0)
            variances[k] = np.maximum(sel.var(axis=0), floor)
    return means, variances


def _viterbi(loglik: F64, switch: float) -> I64:
    """Best class path through per-frame log-likelihoods with a fixed switching penalty."""
    n, k = loglik.shape
    score = loglik[0].copy()
    back = np.zeros((n, k), dtype=np.int64)
    for t in range(1, n):
        stay = score
        best_prev = int(np.argmax(score))
        move = score[best_prev] - switch
        take_move = move > stay
        back[t] = np.where(take_move, best_prev, np.arange(k))
        score = np.where(take_move, move, stay) + loglik[t]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def estimate_from_audio(
    samples: FloatArray,
    sample_rate: int,
    *,
    feats: Features | None = None,
    engine: EspeakEngine | None = None,
) -> list[VisemeCue]:
    """Audio-only cues: each 10 ms frame classed closed / open / wide / round / consonant.

    Loudness decides silence; within speech, Gaussian class models learnt from espeak-ng
    (on per-utterance normalised MFCCs, so the speaker matters less) score each frame and
    a Viterbi pass with a switching penalty smooths the result (it looks ahead). Without
    espeak-ng, loud frames open the mouth and quiet ones close it.
    """
    duration_ms = 1000.0 * len(samples) / sample_rate if sample_rate > 0 else 0.0
    if duration_ms < 3 * HOP_MS:
        return []
    if feats is None:
        feats = features(samples, sample_rate)
    quiet = feats.quiet
    if bool(np.all(quiet)):
        return []
    try:
        means, variances = _class_models(engine or _default_engine())
    except EspeakUnavailable:
        labels = np.where(quiet, 0, np.where(feats.energy > -12.0, 1, 4))
    else:
        x = _frame_vectors(feats)
        loglik = -0.5 * np.sum(
            (x[:, None, :] - means[None]) ** 2 / variances[None] + np.log(variances[None]),
            axis=2,
        )
        loglik *= 4.0 / x.shape[1]
        loglik[quiet, 0] += 50.0  # silence is closed
        labels = _viterbi(loglik, _SWITCH * 4.0 / x.shape[1])
    events: list[PhonemeEvent] = []
    k = 0
    while k < len(labels):
        j = k
        while j < len(labels) and labels[j] == labels[k]:
            j += 1
        cls = _AUDIO_CLASSES[int(labels[k])]
        s_ms, e_ms = max(0.0, (k - 0.5) * HOP_MS), min(duration_ms, (j - 0.5) * HOP_MS)
        if cls == "closed":
            phoneme = PAUSE if bool(np.all(quiet[k:j])) else "m"
        else:
            phoneme = {"open": "a", "wide": "ɛ", "round": "o", "cons": "d"}[cls]
        if e_ms > s_ms:
            events.append(PhonemeEvent(s_ms, e_ms, phoneme))
        k = j
    return _finish(events, feats, duration_ms)


# --- entry points ------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _default_engine() -> EspeakEngine:
    return EspeakEngine(sample_rate=22050)


def align_text_to_audio(
    text: str,
    samples: FloatArray,
    sample_rate: int,
    *,
    engine: EspeakEngine | None = None,
) -> list[VisemeCue]:
    """Viseme cues for ``samples`` speaking ``text`` (see the module docstring).

    Falls back to :func:`estimate_from_audio` when the text gives nothing to align.
    """
    duration_ms = 1000.0 * len(samples) / sample_rate if sample_rate > 0 else 0.0
    if duration_ms < 3 * HOP_MS:
        return []
    feats = features(samples, sample_rate)
    t0, t1 = speech_region(feats.quiet)
    if t1 - t0 < 3:
        return []  # silence: the mouth stays closed
    if not text.strip():
        return estimate_from_audio(samples, sample_rate, feats=feats, engine=engine)
    try:
        ref_samples, ref_rate, events = (engine or _default_engine()).phonemes_with_times(text)
    except EspeakUnavailable as exc:
        log.info("[align] espeak-ng unavailable (%s): audio-only estimate", type(exc).__name__)
        return estimate_from_audio(samples, sample_rate, feats=feats, engine=engine)
    units = _units(events)
    while units and units[0].label == PAUSE:
        units.pop(0)
    while units and units[-1].label == PAUSE:
        units.pop()
    ref = features(ref_samples, ref_rate)
    r0, r1 = speech_region(ref.quiet)
    if not units or r1 - r0 < 3:
        return estimate_from_audio(samples, sample_rate, feats=feats, engine=engine)

    # Warp espeak-ng's speech region onto the target's.
    pi, pj = dtw_path(_warp_vectors(ref)[r0:r1], _warp_vectors(feats)[t0:t1])
    n_ref = r1 - r0
    sums = np.zeros(n_ref)
    counts = np.zeros(n_ref)
    np.add.at(sums, pi, pj.astype(np.float64))
    np.add.at(counts, pi, 1.0)
    mapped = sums / np.maximum(counts, 1.0)

    def warp(ms: float) -> float:
        f = ms / HOP_MS - r0
        k = int(np.clip(np.floor(f), 0, n_ref - 1))
        nxt = mapped[min(k + 1, n_ref - 1)]
        return float(mapped[k] + (np.clip(f, 0.0, n_ref - 1) - k) * (nxt - mapped[k]))

    n = t1 - t0
    # Frame b is centred on b·10 ms: a boundary before frame b lies at (b − ½)·10 ms,
    # hence the +½ here (and −½ below); espeak-ng's events lead its sound a little.
    lead = ESPEAK_LEAD_MS
    edges = [warp(units[0].start_ms + lead) + 0.5] + [warp(u.end_ms + lead) + 0.5 for u in units]
    bounds = np.clip(np.round(edges).astype(np.int64), 0, n)
    bounds[0], bounds[-1] = 0, n
    bounds = np.maximum.accumulate(bounds)
    ref_ms = np.array([u.end_ms - u.start_ms for u in units])
    bounds = _refine(_model_vectors(feats)[t0:t1], bounds, units, ref_ms)

    times = np.clip((t0 + bounds - 0.5) * HOP_MS, 0.0, duration_ms).tolist()
    timed = [
        PhonemeEvent(times[k], times[k + 1], u.ipa)
        for k, u in enumerate(units)
        if times[k + 1] > times[k]
    ]
    return _finish(timed, feats, duration_ms)


def cues_from_char_alignment(
    text: str,
    alignment: Sequence[CharAlignment],
    *,
    engine: EspeakEngine | None = None,
) -> list[VisemeCue]:
    """Viseme cues from a backend's character alignment of ``text``.

    espeak-ng reads ``text`` (so each word is pronounced in context); each word's
    phonemes are spread over the time its characters take, in proportion to espeak-ng's
    own phoneme durations. Time between words is rest; the alignment's characters may
    differ a little from ``text`` (they are matched with difflib).
    """
    timed = [a for a in alignment if a.end_ms >= a.start_ms]
    if not timed or not text.strip():
        return []
    try:
        words = (engine or _default_engine()).spoken_words(text)
    except EspeakUnavailable as exc:
        log.info("[align] espeak-ng unavailable (%s): no cues from alignment", type(exc).__name__)
        return []
    aligned_text = "".join(a.char for a in timed)
    index = _char_map(text, aligned_text)
    per_word: list[list[PhonemeEvent]] = []
    for word in words:
        if not word.phonemes:
            continue
        hits = [index[i] for i in range(word.char_start, word.char_end) if index[i] >= 0]
        spoken = [timed[i] for i in hits if not timed[i].char.isspace()]
        if not spoken:
            continue
        start = min(a.start_ms for a in spoken)
        end = max(a.end_ms for a in spoken)
        if per_word and start < per_word[-1][-1].end_ms:
            start = per_word[-1][-1].end_ms  # words sharing characters ("42" → forty two)
        if end <= start:
            continue
        total = sum(p.end_ms - p.start_ms for p in word.phonemes) or 1.0
        t = start
        events: list[PhonemeEvent] = []
        for p in word.phonemes:
            d = (end - start) * (p.end_ms - p.start_ms) / total
            events.append(PhonemeEvent(t, t + d, p.phoneme))
            t += d
        per_word.append(events)
    timed_events: list[PhonemeEvent] = []
    for k, events in enumerate(per_word):
        if k + 1 < len(per_word):
            gap_end = per_word[k + 1][0].start_ms
            last = events[-1]
            if 0.0 < gap_end - last.end_ms < _BRIDGE_MS:
                # The space between two words is no pause: hold the mouth till the next.
                events[-1] = PhonemeEvent(last.start_ms, gap_end, last.phoneme)
        timed_events.extend(events)
    cues = [c for c in cues_from_phonemes(timed_events) if c.viseme != "sil"]
    return _visible_closures(merge_runs(cues), max(a.end_ms for a in timed))


def _char_map(text: str, aligned: str) -> list[int]:
    """For each character of ``text``, its index in ``aligned`` (−1 when unmatched)."""
    out = [-1] * len(text)
    if text == aligned:
        return list(range(len(text)))
    matcher = difflib.SequenceMatcher(None, text, aligned, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            out[block.a + k] = block.b + k
    return out
