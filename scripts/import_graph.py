#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The import graph of the ``companion`` package: cycles, upward arrows, the largest modules.

Every ``import`` of a ``companion`` module counts, also those inside functions (a lazy import
is still a dependency); imports under ``if TYPE_CHECKING:`` are listed apart (they never run).

Layers, lowest first (a module may import its own layer and those below it)::

    0  companion (top-level helpers: paths, jsonfile, textinput, tasks), speech.types
    1  config
    2  backend, audio
    3  telemetry (it knows the backend's status table)
    4  speech
    5  replies, characters
    6  ui
    7  app, ossignals, commands, cli, __main__

Usage: ``python scripts/import_graph.py [--json]`` (exit 1 when there is a cycle or an upward
arrow); ``tests/unit/test_import_graph.py`` runs the same checks.
"""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "companion"

#: (prefix, layer): the longest matching prefix wins.
LAYERS: tuple[tuple[str, int], ...] = (
    ("companion", 0),
    ("companion.speech.types", 0),
    ("companion.config", 1),
    ("companion.backend", 2),
    ("companion.audio", 2),
    ("companion.telemetry", 3),
    ("companion.speech", 4),
    ("companion.replies", 5),
    ("companion.characters", 5),
    ("companion.ui", 6),
    ("companion.app", 7),
    ("companion.ossignals", 7),
    ("companion.commands", 7),
    ("companion.cli", 7),
    ("companion.settings_flow", 7),
    ("companion.workers", 7),
    ("companion.__main__", 7),
)


@dataclass
class Graph:
    edges: dict[str, set[str]] = field(default_factory=dict)
    type_only: dict[str, set[str]] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> int:
    best, found = -1, 0
    for prefix, level in LAYERS:
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
            best, found = len(prefix), level
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.AST, current: str, modules: set[str]) -> set[str]:
    out: set[str] = set()
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            pkg = current.split(".")[: -node.level] if not current.endswith("__init__") else []
            base = ".".join([*pkg, base]) if base else ".".join(pkg)
        names = [f"{base}.{a.name}" for a in node.names] + [base]
    else:
        return out
    for name in names:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name and name.startswith("companion"):
            out.add(name)
    return out


def build(package: Path = PACKAGE) -> Graph:
    files = sorted(package.rglob("*.py"))
    root = package.parent
    modules = {module_name(f, root) for f in files}
    graph = Graph()
    for f in files:
        name = module_name(f, root)
        tree = ast.parse(f.read_text(encoding="utf-8"))
        graph.lines[name] = len(f.read_text(encoding="utf-8").splitlines())
        runtime: set[str] = set()
        typing_only: set[str] = set()
        type_nodes: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and _is_type_checking(node):
                for sub in ast.walk(node):
                    type_nodes.add(id(sub))
        for node in ast.walk(tree):
            targets = _targets(node, name, modules) - {name}
            # A package's own __init__ is not a dependency worth drawing.
            targets = {t for t in targets if t != "companion" or name == "companion"}
            (typing_only if id(node) in type_nodes else runtime).update(targets)
        graph.edges[name] = runtime
        graph.type_only[name] = typing_only - runtime
    return graph


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else module


def package_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Cycles between packages (``companion.backend`` ↔ ``companion.speech``)."""
    pkg_edges: dict[str, set[str]] = {}
    for src, dsts in edges.items():
        for dst in dsts:
            a, b = package_of(src), package_of(dst)
            if a != b:
                pkg_edges.setdefault(a, set()).add(b)
    return cycles(pkg_edges)


def upward(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((s, d) for s, ds in edges.items() for d in ds if layer(d) > layer(s))


def main(argv: list[str]) -> int:
    graph = build()
    result = {
        "modules": len(graph.edges),
        "module_cycles": cycles(graph.edges),
        "package_cycles": package_cycles(graph.edges),
        "upward_arrows": upward(graph.edges),
        "largest": sorted(graph.lines.items(), key=lambda kv: -kv[1])[:10],
    }
    if "--json" in argv:
        print(json.dumps(result, indent=2))
    else:
        print(f"modules: {result['modules']}")
        print(f"module cycles: {len(result['module_cycles'])}")
        for c in result["module_cycles"]:
            print("  " + " <-> ".join(c))
        print(f"package cycles: {len(result['package_cycles'])}")
        for c in result["package_cycles"]:
            print("  " + " <-> ".join(c))
        print(f"upward arrows: {len(result['upward_arrows'])}")
        for s, d in result["upward_arrows"]:
            print(f"  {s} (layer {layer(s)}) -> {d} (layer {layer(d)})")
        print("largest modules:")
        for name, n in result["largest"]:
            print(f"  {n:5d}  {name}")
    bad = result["module_cycles"] or result["package_cycles"] or result["upward_arrows"]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
