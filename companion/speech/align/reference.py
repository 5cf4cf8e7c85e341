# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: RUF001, RUF002, RUF003 - IPA letters are this file's data
"""The reference aligner: espeak-ng speaks the text, DTW maps its phonemes onto the audio.

This was the only aligner before the acoustic one (:mod:`.acoustic`); it stays for text
that is not English (its phonemes come from espeak-ng, which speaks many languages) and as
the fallback when PocketSphinx cannot be used. Three steps:

1. **Reference.** espeak-ng speaks the same text; its phoneme events say exactly when each
   phoneme of *its* audio sounds.
2. **Warp.** Both signals become 10 ms frames of MFCCs plus loudness; dynamic time warping
   between their speech regions maps espeak-ng's phoneme boundaries onto the target audio.
3. **Refine on the target.** A Gaussian per phoneme (backed off to its broad class) is
   fitted on the target's own frames under that first segmentation, and a segmental
   Viterbi pass (durations around espeak-ng's, boundaries within a window of the warp)
   re-places every boundary.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from companion.speech.align.dtw import dtw_path
from companion.speech.align.features import (
    F64,
    HOP_MS,
    I64,
    Features,
    features,
    model_vectors,
    speech_region,
    warp_vectors,
)
from companion.speech.espeak_engine import PAUSE, EspeakEngine
from companion.speech.types import PhonemeEvent
from companion.speech.visemes import ipa_to_viseme

_WINDOW = 12
#: espeak-ng reports a phoneme this long before it sounds (measured on its own audio:
#: vowels after a pause get loud about 5 ms after their event).
ESPEAK_LEAD_MS = 5.0
#: Spread (natural-log standard deviation) of the duration prior around espeak-ng's
#: durations scaled to the target's pace; pauses vary twice as much.
_DURATION_SPREAD = 0.5


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


def _halved(m: F64) -> F64:
    """Pairs of frames averaged (an odd last frame kept alone)."""
    n = len(m) // 2
    out = m[: 2 * n].reshape(n, 2, -1).mean(axis=1)
    out = np.vstack([out, m[2 * n :]]) if len(m) % 2 else out
    return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True)
class Reference:
    """espeak-ng's phonemes timed on the target, and how alike the two renderings sound.

    Attributes:
        events: the phonemes (pauses ``_``) in the target's time.
        distance: mean distance between the warped frames (normalised cepstra): about
            1-2.5 when the target is espeak-ng itself, 3-4 for other voices.
    """

    events: list[PhonemeEvent]
    distance: float


def reference_events(
    text: str,
    feats: Features,
    engine: EspeakEngine,
    *,
    voice: str | None = None,
    refine_below: float = float("inf"),
) -> Reference | None:
    """espeak-ng's phonemes of ``text`` timed on the target frames ``feats``.

    The refinement (step 3) runs only when the warp's distance is below ``refine_below``
    (a caller that will not use a poor match saves its cost).

    ``None`` when there is nothing to align (no speech, nothing pronounceable). Raises
    :class:`~companion.speech.espeak_engine.EspeakUnavailable` without espeak-ng.
    """
    t0, t1 = speech_region(feats.quiet)
    if t1 - t0 < 3 or not text.strip():
        return None
    ref_samples, ref_rate, events = engine.phonemes_with_times(text, voice=voice)
    units = _units(events)
    while units and units[0].label == PAUSE:
        units.pop(0)
    while units and units[-1].label == PAUSE:
        units.pop()
    ref = features(ref_samples, ref_rate)
    r0, r1 = speech_region(ref.quiet)
    if not units or r1 - r0 < 3:
        return None

    # Warp espeak-ng's speech region onto the target's.
    a, b = warp_vectors(ref)[r0:r1], warp_vectors(feats)[t0:t1]
    pi, pj = dtw_path(_halved(a), _halved(b))  # 20 ms frames: a quarter of the work
    distance = float(np.mean(np.linalg.norm(_halved(a)[pi] - _halved(b)[pj], axis=1)))
    n_ref = r1 - r0
    sums = np.zeros(int(pi.max()) + 1)
    counts = np.zeros_like(sums)
    np.add.at(sums, pi, pj.astype(np.float64))
    np.add.at(counts, pi, 1.0)
    # Halved frame k is centred on full frame 2k + ½: back to full frames.
    coarse = 2.0 * sums / np.maximum(counts, 1.0) + 0.5
    mapped = np.interp((np.arange(n_ref) - 0.5) / 2.0, np.arange(len(coarse)), coarse)

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
    bounds = _refine(model_vectors(feats)[t0:t1], bounds, units, ref_ms)

    return Reference(_timed(units, bounds, t0, feats), distance)


def _timed(units: Sequence[_Unit], bounds: I64, t0: int, feats: Features) -> list[PhonemeEvent]:
    """Units between frame bounds (relative to frame ``t0``) → events in ms."""
    times = np.clip((t0 + bounds - 0.5) * HOP_MS, 0.0, len(feats) * HOP_MS).tolist()
    return [
        PhonemeEvent(times[k], times[k + 1], u.ipa)
        for k, u in enumerate(units)
        if times[k + 1] > times[k]
    ]


def refine_on_target(events: Sequence[PhonemeEvent], feats: Features) -> list[PhonemeEvent]:
    """The segmental refinement (step 3) applied to events timed some other way.

    Events outside the speech region are kept as they are; inside, each boundary may move
    ``_WINDOW`` frames, durations held near the events' own.
    """
    t0, t1 = speech_region(feats.quiet)
    units = _units(events)
    if len(units) < 2 or t1 - t0 < 3:
        return list(events)
    edges = np.array([u.start_ms for u in units] + [units[-1].end_ms])
    frames = np.clip(np.round(edges / HOP_MS + 0.5).astype(np.int64) - t0, 0, t1 - t0)
    keep = [k for k in range(len(units)) if frames[k + 1] > frames[k]]
    if len(keep) < 2:
        return list(events)
    kept = [units[k] for k in keep]
    bounds = np.array([0] + [int(frames[k + 1]) for k in keep[:-1]] + [t1 - t0], dtype=np.int64)
    durations = np.array([u.end_ms - u.start_ms for u in kept])
    refined = _refine(model_vectors(feats)[t0:t1], bounds, kept, durations)
    return _timed(kept, refined, t0, feats)

