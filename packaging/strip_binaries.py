# SPDX-License-Identifier: GPL-3.0-or-later
"""Build time: strip the symbol tables the bundle's libraries still carry (6 MB here).

Most wheels' and the distribution's libraries are stripped already; a few are not
(cryptography's Rust extension, ICU, OpenBLAS, NumPy, libsndfile, Python's own modules).
``strip=True`` on every binary is not safe: the libraries auditwheel patched with patchelf
(``numpy.libs``, ``*.libs``) can come out with a loadable segment whose file offset and address
disagree modulo its alignment, which the dynamic loader refuses ("ELF load command
address/offset not page-aligned"). So each copy is stripped, then checked: every ``PT_LOAD``
must keep ``offset % align == vaddr % align``; a copy that fails (or a ``strip`` error) is
dropped and the original ships.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

#: Sections strip removes that matter for the size (the rest is noise).
STRIPPED_SECTIONS = (".symtab", ".strtab", ".debug")
#: Leave files alone below this much to gain.
MIN_GAIN = 16 * 1024


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False


def strippable_bytes(path: Path) -> int:
    """Bytes of symbol tables and debug sections in ``path`` (``readelf -S``)."""
    out = subprocess.run(
        ["readelf", "-SW", str(path)], capture_output=True, text=True, check=False
    ).stdout
    total = 0
    for line in out.splitlines():
        fields = line.replace("[ ", "[").split()
        if len(fields) > 6 and fields[1].startswith(STRIPPED_SECTIONS):
            total += int(fields[5], 16)
    return total


def segments_aligned(path: Path) -> bool:
    """Every loadable segment's offset and address agree modulo its alignment."""
    out = subprocess.run(
        ["readelf", "-lW", str(path)], capture_output=True, text=True, check=False
    ).stdout
    loads = [line.split() for line in out.splitlines() if line.strip().startswith("LOAD")]
    if not loads:
        return False
    for fields in loads:
        offset, vaddr, align = int(fields[1], 16), int(fields[2], 16), int(fields[-1], 16)
        if align > 1 and offset % align != vaddr % align:
            return False
    return True


def stripped_copy(src: Path, dest: Path) -> Path | None:
    """``src`` stripped into ``dest`` (reused when up to date), or None to ship ``src``."""
    if shutil.which("strip") is None or not is_elf(src) or strippable_bytes(src) < MIN_GAIN:
        return None
    if dest.is_file() and dest.stat().st_mtime >= src.stat().st_mtime:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    os.chmod(dest, 0o755)
    done = subprocess.run(
        ["strip", "--strip-unneeded", str(dest)], capture_output=True, check=False
    )
    if done.returncode != 0 or not segments_aligned(dest) or strippable_bytes(dest) > 0:
        dest.unlink(missing_ok=True)
        return None
    return dest
