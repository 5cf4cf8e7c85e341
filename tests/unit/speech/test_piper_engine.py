# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from companion.speech import piper_engine, piper_models
from companion.speech.piper_engine import (
    INT8_NAME,
    NATIVE_RATE,
    PiperEngine,
    PiperUnavailable,
    cached_aligned_model,
    cached_int8_model,
    events_evenly,
    events_from_alignments,
)
from companion.speech.types import AudioChunk, Cancelled, CancelToken

HOP_MS = 1000.0 * 256 / NATIVE_RATE
STRESS = "\u02c8"  # IPA primary stress mark
TEXT = "Hello there, friend. The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def voice_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def engine(voice_cache: Path) -> PiperEngine:
    eng = PiperEngine(sample_rate=24000, deterministic=True, cache_dir=voice_cache)
    eng.load()
    return eng


def _speak(engine: PiperEngine, text: str = TEXT, speed: float = 1.0) -> list[AudioChunk]:
    return list(engine.synthesize(text, voice=None, speed=speed, cancel=CancelToken()))


def test_alignments_cover_the_audio(engine: PiperEngine) -> None:
    assert engine.has_alignments
    assert engine.files is not None and engine.files.source == "cache"
    assert engine.files.precision == "int8" and engine.notice is None
    chunks = _speak(engine)
    assert len(chunks) == 2  # Piper makes one chunk per sentence
    for chunk in chunks:
        assert chunk.sample_rate == 24000
        assert chunk.samples.dtype == np.float32
        assert np.max(np.abs(chunk.samples)) <= 1.0
        events = chunk.phonemes
        assert events and events[0].start_ms == 0.0
        assert all(a.end_ms == pytest.approx(b.start_ms) for a, b in itertools.pairwise(events))
        assert abs(events[-1].end_ms - chunk.duration_ms) <= HOP_MS
        spoken = "".join(e.phoneme for e in events)
        assert "ð" in spoken or "k" in spoken
        assert STRESS not in spoken  # stress marks are folded into the next phoneme


def test_deterministic_and_speed(engine: PiperEngine) -> None:
    a = np.concatenate([c.samples for c in _speak(engine, "Testing one two three.")])
    b = np.concatenate([c.samples for c in _speak(engine, "Testing one two three.")])
    assert np.array_equal(a, b)
    fast = np.concatenate([c.samples for c in _speak(engine, "Testing one two three.", 2.0)])
    assert 0.4 < len(fast) / len(a) < 0.65


def test_cancel_between_sentences(engine: PiperEngine) -> None:
    token = CancelToken()
    chunks = engine.synthesize(TEXT, voice=None, speed=1.0, cancel=token)
    next(chunks)
    token.cancel()
    with pytest.raises(Cancelled):
        next(chunks)


def test_blank_text_gives_nothing(engine: PiperEngine) -> None:
    assert _speak(engine, "   ") == []


def test_cache_is_reused(voice_cache: Path, engine: PiperEngine) -> None:
    source, _config = piper_engine.source_model()
    cached = cached_int8_model(source, voice_cache)
    assert engine.files is not None and cached == engine.files.model
    before = cached.stat().st_mtime_ns
    assert cached_int8_model(source, voice_cache) == cached
    assert cached.stat().st_mtime_ns == before
    # Made straight from the package's model: no fp32 copy beside it in the cache.
    assert [p.name for p in (voice_cache / "voices").iterdir()] == [cached.name]
    assert cached.stat().st_size < 0.7 * source.stat().st_size  # int8 weights: 37 of 63 MB


def _tiny_ceil_model(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph(
        [helper.make_node("Ceil", ["x"], ["w_ceil"]), helper.make_node("Neg", ["w_ceil"], ["y"])],
        "tiny",
        [x],
        [y],
    )
    onnx.save(helper.make_model(graph), str(path))


def test_cache_is_keyed_by_source_and_replaced(tmp_path: Path) -> None:
    import onnx

    source = tmp_path / "voice.onnx"
    _tiny_ceil_model(source)
    first = cached_aligned_model(source, tmp_path / "cache")
    assert [o.name for o in onnx.load(str(first)).graph.output] == ["y", "w_ceil"]
    os.utime(source, ns=(1, 1))
    second = cached_aligned_model(source, tmp_path / "cache")
    assert second != first and not first.exists()
    assert sorted(p.name for p in second.parent.iterdir()) == [second.name]  # no temp files


def test_bundled_model_is_preferred(
    engine: PiperEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert engine.files is not None
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / INT8_NAME).symlink_to(engine.files.model)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    bundled = PiperEngine(sample_rate=NATIVE_RATE, cache_dir=tmp_path / "unused")
    assert bundled.has_alignments
    assert bundled.files is not None and bundled.files.source == "bundle"
    assert bundled.files.precision == "int8"
    assert not (tmp_path / "unused").exists()


def test_fp32_is_selectable(voice_cache: Path) -> None:
    fp32 = PiperEngine(sample_rate=NATIVE_RATE, cache_dir=voice_cache, precision="fp32")
    assert fp32.has_alignments
    assert fp32.files is not None and fp32.files.precision == "fp32"
    source, _config = piper_engine.source_model()
    assert fp32.files.model == cached_aligned_model(source, voice_cache)


def test_a_damaged_int8_model_falls_back_to_fp32_with_a_notice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source, _config = piper_engine.source_model()
    broken = cached_int8_model(source, tmp_path)
    broken.write_bytes(b"not a model at all")
    engine = PiperEngine(sample_rate=NATIVE_RATE, deterministic=True, cache_dir=tmp_path)
    with caplog.at_level(logging.INFO, logger="companion.speech"):
        chunks = list(
            engine.synthesize("Hello there.", voice=None, speed=1.0, cancel=CancelToken())
        )
    assert chunks and chunks[0].samples.size
    assert engine.files is not None and engine.files.precision == "fp32"
    assert engine.notice is not None and "int8" in engine.notice and "fp32" in engine.notice
    assert not broken.exists()  # removed: prepared again at the next start
    assert all(r.levelno < logging.WARNING for r in caplog.records)


def test_fp32_missing_from_a_bundle_falls_back_to_int8(
    engine: PiperEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert engine.files is not None
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / INT8_NAME).symlink_to(engine.files.model)
    (tmp_path / "voices" / f"{INT8_NAME}.json").symlink_to(engine.files.config)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(
        piper_models, "source_model", lambda: (tmp_path / "no.onnx", tmp_path / "x")
    )
    frozen = PiperEngine(sample_rate=NATIVE_RATE, cache_dir=tmp_path / "unused", precision="fp32")
    frozen.load()
    assert frozen.files is not None and frozen.files.precision == "int8"
    assert frozen.notice is not None and "not included in this build" in frozen.notice


def test_without_onnx_timings_are_even(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx → ImportError
    plain = PiperEngine(sample_rate=NATIVE_RATE, deterministic=True, cache_dir=tmp_path)
    with caplog.at_level(logging.INFO, logger="companion.speech"):
        chunks = list(plain.synthesize("Hello there.", voice=None, speed=1.0, cancel=CancelToken()))
    assert not plain.has_alignments
    notes = [r for r in caplog.records if "onnx is not installed" in r.getMessage()]
    assert len(notes) == 1 and notes[0].levelno == logging.INFO
    (chunk,) = chunks
    assert chunk.phonemes[-1].end_ms == pytest.approx(chunk.duration_ms, abs=0.1)


def test_missing_espeak_data_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(piper_engine, "espeak_data_dir", lambda: tmp_path / "nothing")
    with pytest.raises(PiperUnavailable, match="espeak-ng data"):
        PiperEngine(sample_rate=NATIVE_RATE, cache_dir=tmp_path).load()


def test_piper_espeak_bridge_takes_long_data_paths(tmp_path: Path) -> None:
    """libespeak-ng truncates long data paths; Piper's bridge does not (checked here)."""
    deep = tmp_path
    while len(str(deep)) < 300:
        deep = deep / "a-rather-long-folder-name"
    deep.mkdir(parents=True)
    link = deep / "espeak-ng-data"
    link.symlink_to(piper_engine.espeak_data_dir())
    code = (
        "import sys\nfrom piper import espeakbridge as e\n"
        "e.initialize(sys.argv[1]); e.set_voice('en-us')\n"
        "print(e.get_phonemes('Hello there.')[0][0])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(link)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "h" in result.stdout


@dataclass
class _A:
    phoneme: str
    num_samples: int


def test_events_from_alignments() -> None:
    rate = 1000
    alignments = [_A("^", 10), _A("h", 20), _A(STRESS, 5), _A("a", 15), _A(" ", 10), _A("$", 40)]
    events = events_from_alignments(alignments, rate, total_samples=100)
    assert [(e.phoneme, e.start_ms, e.end_ms) for e in events] == [
        ("_", 0.0, 10.0),
        ("h", 10.0, 30.0),
        ("a", 30.0, 50.0),
        (" ", 50.0, 60.0),
        ("_", 60.0, 100.0),
    ]
    assert events_evenly(["h", STRESS, "a"], 100, rate) == [
        piper_engine.PhonemeEvent(0.0, 50.0, "h"),
        piper_engine.PhonemeEvent(50.0, 100.0, "a"),
    ]
