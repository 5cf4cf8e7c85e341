# SPDX-License-Identifier: GPL-3.0-or-later
"""Which Piper model is loaded, and the int8 weights: onnxruntime's rounding rule, the parts kept
in float32, the graph still computing what the float32 one does."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from companion.speech import piper_models


def test_int8_weights_follow_onnxruntimes_rule() -> None:
    from onnx import TensorProto
    from onnxruntime.quantization.quant_utils import quantize_data

    rng = np.random.default_rng(7)
    weights = (rng.standard_normal((6, 4, 3)) * rng.uniform(0.01, 2.0, (6, 1, 1))).astype(
        np.float32
    )
    weights[2] = 0.0  # a dead channel keeps scale 1 and zeros
    for axis in (0, 1):
        values, scales = piper_models.quantize_weights(weights, axis)
        assert values.dtype == np.int8 and scales.dtype == np.float32
        for channel in range(weights.shape[axis]):
            data = np.take(weights, channel, axis=axis).ravel()
            # (zero point, scale, values); onnxruntime before 1.20 puts (min, max) first
            *_range, _zp, scale, expected = quantize_data(data, TensorProto.INT8, True)
            got = np.take(values, channel, axis=axis).ravel()
            assert np.array_equal(got, expected)
            assert scales[channel] == pytest.approx(float(scale), rel=1e-6)


def _conv_model(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    inits = []
    nodes = []
    previous = "x"
    for i, part in enumerate(("enc_p", "dp", "dec")):
        w = rng.standard_normal((32, 32, 3)).astype(np.float32) * 0.1
        inits.append(numpy_helper.from_array(w, f"{part}.w"))
        nodes.append(
            helper.make_node(
                "Conv", [previous, f"{part}.w"], [f"y{i}"], pads=[1, 1], name=f"/{part}/Conv"
            )
        )
        previous = f"y{i}"
    graph = helper.make_graph(
        nodes,
        "convs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, 32])],
        [helper.make_tensor_value_info(previous, TensorProto.FLOAT, [1, 32, 32])],
        initializer=inits,
    )
    # IR version 8 (onnx 1.10+): what every onnxruntime release this project allows can load
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.save(model, str(path))


def test_the_quantised_graph_runs_and_keeps_the_parts_asked_for(tmp_path: Path) -> None:
    import onnx
    import onnxruntime

    source = tmp_path / "convs.onnx"
    _conv_model(source)
    model = piper_models.quantized_model(onnx.load(str(source)), keep=("dp",))
    onnx.checker.check_model(model)
    kept = {i.name for i in model.graph.initializer}
    assert {"enc_p.w_q", "enc_p.w_s", "dec.w_q", "dp.w"} <= kept
    assert "dp.w_q" not in kept and "enc_p.w" not in kept
    out = tmp_path / "convs.int8.onnx"
    onnx.save(model, str(out))
    x = np.random.default_rng(1).standard_normal((1, 32, 32)).astype(np.float32)

    def run(path: Path) -> np.ndarray:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return np.asarray(session.run(None, {"x": x})[0])

    full, small = run(source), run(out)
    assert np.abs(full - small).max() < 0.02 * np.abs(full).max()


def test_precisions_available(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert piper_models.available_precisions() == ("int8", "fp32")  # from source: both
    voices = tmp_path / "companion" / "resources" / "voices"
    voices.mkdir(parents=True)
    (voices / piper_models.INT8_NAME).write_bytes(b"model")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert piper_models.available_precisions() == ("int8",)  # a bundle: what it ships
    assert piper_models.bundled_model("int8") == voices / piper_models.INT8_NAME
    assert piper_models.bundled_model("fp32") is None
