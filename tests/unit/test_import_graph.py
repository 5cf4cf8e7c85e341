# SPDX-License-Identifier: GPL-3.0-or-later
"""The house's shape, checked: no import cycles (module or package), no upward import across
the layers of docs/ARCHITECTURE.md, and no module over 450 lines."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 450


def _graph_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts/import_graph.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("import_graph", module)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles_between_modules_or_packages() -> None:
    ig = _graph_module()
    graph = ig.build()
    assert ig.cycles(graph.edges) == []
    assert ig.package_cycles(graph.edges) == []


def test_no_module_imports_a_layer_above_its_own() -> None:
    ig = _graph_module()
    assert ig.upward(ig.build().edges) == []


def test_no_module_is_past_the_size_limit() -> None:
    ig = _graph_module()
    graph = ig.build()
    too_long = {name: n for name, n in graph.lines.items() if n > MAX_LINES}
    assert too_long == {}


def test_the_checker_sees_a_cycle_and_an_upward_arrow() -> None:
    ig = _graph_module()
    edges = {"companion.a": {"companion.b"}, "companion.b": {"companion.a"}}
    assert ig.cycles(edges) == [["companion.a", "companion.b"]]
    assert ig.upward({"companion.backend.x": {"companion.ui.y"}}) == [
        ("companion.backend.x", "companion.ui.y")
    ]


def test_the_checker_reads_lazy_imports_and_sets_type_checking_apart(tmp_path: Path) -> None:
    ig = _graph_module()
    pkg = tmp_path / "companion"
    (pkg / "ui").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "ui" / "__init__.py").write_text("")
    (pkg / "ui" / "view.py").write_text("X = 1\n")
    (pkg / "config.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from companion.ui import view\n"
        "def f():\n    from companion.ui.view import X\n    return X\n"
    )
    graph = ig.build(pkg)
    assert graph.edges["companion.config"] == {"companion.ui.view"}
    assert ig.upward(graph.edges) == [("companion.config", "companion.ui.view")]
