# SPDX-License-Identifier: GPL-3.0-or-later
"""Raw PCM's labels as real servers write them, and the layout each states (or does not)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.speech import audio_labels
from companion.speech.audio_labels import PcmSpec, likely_big_endian, pcm_spec, split_content_type


@pytest.mark.parametrize(
    ("content_type", "headers", "spec"),
    [
        ("audio/pcm", {}, PcmSpec(24000)),  # OpenAI's own: 24 kHz by definition
        ("audio/x-pcm", {}, PcmSpec(24000)),
        ("audio/pcm", {"X-Sample-Rate": "22050"}, PcmSpec(22050)),
        # local-tts-studio
        (
            "audio/pcm_s16le",
            {"x-sample-rate": "22050", "x-channels": "1", "x-sample-width": "2"},
            PcmSpec(22050),
        ),
        ("audio/L16;rate=22050", {}, PcmSpec(22050, big_endian=True, check_order=True)),
        (
            "audio/L16; rate=16000; channels=2",
            {},
            PcmSpec(16000, 2, big_endian=True, check_order=True),
        ),
        ("audio/l16;rate=8000;endianness=little-endian", {}, PcmSpec(8000)),
        ("audio/raw", {"X-Audio-Sample-Rate": "16000"}, PcmSpec(16000)),
        ("application/octet-stream", {"Sample-Rate": "44100 Hz"}, PcmSpec(44100)),
        ("audio/x-raw, format=S16LE, rate=44100, channels=1", {}, PcmSpec(44100)),
        ("audio/x-raw, format=F32LE, rate=48000", {}, PcmSpec(48000, bits=32, is_float=True)),
        ("audio/pcm_f32le; rate=24000", {}, PcmSpec(24000, bits=32, is_float=True)),
        ("audio/L24; rate=48000", {}, PcmSpec(48000, bits=24, big_endian=True, check_order=True)),
        ('audio/pcm; samplerate="32000"', {}, PcmSpec(32000)),
        (
            "audio/raw",
            {"X-Sample-Rate": "22050", "X-Bits-Per-Sample": "24"},
            PcmSpec(22050, bits=24),
        ),
    ],
)
def test_labels_and_their_layout(content_type: str, headers: dict[str, str], spec: PcmSpec) -> None:
    assert pcm_spec(content_type, headers) == spec


@pytest.mark.parametrize(
    ("content_type", "headers"),
    [
        ("audio/pcm_s16le", {}),  # a rate stated nowhere is never guessed
        ("audio/L16", {}),
        ("application/octet-stream", {}),
        ("audio/raw", {"X-Sample-Rate": "fast"}),
        ("audio/raw", {"X-Sample-Rate": "0"}),
        ("audio/raw", {"X-Sample-Rate": "22050.5"}),
        ("audio/pcm_s16le; rate=99", {}),  # not a plausible rate
        ("audio/pcm_s16le; rate=9999999", {}),
    ],
)
def test_unknown_rate_is_none(content_type: str, headers: dict[str, str]) -> None:
    assert pcm_spec(content_type, headers) is None


def test_split_content_type() -> None:
    assert split_content_type("Audio/L16; Rate=22050 ;channels=1") == (
        "audio/l16",
        {"rate": "22050", "channels": "1"},
    )
    assert split_content_type("") == ("", {})


def test_kinds() -> None:
    assert audio_labels.declared_kind("audio/pcm_s16le") == "pcm"
    assert audio_labels.declared_kind("audio/aac") == "unsupported"
    assert audio_labels.declared_kind("audio/x-wav") == "wav"
    assert audio_labels.declared_kind("application/octet-stream") is None
    assert audio_labels.is_opaque_label("binary/octet-stream")


@given(
    rate=st.integers(audio_labels.MIN_RATE, audio_labels.MAX_RATE),
    label=st.sampled_from(sorted(audio_labels.PCM_LABELS | audio_labels.OPAQUE_LABELS)),
    where=st.sampled_from(["param", *audio_labels.RATE_HEADERS, *audio_labels.RATE_PARAMS]),
    case=st.sampled_from([str.lower, str.upper, str.title]),
)
def test_a_stated_rate_is_read_wherever_it_is(
    rate: int, label: str, where: str, case: object
) -> None:
    if where in audio_labels.RATE_HEADERS:
        spec = pcm_spec(label, {case(where): str(rate)})  # type: ignore[operator]
    else:
        key = "rate" if where == "param" else where
        spec = pcm_spec(f"{label}; {key}={rate}", {})
    assert spec is not None and spec.rate == rate


def _speech_like(n: int = 8000, rate: int = 22050) -> np.ndarray:
    t = np.arange(n) / rate
    x = 0.4 * np.sin(2 * np.pi * 180 * t) + 0.2 * np.sin(2 * np.pi * 530 * t)
    return (x * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) * 32767).astype(np.int16)


@pytest.mark.parametrize("big", [True, False])
def test_byte_order_is_found_on_the_samples(big: bool) -> None:
    raw = _speech_like().astype(">i2" if big else "<i2").tobytes()
    spec = PcmSpec(22050, big_endian=not big, check_order=True)  # the label says the opposite
    assert likely_big_endian(raw, spec) is big


def test_silence_keeps_the_labels_order() -> None:
    spec = PcmSpec(22050, big_endian=True, check_order=True)
    assert likely_big_endian(bytes(4096), spec) is True
