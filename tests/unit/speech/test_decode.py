# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile

from companion.speech.decode import PCM_RATE, DecodeError, StreamDecoder, decode_audio, resample
from companion.speech.types import FloatArray

TARGET = 22050


def _signal(rate: int, seconds: float = 0.5, channels: int = 1) -> FloatArray:
    """A 440 Hz tone with a slow amplitude swell (speech-like loudness changes)."""
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.5 * np.sin(2 * np.pi * 440 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    if channels == 1:
        return mono.astype(np.float32)
    return np.stack([mono] * channels, axis=1).astype(np.float32)


def _encode(x: FloatArray, rate: int, fmt: str, subtype: str) -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def _dominant_hz(x: FloatArray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


LOSSLESS = [
    ("audio/wav", "WAV", "PCM_16", 1e-4),
    ("audio/wav", "WAV", "PCM_24", 1e-6),
    ("audio/wav", "WAV", "PCM_32", 1e-6),
    ("audio/wav", "WAV", "FLOAT", 1e-7),
    ("audio/wav", "WAV", "DOUBLE", 1e-7),
    ("audio/wav", "WAV", "PCM_U8", 1e-2),
    ("audio/flac", "FLAC", "PCM_16", 1e-4),
    ("audio/flac", "FLAC", "PCM_24", 1e-6),
]


@pytest.mark.parametrize(("mime", "fmt", "subtype", "tol"), LOSSLESS)
@pytest.mark.parametrize("rate", [TARGET, 24000, 44100])
def test_lossless_formats(mime: str, fmt: str, subtype: str, tol: float, rate: int) -> None:
    x = _signal(rate)
    data = _encode(x, rate, fmt, subtype)
    got = decode_audio(data, mime, target_rate=TARGET)
    expected = resample(x, rate, TARGET)
    assert got.dtype == np.float32
    assert len(got) == len(expected)
    assert np.max(np.abs(got - expected)) < tol * 10 + (1e-3 if rate != TARGET else 0)


@pytest.mark.parametrize(
    ("mime", "fmt", "subtype", "rate"),
    [
        ("audio/mpeg", "MP3", "MPEG_LAYER_III", 22050),
        ("audio/mpeg", "MP3", "MPEG_LAYER_III", 44100),
        ("audio/ogg", "OGG", "VORBIS", 24000),
        ("audio/ogg", "OGG", "OPUS", 48000),
        ("audio/opus", "OGG", "OPUS", 48000),
    ],
)
def test_lossy_formats(mime: str, fmt: str, subtype: str, rate: int) -> None:
    x = _signal(rate, seconds=1.0)
    data = _encode(x, rate, fmt, subtype)
    got = decode_audio(data, mime, target_rate=TARGET)
    assert got.dtype == np.float32
    assert abs(len(got) - TARGET) < TARGET * 0.05
    assert abs(_dominant_hz(got, TARGET) - 440) < 5
    rms = float(np.sqrt(np.mean(got**2)))
    assert 0.2 < rms < 0.45


def test_stereo_is_downmixed() -> None:
    x = _signal(TARGET, channels=2)
    x[:, 1] = 0.0
    got = decode_audio(_encode(x, TARGET, "WAV", "PCM_16"), "audio/wav", target_rate=TARGET)
    assert np.max(np.abs(got - x[:, 0] / 2)) < 1e-4
    got = decode_audio(_encode(x, TARGET, "FLAC", "PCM_16"), "audio/flac", target_rate=TARGET)
    assert np.max(np.abs(got - x[:, 0] / 2)) < 1e-4


def test_raw_pcm_is_24k_s16le_mono() -> None:
    x = _signal(PCM_RATE)
    data = (x * 32767).astype("<i2").tobytes()
    got = decode_audio(data, "audio/pcm", target_rate=PCM_RATE)
    assert np.max(np.abs(got - x)) < 1e-4
    got = decode_audio(data, "audio/pcm", target_rate=TARGET)
    assert len(got) == len(resample(x, PCM_RATE, TARGET))


def test_pcm_that_looks_like_an_mpeg_frame_is_pcm() -> None:
    # Small negative samples (-1, -2) start with 0xFF 0xFF / 0xFE 0xFF: an MPEG sync word.
    x = np.concatenate([np.full(64, -1, "<i2"), (_signal(PCM_RATE) * 32767).astype("<i2")])
    got = decode_audio(x.tobytes(), "audio/pcm", target_rate=PCM_RATE)
    assert len(got) == len(x)


def test_mime_parameters_and_mislabelled_audio() -> None:
    x = _signal(TARGET)
    wav = _encode(x, TARGET, "WAV", "PCM_16")
    reference = decode_audio(wav, "audio/wav", target_rate=TARGET)
    assert np.array_equal(decode_audio(wav, "Audio/WAV; codecs=1", target_rate=TARGET), reference)
    assert np.array_equal(decode_audio(wav, "audio/mpeg", target_rate=TARGET), reference)
    assert np.array_equal(
        decode_audio(wav, "application/octet-stream", target_rate=TARGET), reference
    )


def _streamed(data: bytes, mime: str, cuts: list[int]) -> FloatArray:
    decoder = StreamDecoder(mime, target_rate=TARGET)
    parts = []
    start = 0
    for cut in [*cuts, len(data)]:
        parts.append(decoder.feed(data[start:cut]))
        start = cut
    parts.append(decoder.finish())
    return np.concatenate(parts)


def _short(rate: int) -> FloatArray:
    return _signal(rate, seconds=0.02)


STREAMABLE = [
    ("audio/pcm", None, None, PCM_RATE),
    ("audio/wav", "WAV", "PCM_16", 16000),
    ("audio/wav", "WAV", "PCM_24", TARGET),
    ("audio/wav", "WAV", "FLOAT", 48000),
]


@pytest.mark.parametrize(("mime", "fmt", "subtype", "rate"), STREAMABLE)
def test_stream_split_anywhere_equals_one_shot(
    mime: str, fmt: str | None, subtype: str | None, rate: int
) -> None:
    x = _short(rate)
    if fmt is None or subtype is None:
        data = (x * 32767).astype("<i2").tobytes()
    else:
        x = np.stack([x, x * 0.5], axis=1)  # stereo: frames are split too
        data = _encode(x, rate, fmt, subtype)
    whole = decode_audio(data, mime, target_rate=TARGET)
    assert len(whole) > 0
    for cut in range(1, len(data), 2):
        assert np.array_equal(_streamed(data, mime, [cut]), whole), cut
    assert np.array_equal(_streamed(data, mime, list(range(1, len(data)))), whole)


def test_stream_yields_samples_before_the_end() -> None:
    x = _signal(PCM_RATE, seconds=1.0)
    data = _encode(x, PCM_RATE, "WAV", "PCM_16")
    decoder = StreamDecoder("audio/wav", target_rate=TARGET)
    first = decoder.feed(data[: len(data) // 2])
    assert len(first) > TARGET // 4
    rest = np.concatenate([decoder.feed(data[len(data) // 2 :]), decoder.finish()])
    assert len(first) + len(rest) == len(resample(x, PCM_RATE, TARGET))


def _wav(
    fmt_chunk: bytes, data: bytes, *, data_size: int | None = None, extra: bytes = b""
) -> bytes:
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + extra + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
    body += b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + body


def _pcm16_fmt(rate: int, channels: int = 1) -> bytes:
    return struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)


def test_streamed_wav_with_unknown_sizes_and_extra_chunks() -> None:
    x = _signal(TARGET)
    pcm = (x * 32767).astype("<i2").tobytes()
    odd_chunk = b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # odd size, padded
    data = _wav(_pcm16_fmt(TARGET), pcm, data_size=0xFFFFFFFF, extra=odd_chunk)
    got = _streamed(data, "audio/wav", list(range(1, 200, 7)))
    assert np.max(np.abs(got - x)) < 1e-4
    # A known data size: bytes after it (a trailing chunk) are not audio.
    data = _wav(_pcm16_fmt(TARGET), pcm) + b"id3 " + struct.pack("<I", 4) + b"\xff\xff\xff\xff"
    assert len(decode_audio(data, "audio/wav", target_rate=TARGET)) == len(x)


def test_wave_format_extensible_and_mu_law() -> None:
    x = _signal(TARGET)
    for subtype in ("ULAW", "ALAW", "IMA_ADPCM"):
        got = decode_audio(_encode(x, TARGET, "WAV", subtype), "audio/wav", target_rate=TARGET)
        assert abs(len(got) - len(x)) < 1024
        assert abs(_dominant_hz(got, TARGET) - 440) < 5
    got = decode_audio(_encode(x, TARGET, "WAVEX", "PCM_24"), "audio/wav", target_rate=TARGET)
    assert np.max(np.abs(got - x)) < 1e-5


SECRET = b"sk-secret-token-in-body"


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (b"", "audio/mpeg"),
        (b"", "audio/pcm"),
        (b"<html><body>502 Bad Gateway " + SECRET + b"</body></html>", "audio/mpeg"),
        (b"<html><body>502 Bad Gateway " + SECRET + b"</body></html>", "audio/wav"),
        (SECRET * 50, "audio/ogg"),
        (SECRET * 50, "audio/flac"),
        (SECRET * 50, "text/plain"),
        (b"RIFF\x00\x00\x00\x00WAVE" + SECRET, "audio/wav"),
        (b"RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00" + SECRET, "audio/wav"),
        (b"OggS" + SECRET * 20, "audio/ogg"),
        (b"fLaC" + SECRET * 20, "audio/flac"),
    ],
)
def test_undecodable_data(data: bytes, mime: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_audio(data, mime, target_rate=TARGET)
    message = str(info.value)
    assert "secret" not in message and "html" not in message.lower()
    assert "\n" not in message


def test_truncated_compressed_audio_is_an_error_or_shorter() -> None:
    x = _signal(TARGET, seconds=1.0)
    flac = _encode(x, TARGET, "FLAC", "PCM_16")
    try:
        got = decode_audio(flac[: len(flac) // 2], "audio/flac", target_rate=TARGET)
    except DecodeError:
        return
    assert len(got) < len(x)


def test_feed_after_finish_is_a_bug() -> None:
    decoder = StreamDecoder("audio/pcm", target_rate=TARGET)
    decoder.feed(b"\x00\x00")
    decoder.finish()
    with pytest.raises(RuntimeError):
        decoder.feed(b"\x00\x00")


# --- raw PCM under real servers' labels ----------------------------------------------------


def _pcm(x: FloatArray, dtype: str = "<i2") -> bytes:
    return np.clip(np.round(x * 32767), -32768, 32767).astype(dtype).tobytes()


@pytest.mark.parametrize(
    ("content_type", "headers", "rate", "dtype"),
    [
        ("audio/pcm_s16le", {"X-Sample-Rate": "22050"}, 22050, "<i2"),  # local-tts-studio
        ("audio/L16;rate=16000", {}, 16000, ">i2"),  # RFC 2586
        ("audio/L16;rate=16000", {}, 16000, "<i2"),  # the label's order, not kept
        ("audio/raw", {"x-audio-sample-rate": "44100"}, 44100, "<i2"),
        ("application/octet-stream", {"X-Sample-Rate": "24000"}, 24000, "<i2"),
        ("audio/pcm", {}, PCM_RATE, "<i2"),
    ],
)
@pytest.mark.parametrize("piece", [1, 333, 100_000])
def test_pcm_labels_play_at_their_rate(
    content_type: str, headers: dict[str, str], rate: int, dtype: str, piece: int
) -> None:
    from companion.speech.audio_labels import pcm_spec

    x = _signal(rate, seconds=0.6)
    data = _pcm(x, dtype)
    decoder = StreamDecoder(content_type, target_rate=TARGET, pcm=pcm_spec(content_type, headers))
    parts = [decoder.feed(data[i : i + piece]) for i in range(0, len(data), piece)]
    got = np.concatenate([*parts, decoder.finish()])
    assert abs(len(got) - len(x) * TARGET / rate) <= 2  # the right speed
    assert abs(_dominant_hz(got, TARGET) - 440) < 5  # and pitch


def test_pcm_of_unknown_rate_is_never_played() -> None:
    from companion.speech.decode import PcmRateUnknown

    data = _pcm(_signal(22050))
    for mime in ("audio/pcm_s16le", "audio/L16", "audio/raw"):
        with pytest.raises(PcmRateUnknown):
            decode_audio(data, mime, target_rate=TARGET)
    with pytest.raises(PcmRateUnknown):  # no container under an opaque label: raw samples
        decode_audio(data, "application/octet-stream", target_rate=TARGET)


def test_aac_is_unsupported_not_corrupt() -> None:
    from companion.speech.decode import UnsupportedCodec
    from tests.support.reference_audio import encode

    data, mime = encode("Hello there.", "aac")
    with pytest.raises(UnsupportedCodec):
        decode_audio(data, mime, target_rate=TARGET)
    wav, _ = encode("Hello there.", "wav")
    assert len(decode_audio(wav, "audio/aac", target_rate=TARGET))  # a WAV mislabelled plays


def test_decoded_length_has_a_ceiling_streamed_and_buffered() -> None:
    """A WAV (streamed) or FLAC (decoded whole) longer than ``max_seconds`` is AudioTooLong;
    one within it decodes as before."""
    import io as _io

    import numpy as _np
    import soundfile as _sf

    from companion.speech.decode import AudioTooLong, decode_audio

    tone = (_np.sin(_np.arange(16_000 * 3) / 5.0) * 0.3).astype("float32")
    for fmt, mime in (("WAV", "audio/wav"), ("FLAC", "audio/flac")):
        buf = _io.BytesIO()
        _sf.write(buf, tone, 16_000, format=fmt, subtype="PCM_16")
        data = buf.getvalue()
        with pytest.raises(AudioTooLong):
            decode_audio(data, mime, target_rate=16_000, max_seconds=2.0)
        assert len(decode_audio(data, mime, target_rate=16_000, max_seconds=4.0)) == len(tone)
