# SPDX-License-Identifier: GPL-3.0-or-later
"""Peak memory (max RSS) of ``companion speak --output`` as a child process.

Run: ``.venv/bin/python benchmarks/speak_memory.py``

Each command runs in its own measuring process (``resource.getrusage(RUSAGE_CHILDREN)``
reports the largest child it ever waited for, so children are not measured side by side):

- figure: ``python -m companion speak --output`` of a three-sentence reply, on the embedded
  Piper voice (the aligned model already prepared in the cache);
- the same on espeak-ng (``"engine": "espeak"`` in the settings);
- baselines: the bare interpreter, and ``python -c "import onnxruntime, numpy"`` (the
  runtime Piper cannot do without), plus the size of the voice model file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figure import figure

from companion.speech.piper_engine import source_model

ROOT = Path(__file__).resolve().parents[1]

REPLY = (
    "Good morning, it is lovely to see you again today. "
    "The forecast says sunshine until the evening, with a light breeze from the west. "
    "Let me know whenever you would like me to read something else aloud."
)
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)\n"
)


def peak_mib(argv: list[str], env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    ).stdout.split()
    kib, code = int(out[0]), int(out[1])
    if code != 0:
        raise SystemExit(f"{argv} failed with exit status {code}")
    return kib / 1024.0  # Linux reports KiB


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        config_dir = Path(tmp) / "config"
        env = dict(os.environ, COMPANION_CONFIG_DIR=str(config_dir), PYTHONPATH=str(ROOT))
        env.pop("COMPANION_BACKEND_URL", None)
        speak = [sys.executable, "-m", "companion", "speak", REPLY, "--output", f"{tmp}/o.wav"]
        subprocess.run(speak, env=env, check=True, capture_output=True)  # prepares the model
        piper = peak_mib(speak, env)
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "settings.json").write_text(json.dumps({"engine": "espeak"}))
        espeak = peak_mib(speak, env)
        bare = peak_mib([sys.executable, "-c", "pass"], env)
        runtime = peak_mib([sys.executable, "-c", "import onnxruntime, numpy"], env)
    model_mib = source_model()[0].stat().st_size / 2**20
    print(f"companion speak --output, Piper voice:     {piper:6.1f} MiB peak RSS")
    print(f"companion speak --output, espeak-ng:       {espeak:6.1f} MiB peak RSS")
    print(f"baseline: bare python                      {bare:6.1f} MiB")
    print(f"baseline: python + onnxruntime + numpy     {runtime:6.1f} MiB")
    print(f"baseline: voice model file                 {model_mib:6.1f} MiB")
    figure(
        "speak_rss_piper",
        piper,
        "MiB",
        what="companion speak peak RSS, Piper",
        baseline=runtime,
        baseline_what="python + onnxruntime + numpy",
    )
    figure(
        "speak_rss_espeak",
        espeak,
        "MiB",
        what="companion speak peak RSS, espeak-ng",
        baseline=bare,
        baseline_what="bare python",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
