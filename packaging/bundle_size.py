# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a bundle's megabytes go: total, parts (top-level folders), largest files.

Used by ``build.py`` and ``smoke_test.py``; ``python packaging/bundle_size.py [BUNDLE]``
prints the report on its own, and ``--before OTHER`` compares the 15 largest parts with another
bundle (e.g. one built from ``main``: ``git archive main | tar -x -C /tmp/main && cd /tmp/main
&& python packaging/build.py``), or with a listing saved by ``--save FILE``. Symbolic links count
as nothing (their target is counted).
"""

from __future__ import annotations

import argparse
import json
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


def parts_of(source: Path) -> tuple[int, dict[str, int]]:
    """(total, parts) of a bundle folder, or of a listing written by ``--save``."""
    if source.is_file():
        saved = json.loads(source.read_text(encoding="utf-8"))
        return int(saved["total"]), {str(k): int(v) for k, v in saved["parts"].items()}
    total, parts, _files = measure(source)
    return total, dict(parts)


def compare(before: Path, after: Path, *, top: int = 15) -> str:
    """The ``top`` largest parts of either bundle, before and after, largest first."""
    total_b, parts_b = parts_of(before)
    total_a, parts_a = parts_of(after)
    names = sorted(
        set(parts_b) | set(parts_a), key=lambda n: -max(parts_b.get(n, 0), parts_a.get(n, 0))
    )
    lines = [f"{'part':32s} {'before':>9s} {'after':>9s} {'change':>9s}"]
    for name in names[:top]:
        b, a = parts_b.get(name, 0), parts_a.get(name, 0)
        lines.append(f"{name:32s} {b / MB:7.1f} MB {a / MB:7.1f} MB {(a - b) / MB:+7.1f} MB")
    rest_b = total_b - sum(parts_b.get(n, 0) for n in names[:top])
    rest_a = total_a - sum(parts_a.get(n, 0) for n in names[:top])
    lines.append(f"{'(the rest)':32s} {rest_b / MB:7.1f} MB {rest_a / MB:7.1f} MB "
                 f"{(rest_a - rest_b) / MB:+7.1f} MB")  # fmt: skip
    lines.append(f"{'total':32s} {total_b / MB:7.1f} MB {total_a / MB:7.1f} MB "
                 f"{(total_a - total_b) / MB:+7.1f} MB")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Where a Companion bundle's megabytes go.")
    default = Path(__file__).resolve().parent.parent / "dist" / "companion"
    parser.add_argument("bundle", nargs="?", type=Path, default=default)
    parser.add_argument("--before", type=Path, help="another bundle (or a --save listing)")
    parser.add_argument("--save", type=Path, help="write the parts of BUNDLE as JSON")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    if not args.bundle.is_dir():
        print(f"no bundle at {args.bundle}", file=sys.stderr)
        return 1
    if args.save is not None:
        total, parts = parts_of(args.bundle)
        args.save.write_text(json.dumps({"total": total, "parts": parts}, indent=1) + "\n")
    if args.before is not None:
        if not args.before.exists():
            print(f"no bundle or listing at {args.before}", file=sys.stderr)
            return 1
        print(compare(args.before, args.bundle, top=args.top))
    else:
        print(report(args.bundle, top=args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
