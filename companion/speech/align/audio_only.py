# SPDX-License-Identifier: GPL-3.0-or-later

"""Cues from the audio alone, for speech with no usable text.

Each 10 ms frame is classed closed / open / wide / round / consonant: loudness decides
silence; within speech, Gaussian class models learnt from espeak-ng's voice (on
per-utterance normalised MFCCs, so the speaker matters less) score each frame, and a
Viterbi pass with a switching penalty smooths the result (it looks ahead).
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from companion.speech.align.espeak import default_engine
from companion.speech.align.features import F64, HOP_MS, I64, Features, deltas, features, normalise
from companion.speech.align.finish import finish_cues
from companion.speech.espeak_engine import PAUSE, EspeakEngine, EspeakUnavailable
from companion.speech.types import FloatArray, PhonemeEvent, VisemeCue
from companion.speech.visemes import cues_from_phonemes

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
    return np.hstack([normalise(c), 0.5 * normalise(deltas(c)), loud])


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
        means, variances = _class_models(engine or default_engine())
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
    return finish_cues(events, feats, duration_ms)
