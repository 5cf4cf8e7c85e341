# SPDX-License-Identifier: GPL-3.0-or-later
"""Audio bytes from a backend → float32 mono at the player's rate.

Formats: WAV (8/16/24/32-bit int, 32/64-bit float), MP3, Ogg (Vorbis, Opus), FLAC and raw
PCM under any of its labels (:mod:`companion.speech.audio_labels`: ``audio/pcm`` is OpenAI's
24 kHz s16le mono; others state their rate in the content type or a header, as a
:class:`~companion.speech.audio_labels.PcmSpec`). Compressed formats are decoded by
soundfile (libsndfile ≥ 1.1 reads MP3); resampling is soxr's high-quality filter.

:class:`StreamDecoder` turns a body that arrives in pieces into samples as it comes:
``audio/pcm`` and PCM/float WAV are decoded incrementally (the RIFF header is read only
as far as the ``fmt `` and ``data`` chunks; frames split across pieces are kept until
complete); everything else is buffered and decoded at :meth:`StreamDecoder.finish`.
The content type is checked against the first bytes, so a WAV labelled ``audio/mpeg``
still plays.

Undecodable data raises :class:`DecodeError`; its message names the type, the byte count
and libsndfile's reason, never any of the bytes. Two of its kinds are a server's limitation
rather than broken data: :class:`PcmRateUnknown` (raw PCM whose rate is stated nowhere: never
played at a guessed rate) and :class:`UnsupportedCodec` (AAC and other formats libsndfile
does not read).
"""

from __future__ import annotations

import io
import logging
import struct

import numpy as np
import soundfile
import soxr

from companion.speech import audio_labels
from companion.speech.audio_labels import OPENAI_PCM_RATE, PcmSpec
from companion.speech.types import FloatArray

log = logging.getLogger("companion.speech")

PCM_RATE = OPENAI_PCM_RATE
_EMPTY: FloatArray = np.zeros(0, dtype=np.float32)
_MAX_WAV_HEADER = 1 << 20  # a header this long before "data" is not a WAV worth waiting for

_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_FLOAT = 3
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


class DecodeError(ValueError):
    """Audio that cannot be decoded. The message never contains the data."""


class PcmRateUnknown(DecodeError):
    """Raw PCM whose sample rate neither its label nor a header states."""


class UnsupportedCodec(DecodeError):
    """Audio in a format libsndfile does not decode (AAC, MP4, WebM)."""


class AudioTooLong(DecodeError):
    """Audio longer than the decoder's ``max_seconds``: a few megabytes of a low-bitrate MP3
    can hold hours, so the decoded length has a ceiling too, checked as it is decoded."""


#: The highest source rate the ceiling of a buffered decode allows for (a header may claim any).
_MAX_SOURCE_RATE = 384_000


def normalize_mime(mime: str) -> str:
    return audio_labels.split_content_type(mime)[0]


def resample(x: FloatArray, src_rate: int, dst_rate: int) -> FloatArray:
    """``x`` (mono float32) from ``src_rate`` to ``dst_rate`` with soxr's HQ filter."""
    x = np.asarray(x, dtype=np.float32)
    if src_rate == dst_rate or len(x) == 0:
        return x
    out = soxr.resample(x, src_rate, dst_rate, quality="HQ")
    return np.asarray(out, dtype=np.float32)


def _to_mono(frames: FloatArray, channels: int) -> FloatArray:
    if channels == 1:
        return frames
    return np.asarray(frames.reshape(-1, channels).mean(axis=1), dtype=np.float32)


def _int24_to_float(raw: bytes) -> FloatArray:
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
    value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
    value = (value << 8) >> 8  # sign-extend from 24 bits
    return (value.astype(np.float32) / 8388608.0).astype(np.float32)


class _WavFormat:
    __slots__ = ("big_endian", "bytes_per_sample", "channels", "is_float", "rate")

    def __init__(
        self, *, channels: int, rate: int, bits: int, is_float: bool, big_endian: bool = False
    ) -> None:
        self.channels = channels
        self.rate = rate
        self.bytes_per_sample = (bits + 7) // 8
        self.is_float = is_float
        self.big_endian = big_endian

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bytes_per_sample

    def to_float(self, raw: bytes) -> FloatArray:
        width = self.bytes_per_sample
        if self.big_endian and width > 1:
            raw = np.frombuffer(raw, dtype=np.uint8).reshape(-1, width)[:, ::-1].tobytes()
        if self.is_float:
            dtype = "<f4" if width == 4 else "<f8"
            return np.frombuffer(raw, dtype=dtype).astype(np.float32)
        if width == 1:
            return ((np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0).astype(
                np.float32
            )
        if width == 2:
            return (np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0).astype(np.float32)
        if width == 3:
            return _int24_to_float(raw)
        return (np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0).astype(
            np.float32
        )


def _parse_fmt(body: bytes) -> _WavFormat | None:
    """The WAV format if we can stream it ourselves, ``None`` for soundfile to handle."""
    if len(body) < 16:
        raise DecodeError("audio/wav: the fmt chunk is too short")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
        (tag,) = struct.unpack("<H", body[24:26])
    if channels == 0 or rate == 0:
        raise DecodeError("audio/wav: the header has no channels or no sample rate")
    if tag == _WAVE_FORMAT_PCM and bits in (8, 16, 24, 32):
        return _WavFormat(channels=channels, rate=rate, bits=bits, is_float=False)
    if tag == _WAVE_FORMAT_FLOAT and bits in (32, 64):
        return _WavFormat(channels=channels, rate=rate, bits=bits, is_float=True)
    return None


class StreamDecoder:
    """Decode an audio body piece by piece.

    ``feed(data)`` returns the samples completed by ``data`` (possibly none);
    ``finish()`` returns the rest and checks the body was complete enough to play.
    Samples are float32 mono at ``target_rate``.

    ``max_seconds`` bounds the decoded audio (:class:`AudioTooLong` past it; None: no bound).

    ``pcm`` is the layout of a raw PCM body (from the response's headers; by default what
    the label alone says). A body under an opaque label (``application/octet-stream``) with
    no container's signature is raw PCM: played with ``pcm``, else :class:`PcmRateUnknown`.

    Attributes:
        mime: the content type it was created for (lower-case, no parameters).
        kind: the format in use once known (``wav``, ``pcm``, ``mp3``, ``ogg``, ``flac``).
        bytes_in: bytes fed so far.
        source_rate: the rate of the audio received, once known (PCM and streamed WAV).
    """

    def __init__(
        self,
        mime: str,
        *,
        target_rate: int,
        pcm: PcmSpec | None = None,
        max_seconds: float | None = None,
    ) -> None:
        self.mime = normalize_mime(mime)
        self.target_rate = target_rate
        self.max_seconds = max_seconds
        self.kind: str | None = None
        self.bytes_in = 0
        self._declared = audio_labels.declared_kind(self.mime)
        self._pcm = pcm if pcm is not None else audio_labels.pcm_spec(mime)
        self._buf = bytearray()
        self._buffered = False  # decode everything at finish() with soundfile
        self._fmt: _WavFormat | None = None
        self._in_data = False
        self._data_left: int | None = None  # bytes of the data chunk still to come; None = to end
        self._resampler: soxr.ResampleStream | None = None
        self._src_rate: int | None = None
        self._finished = False
        self._samples_out = 0

    # -- public ------------------------------------------------------------------------

    def feed(self, data: bytes) -> FloatArray:
        if self._finished:
            raise RuntimeError("StreamDecoder.feed() after finish()")
        if not data:
            return _EMPTY
        self.bytes_in += len(data)
        self._buf += data
        if self.kind is None and not self._decide(final=False):
            return _EMPTY
        if self._buffered:
            return _EMPTY
        return self._drain(final=False)

    def finish(self) -> FloatArray:
        if self._finished:
            return _EMPTY
        self._finished = True
        if self.bytes_in == 0:
            raise DecodeError(f"{self._label()}: the response had no audio data")
        if self.kind is None:
            self._decide(final=True)
        out = _EMPTY if self._buffered else self._drain(final=True)
        if self._buffered:  # known from the start, or found in the WAV header just now
            return self._decode_buffered()
        if not self._in_data:
            raise DecodeError(f"{self._label()}: {self.bytes_in} bytes without a complete header")
        return out

    # -- format ------------------------------------------------------------------------

    def _label(self) -> str:
        return self.mime or "audio"

    def _decide(self, *, final: bool) -> bool:
        """Pick the format from the first bytes and the content type; False = need more."""
        if len(self._buf) < audio_labels.SNIFF_BYTES and not final:
            return False
        sniffed = audio_labels.sniff(bytes(self._buf[: audio_labels.SNIFF_BYTES]), self._declared)
        kind = sniffed or self._declared
        opaque = audio_labels.is_opaque_label(self.mime)
        if kind is None and opaque:
            kind = "pcm"  # no container: raw samples, playable only when their rate is stated
        if kind is None:
            raise DecodeError(
                f"{self._label()}: unsupported or unrecognised audio ({self.bytes_in} bytes)"
            )
        if kind == "unsupported":
            raise UnsupportedCodec(f"{self._label()}: a format Companion does not decode")
        if sniffed and self._declared and sniffed != self._declared:
            log.info("[decode] content type %s carries %s audio", self._label(), sniffed)
        if kind == "pcm":
            return self._start_pcm(final=final)
        self.kind = kind
        if kind != "wav" or self._buf[:4] == b"RF64":
            self._buffered = True
        return True

    def _start_pcm(self, *, final: bool) -> bool:
        spec = self._pcm
        if spec is None:
            raise PcmRateUnknown(
                f"{self._label()}: raw audio that states no sample rate ({self.bytes_in} bytes)"
            )
        big = spec.big_endian
        if spec.check_order:
            if len(self._buf) < audio_labels.ORDER_PROBE_BYTES and not final:
                return False
            big = audio_labels.likely_big_endian(
                bytes(self._buf[: audio_labels.ORDER_PROBE_BYTES]), spec
            )
            if big != spec.big_endian:
                log.info(
                    "[decode] %s: samples are %s-endian", self._label(), "big" if big else "little"
                )
        self.kind = "pcm"
        self._fmt = _WavFormat(
            channels=spec.channels,
            rate=spec.rate,
            bits=spec.bits,
            is_float=spec.is_float,
            big_endian=big,
        )
        self._in_data = True
        self._start_resampler(spec.rate)
        return True

    @property
    def source_rate(self) -> int | None:
        return self._src_rate

    def _start_resampler(self, rate: int) -> None:
        self._src_rate = rate
        if rate != self.target_rate:
            self._resampler = soxr.ResampleStream(
                rate, self.target_rate, 1, dtype="float32", quality="HQ"
            )

    # -- incremental WAV / PCM ---------------------------------------------------------

    def _parse_header(self) -> bool:
        """Read RIFF chunks up to the start of the data; False = need more bytes.

        Nothing is removed from the buffer until the data starts, so an encoding we do
        not stream ourselves can still be handed whole to soundfile.
        """
        buf = self._buf
        if len(buf) < 12:
            return False
        if buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
            raise DecodeError(f"{self._label()}: not a RIFF/WAVE stream")
        pos = 12
        fmt: _WavFormat | None = None
        while True:
            if pos > _MAX_WAV_HEADER:
                raise DecodeError(f"{self._label()}: no audio data in the first megabyte")
            if len(buf) < pos + 8:
                return False
            chunk_id = bytes(buf[pos : pos + 4])
            (size,) = struct.unpack("<I", buf[pos + 4 : pos + 8])
            if chunk_id == b"data":
                if fmt is None:
                    raise DecodeError(f"{self._label()}: data chunk before the fmt chunk")
                self._fmt = fmt
                self._start_resampler(fmt.rate)
                del buf[: pos + 8]
                self._in_data = True
                self._data_left = None if size in _UNKNOWN_SIZES else size
                return True
            if chunk_id == b"fmt ":
                if size > _MAX_WAV_HEADER:
                    raise DecodeError(f"{self._label()}: the fmt chunk is not plausible")
                if len(buf) < pos + 8 + size:
                    return False
                fmt = _parse_fmt(bytes(buf[pos + 8 : pos + 8 + size]))
                if fmt is None:
                    # An encoding we do not stream (mu-law, ADPCM…): soundfile reads it whole.
                    self._buffered = True
                    return False
            pos += 8 + size + (size & 1)

    def _drain(self, *, final: bool) -> FloatArray:
        if not self._in_data and not self._parse_header():
            if self._buffered:
                # _parse_header found an encoding only soundfile reads: keep everything.
                return _EMPTY
            return self._resample(_EMPTY, final=final)
        fmt = self._fmt
        assert fmt is not None
        available = len(self._buf)
        if self._data_left is not None:
            available = min(available, self._data_left)
        usable = available - available % fmt.frame_bytes
        raw = bytes(self._buf[:usable])
        if self._data_left is not None:
            self._data_left -= usable
            if self._data_left == 0:
                self._buf.clear()  # trailing chunks (LIST, id3) carry no audio
            else:
                del self._buf[:usable]
        else:
            del self._buf[:usable]
        if final and self._buf and self._data_left is None:
            log.debug("[decode] dropped %d bytes of a partial frame at the end", len(self._buf))
            self._buf.clear()
        samples = _to_mono(fmt.to_float(raw), fmt.channels) if raw else _EMPTY
        return self._resample(samples, final=final)

    def _resample(self, samples: FloatArray, *, final: bool) -> FloatArray:
        if self._resampler is not None:
            if len(samples) == 0 and not final:
                return _EMPTY
            samples = np.asarray(self._resampler.resample_chunk(samples, last=final))
        if len(samples) == 0:
            return _EMPTY
        self._samples_out += len(samples)
        if self.max_seconds is not None and self._samples_out > self.max_seconds * self.target_rate:
            raise AudioTooLong(f"{self._label()}: longer than {self.max_seconds:g} s")
        return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False)

    # -- buffered (soundfile) ----------------------------------------------------------

    def _decode_buffered(self) -> FloatArray:
        data = bytes(self._buf)
        self._buf.clear()
        try:
            with soundfile.SoundFile(io.BytesIO(data)) as sound:
                rate = sound.samplerate
                cap = -1
                if self.max_seconds is not None:
                    cap = int(self.max_seconds * min(rate, _MAX_SOURCE_RATE)) + 1
                frames = sound.read(frames=cap, dtype="float32", always_2d=True)
        except soundfile.LibsndfileError as exc:
            raise DecodeError(
                f"{self._label()}: could not decode {len(data)} bytes ({exc.error_string})"
            ) from None
        except (RuntimeError, ValueError, TypeError, EOFError) as exc:
            raise DecodeError(
                f"{self._label()}: could not decode {len(data)} bytes ({type(exc).__name__})"
            ) from None
        if cap > 0 and len(frames) >= cap:
            raise AudioTooLong(f"{self._label()}: longer than {self.max_seconds:g} s")
        mono = np.asarray(frames.mean(axis=1), dtype=np.float32)
        out = resample(mono, int(rate), self.target_rate)
        return np.clip(out, -1.0, 1.0).astype(np.float32, copy=False)


def decode_audio(
    data: bytes,
    mime: str,
    *,
    target_rate: int,
    pcm: PcmSpec | None = None,
    max_seconds: float | None = None,
) -> FloatArray:
    """A whole audio body → float32 mono at ``target_rate`` (see :class:`StreamDecoder`)."""
    decoder = StreamDecoder(mime, target_rate=target_rate, pcm=pcm, max_seconds=max_seconds)
    head = decoder.feed(data)
    tail = decoder.finish()
    if len(head) == 0:
        return tail
    return np.concatenate([head, tail]).astype(np.float32, copy=False)
