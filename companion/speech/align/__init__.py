# SPDX-License-Identifier: GPL-3.0-or-later
"""Viseme cues for speech that came without any: the text's phonemes found in the audio.

For audio with neither backend visemes nor engine phoneme timings (an OpenAI-style backend
sending plain audio) the speech pipeline calls :func:`align_text_to_audio` in the speech
thread, before the piece plays. How the mouth chooses its shape there:

1. **Where each sound is** comes from an acoustic forced aligner, PocketSphinx with its
   en-us model (:mod:`.acoustic`, :mod:`.sphinx`): every word of the text (CMU dictionary,
   or espeak-ng's reading for names, brands and numbers, :mod:`.lexicon`) is aligned to
   the audio phone by phone, pauses included.
2. **Which sound it is** comes from espeak-ng reading the text in context: its vowel
   qualities replace the dictionary's stress-less ones (``ʌ`` or ``ə``, ``ɚ``).
3. **Which shape** each phoneme makes is the map of :mod:`companion.speech.visemes` (stress
   time to the vowel after it, length to the vowel before, r-coloured vowels round).
4. **What the audio says last**: a quiet stretch of 150 ms or more closes the mouth
   whatever the text said; louder vowels open wider (:mod:`.finish`).
5. **The animator's pass** (:mod:`companion.speech.coarticulation`): no shape shorter than a
   frame, closures always reach closed, lips round ahead of a rounded vowel.

Fallbacks, each logged with the reason's type only (never the text): text that is not
English (most words outside the dictionary, or mostly non-ASCII letters), a missing
PocketSphinx, or an alignment PocketSphinx cannot make go to the reference aligner of
:mod:`.reference` (espeak-ng speaks the text, DTW maps its phonemes onto the audio), which
speaks any language espeak-ng knows; no text, or no espeak-ng, goes to the audio-only
estimate (:mod:`.audio_only`). No failure escapes to the reply.

:func:`cues_from_char_alignment` serves backends that send a character alignment instead
(:mod:`.char_alignment`). ``benchmarks/lipsync_eval.py`` measures all of this on voices and
texts it was not tuned on, and its speed.
"""

from __future__ import annotations

import functools
import logging

from companion.speech.align.acoustic import acoustic_events, looks_english
from companion.speech.align.audio_only import estimate_from_audio as estimate_from_audio
from companion.speech.align.char_alignment import (
    cues_from_char_alignment as cues_from_char_alignment,
)
from companion.speech.align.dtw import dtw_path as dtw_path
from companion.speech.align.espeak import default_engine
from companion.speech.align.features import HOP_MS, at_16k, features_16k, speech_region
from companion.speech.align.finish import finish_cues
from companion.speech.align.fusion import (
    TRUST_ALONE,
    TRUST_REFINE,
    distance_for,
    fuse,
    reference_trust,
)
from companion.speech.align.lexicon import tokens
from companion.speech.align.reference import reference_events as reference_events
from companion.speech.align.sphinx import AlignmentFailed, SphinxAligner, SphinxUnavailable
from companion.speech.espeak_engine import EspeakEngine, EspeakUnavailable
from companion.speech.types import FloatArray, VisemeCue

log = logging.getLogger("companion.speech")


@functools.lru_cache(maxsize=1)
def sphinx_aligner() -> SphinxAligner:
    """The process's PocketSphinx aligner (raises SphinxUnavailable; retried next call)."""
    return SphinxAligner()


def align_text_to_audio(
    text: str,
    samples: FloatArray,
    sample_rate: int,
    *,
    engine: EspeakEngine | None = None,
    language: str | None = None,
) -> list[VisemeCue]:
    """Viseme cues for ``samples`` speaking ``text`` (see the module docstring).

    ``language`` is an espeak-ng voice name when the caller knows it ("de", "fr-fr"); a
    language other than English goes straight to the reference aligner with that voice.
    """
    duration_ms = 1000.0 * len(samples) / sample_rate if sample_rate > 0 else 0.0
    if duration_ms < 3 * HOP_MS:
        return []
    x16 = at_16k(samples, sample_rate)
    feats = features_16k(x16)
    t0, t1 = speech_region(feats.quiet)
    if t1 - t0 < 3:
        return []  # silence: the mouth stays closed
    if not text.strip():
        return estimate_from_audio(samples, sample_rate, feats=feats, engine=engine)
    espeak = engine or default_engine()
    english = language is None or language.lower().startswith("en")
    try:
        reference = reference_events(
            text, feats, espeak, voice=None if english else language,
            # A reference too unlike the audio to count is not worth refining.
            refine_below=distance_for(TRUST_REFINE) if english else float("inf"),
        )  # fmt: skip
    except EspeakUnavailable as exc:
        log.info("[align] espeak-ng unavailable (%s): audio-only estimate",
                 type(exc).__name__)  # fmt: skip
        return estimate_from_audio(samples, sample_rate, feats=feats, engine=engine)
    trust = reference_trust(reference.distance) if reference is not None else 0.0
    events = reference.events if reference is not None else None
    if english and trust < TRUST_ALONE:
        try:
            aligner = sphinx_aligner()
            words = tokens(text, aligner.lexicon, espeak.phonemize)
            if looks_english(words, text):
                heard = acoustic_events(text, x16, feats, aligner, espeak.phonemize, words=words)
                events = heard if events is None else fuse(heard, events, trust)
            else:
                log.info("[align] the text does not look English: reference aligner")
        except (SphinxUnavailable, AlignmentFailed, EspeakUnavailable) as exc:
            log.info("[align] acoustic alignment unavailable (%s): reference aligner",
                     type(exc).__name__)  # fmt: skip
        except Exception as exc:  # never the reply's problem: the reference takes over
            log.warning("[align] acoustic alignment failed (%s): reference aligner",
                        type(exc).__name__)  # fmt: skip
    if events is None:
        return estimate_from_audio(samples, sample_rate, feats=feats, engine=engine)
    return finish_cues(events, feats, duration_ms)
