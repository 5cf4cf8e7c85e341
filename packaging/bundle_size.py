# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a bundle's megabytes go: total, parts (top-level folders), largest files.

Used by ``build.py`` and ``smoke_test.py``; ``python packaging/bundle_size.py [BUNDLE]``
prints the report on its own. Symbolic links count as nothing (their target is counted).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

MB = 1024 * 1024
#: PyInstaller's folder for everything but the executable (one-folder bundles, 6.x).
CONTENTS = "_internal"


def files(bundle: Path) -> Iterator[tuple[str, int]]:
    """(path relative to the bundle with "/" separators, size) of every regular file."""
    for folder, _dirs, names in os.walk(bundle):
        for name in names:
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            yield path.relative_to(bundle).as_posix(), path.stat().st_size


def part_of(rel: str) -> str:
    """The part a file belongs to: its top-level folder inside ``_internal`` (libraries at
    its top level are one part, "shared libraries"; Qt's lib, plugins... are parts of their
    own); files beside the program are "<name> (program)"."""
    parts = rel.split("/")
    if len(parts) == 1:
        return f"{parts[0]} (program)"
    if parts[0] == CONTENTS:
        parts = parts[1:]
    if len(parts) == 1:
        return "shared libraries" if ".so" in parts[0] or parts[0].endswith(".dll") else parts[0]
    if parts[0] == "PySide6" and len(parts) > 2 and parts[1] == "Qt":
        return f"PySide6/Qt/{parts[2]}"
    return parts[0]


def measure(bundle: Path) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(total bytes, parts by size, files by size), largest first."""
    all_files = sorted(files(bundle), key=lambda item: item[1], reverse=True)
    parts: Counter[str] = Counter()
    for rel, size in all_files:
        parts[part_of(rel)] += size
    return sum(size for _rel, size in all_files), parts.most_common(), all_files


def report(bundle: Path, *, top: int = 12) -> str:
    total, parts, largest = measure(bundle)
    lines = [f"bundle {bundle}: {total / MB:.0f} MB in {len(largest)} files"]
    lines.append("largest parts:")
    lines += [f"  {size / MB:6.1f} MB  {name}" for name, size in parts[:top]]
    lines.append("largest files:")
    lines += [f"  {size / MB:6.1f} MB  {rel}" for rel, size in largest[:top]]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    bundle = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "dist/companion"
    if not bundle.is_dir():
        print(f"no bundle at {bundle}", file=sys.stderr)
        return 1
    print(report(bundle))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
