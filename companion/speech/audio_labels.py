# SPDX-License-Identifier: GPL-3.0-or-later
"""What a speech response says about its audio: the labels real servers use, and the layout
(rate, channels, sample width, byte order) of a raw PCM body.

Raw PCM comes under many names: OpenAI's ``audio/pcm`` (24 kHz s16le mono by definition),
``audio/x-pcm``, ``audio/pcm_s16le`` (local-tts-studio), ``audio/L16;rate=22050``
(RFC 2586: big-endian), ``audio/raw``, ``audio/x-raw, format=S16LE``, or
``application/octet-stream`` with the rate in a header. The rate is read from the content
type's parameters (``rate``, ``samplerate``, ``sample_rate``…) or from a header
(``X-Sample-Rate``, ``X-Audio-Sample-Rate``…). A PCM body whose rate is nowhere is never
guessed at: :func:`pcm_spec` returns None and the caller says so (audio at a wrong rate
plays at a wrong speed and pitch, the one thing worse than silence).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: OpenAI's ``pcm`` response format: 24 kHz, signed 16-bit little-endian, mono.
OPENAI_PCM_RATE = 24000
#: Labels that mean "OpenAI's pcm" when they carry no rate of their own.
OPENAI_PCM_LABELS = frozenset({"audio/pcm", "audio/x-pcm"})
PCM_LABELS = frozenset(
    {
        *OPENAI_PCM_LABELS,
        "audio/pcm_s16le",
        "audio/pcm-s16le",
        "audio/s16le",
        "audio/x-s16le",
        "audio/pcm_f32le",
        "audio/l16",
        "audio/x-l16",
        "audio/l24",
        "audio/raw",
        "audio/x-raw",
        "audio/wav-raw",
    }
)
#: Labels that say nothing of the content: sniffed, else PCM when a rate is given.
OPAQUE_LABELS = frozenset({"application/octet-stream", "binary/octet-stream", "audio/octet-stream"})
#: Formats a server may send that libsndfile does not decode (never asked for).
UNSUPPORTED_LABELS = frozenset(
    {
        "audio/aac",
        "audio/x-aac",
        "audio/aacp",
        "audio/mp4",
        "audio/m4a",
        "audio/x-m4a",
        "audio/webm",
    }
)
#: Container labels → the format they name (the first bytes are checked too: :func:`sniff`).
MIME_KIND: dict[str, str] = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/vnd.wav": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mpeg3": "mp3",
    "audio/x-mpeg": "mp3",
    "audio/x-mp3": "mp3",
    "audio/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/x-opus": "ogg",
    "audio/vorbis": "ogg",
    "application/ogg": "ogg",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/pcm": "pcm",
    "audio/x-pcm": "pcm",
}
SNIFF_BYTES = 12

RATE_PARAMS = ("rate", "samplerate", "sample_rate", "sample-rate", "sampling_rate", "sr")
RATE_HEADERS = (
    "X-Sample-Rate",
    "X-Audio-Sample-Rate",
    "X-Samplerate",
    "X-Sampling-Rate",
    "X-Audio-Rate",
    "Sample-Rate",
)
CHANNEL_HEADERS = ("X-Channels", "X-Audio-Channels", "X-Num-Channels")
WIDTH_HEADERS = ("X-Sample-Width",)  # bytes per sample (Python's wave module's word)
BITS_HEADERS = ("X-Bits-Per-Sample", "X-Sample-Bits", "X-Bit-Depth")
MIN_RATE, MAX_RATE = 4000, 384000
#: Labels whose byte order is a convention servers do not always keep (RFC 2586's L16).
_CONVENTION_ORDER = frozenset({"audio/l16", "audio/x-l16", "audio/l24"})
_GST_FORMAT = re.compile(r"^(?P<kind>[SF])(?P<bits>8|16|24|32)(?P<order>LE|BE)?$", re.IGNORECASE)
#: Bytes of a body looked at before its byte order is decided, when only convention says it.
ORDER_PROBE_BYTES = 8192


@dataclass(frozen=True, slots=True)
class PcmSpec:
    """The layout of a raw PCM body.

    Attributes:
        rate: samples per second.
        channels: interleaved channels.
        bits: bits per sample (8, 16, 24 or 32).
        is_float: IEEE float samples (32-bit) instead of signed integers.
        big_endian: most significant byte first.
        check_order: the byte order comes from convention only (``audio/L16``): confirm it on
            the first samples (:func:`likely_big_endian`).
    """

    rate: int
    channels: int = 1
    bits: int = 16
    is_float: bool = False
    big_endian: bool = False
    check_order: bool = False

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bits // 8


def split_content_type(value: str) -> tuple[str, dict[str, str]]:
    """``audio/L16; rate=22050; channels=1`` → (``audio/l16``, {rate: 22050, channels: 1}).

    GStreamer's ``audio/x-raw, format=S16LE, rate=22050`` (commas) is read the same way.
    """
    parts = re.split(r"[;,]", value or "")
    mime = parts[0].strip().lower()
    params: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, val = part.partition("=")
        if sep:
            params[key.strip().lower()] = val.strip().strip('"').strip()
    return mime, params


def _positive_int(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip().lower().removesuffix("hz").strip()
    try:
        number = float(text)
    except ValueError:
        return None
    if not number.is_integer() or number <= 0:
        return None
    return int(number)


def _first(headers: Mapping[str, str] | None, names: tuple[str, ...]) -> str | None:
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value is not None and str(value).strip():
            return str(value)
    return None


def declared_rate(params: Mapping[str, str], headers: Mapping[str, str] | None) -> int | None:
    """The sample rate the content type's parameters or the headers state, if plausible."""
    for key in RATE_PARAMS:
        rate = _positive_int(params.get(key))
        if rate is not None:
            return rate if MIN_RATE <= rate <= MAX_RATE else None
    rate = _positive_int(_first(headers, RATE_HEADERS))
    if rate is not None and MIN_RATE <= rate <= MAX_RATE:
        return rate
    return None


def _sample_format(
    mime: str, params: Mapping[str, str], headers: Mapping[str, str] | None
) -> tuple[int, bool, bool | None]:
    """(bits, is_float, big_endian or None when the label does not say)."""
    bits, is_float, big = 16, False, None
    if mime in ("audio/l16", "audio/x-l16"):
        big = True  # RFC 2586: network byte order
    elif mime == "audio/l24":
        bits, big = 24, True
    elif mime == "audio/pcm_f32le":
        bits, is_float, big = 32, True, False
    elif mime.endswith("s16le") or mime in OPENAI_PCM_LABELS:
        big = False
    gst = _GST_FORMAT.match(params.get("format", "").strip())
    if gst:
        bits, is_float = int(gst["bits"]), gst["kind"].upper() == "F"
        if gst["order"]:
            big = gst["order"].upper() == "BE"
    width = _positive_int(params.get("width") or params.get("bits")) or _positive_int(
        _first(headers, BITS_HEADERS)
    )
    if width is None:
        byte_width = _positive_int(_first(headers, WIDTH_HEADERS))
        width = None if byte_width is None else byte_width * 8
    if width in (8, 16, 24, 32):
        bits = width
    order = params.get("endianness", params.get("endian", "")).lower()
    if order.startswith(("big", "be")) or order == "4321":
        big = True
    elif order.startswith(("little", "le")) or order == "1234":
        big = False
    if is_float and bits != 32:
        bits = 32
    return bits, is_float, big


def is_pcm_label(mime: str) -> bool:
    return mime in PCM_LABELS


def is_opaque_label(mime: str) -> bool:
    return mime in OPAQUE_LABELS or mime == ""


def is_unsupported_label(mime: str) -> bool:
    return mime in UNSUPPORTED_LABELS


def pcm_spec(content_type: str, headers: Mapping[str, str] | None = None) -> PcmSpec | None:
    """The PCM layout a response states, or None when its rate is stated nowhere.

    OpenAI's own labels (``audio/pcm``, ``audio/x-pcm``) without a rate are OpenAI's format:
    24 kHz. Every other label needs its rate in a parameter or a header.
    """
    mime, params = split_content_type(content_type)
    rate = declared_rate(params, headers)
    if rate is None and mime in OPENAI_PCM_LABELS:
        rate = OPENAI_PCM_RATE
    if rate is None:
        return None
    channels = _positive_int(params.get("channels")) or _positive_int(
        _first(headers, CHANNEL_HEADERS)
    )
    if channels is None or not 1 <= channels <= 8:
        channels = 1
    bits, is_float, big = _sample_format(mime, params, headers)
    return PcmSpec(
        rate=rate,
        channels=channels,
        bits=bits,
        is_float=is_float,
        big_endian=bool(big),
        check_order=mime in ("audio/l16", "audio/x-l16", "audio/l24")
        and "endianness" not in params,
    )


def _roughness(samples: np.ndarray) -> float:
    """How much a signal jumps between neighbouring samples, relative to its level."""
    x = samples.astype(np.float64)
    level = float(np.mean(np.abs(x))) + 1e-9
    return float(np.mean(np.abs(np.diff(x)))) / level


def likely_big_endian(raw: bytes, spec: PcmSpec) -> bool:
    """Which byte order makes ``raw`` (integer PCM) sound like speech rather than noise.

    Speech is smooth from one sample to the next; the same bytes read in the wrong order
    are close to white noise, whose neighbours jump by about the signal's level. Servers
    label little-endian audio ``audio/L16`` often enough (RFC 2586 says big-endian) that
    the label alone decides nothing.
    """
    width = spec.bits // 8
    if spec.is_float or width not in (2,) or len(raw) < 2 * 64:
        return spec.big_endian
    usable = len(raw) - len(raw) % width
    little = np.frombuffer(raw[:usable], dtype="<i2")
    big = np.frombuffer(raw[:usable], dtype=">i2")
    if not np.any(little):
        return spec.big_endian  # silence says nothing
    return _roughness(big) < _roughness(little)


def declared_kind(mime: str) -> str | None:
    kind = MIME_KIND.get(mime)
    if kind is None and mime in PCM_LABELS:
        return "pcm"
    if kind is None and mime in UNSUPPORTED_LABELS:
        return "unsupported"
    return kind


def sniff(head: bytes, declared: str | None) -> str | None:
    """The format the first bytes prove, if any.

    An MPEG frame sync (0xFFE…) is weak evidence: raw PCM that starts with a small
    negative sample looks the same, so it never overrides a declared ``audio/pcm``.
    """
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3":
        return "mp3"
    if declared != "pcm" and len(head) >= 3 and mpeg_frame_header(head):
        return "mp3"
    return None


def mpeg_frame_header(head: bytes) -> bool:
    version = (head[1] >> 3) & 0x3
    layer = (head[1] >> 1) & 0x3
    bitrate = head[2] >> 4
    rate = (head[2] >> 2) & 0x3
    return (
        head[0] == 0xFF
        and head[1] & 0xE0 == 0xE0
        and version != 1
        and layer != 0
        and bitrate not in (0, 15)
        and rate != 3
    )
