# SPDX-License-Identifier: GPL-3.0-or-later
"""Build time: a smaller ICU data library for the bundle (30.5 MB → about 5 MB).

Qt links ICU, and ICU's data library (``libicudata.so.<v>``, one symbol ``icudt<v>_dat``) holds
every locale's collation, calendars, names, break dictionaries and legacy codepages. What this
app reaches through Qt is little: Qt formats numbers and dates from its own CLDR tables and
breaks lines with its own Unicode tables; ICU is used for collation (``QCollator``), locale
case mapping, time-zone names and legacy text codecs. This keeps the data for the root and
English locales and everything that is not per-locale (properties, normalisation, the root
collation, break rules, time-zone tables, string pools); a locale without its own data falls back
to root, as ICU does by design. It leaves out other locales, the Chinese/Japanese/Thai/Lao/
Khmer/Burmese word-break dictionaries, transliterators and the legacy codepage tables (UTF-8,
UTF-16/32, ASCII and Latin-1 are built into ICU's code; Qt decodes those itself anyway).

Steps: the data blob is read from the library (``nm`` gives the symbol's size, ``ctypes`` its
bytes), ``icupkg`` (Debian's ``icu-devtools``) removes the items, the assembler wraps the result
in a library with the same soname and symbol (``gcc``), and :func:`check` loads it with Qt's own
``libicuuc``/``libicui18n`` and calls what Qt calls. Any missing tool or failed check keeps the
original library (the bundle is then just larger) and says why.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

#: Locales kept in every per-locale tree (and their regional variants, e.g. en_GB).
KEEP_LOCALES = ("root", "en")
#: Files kept whatever their folder: the trees' indexes and shared string pools.
KEEP_ALWAYS = ("res_index.res", "pool.res")
#: Per-locale trees (folders) and the top level, whose ``<locale>.res`` files are filtered.
LOCALE_TREES = ("", "brkitr", "coll", "curr", "lang", "rbnf", "region", "unit", "zone")
_LOCALE_RE = re.compile(r"^[a-z]{2,3}(?:_[A-Za-z0-9]*)*$|^root$")


def keep_item(item: str) -> bool:
    """Whether the ICU data item ``item`` (e.g. ``icudt73l/coll/de.res``) is kept."""
    parts = item.split("/")[1:] if item.startswith("icudt") else item.split("/")
    folder, name = "/".join(parts[:-1]), parts[-1]
    if folder == "translit":
        return False
    if name.endswith(".cnv") or name.endswith(".dict"):
        return False
    if name in KEEP_ALWAYS or folder not in LOCALE_TREES or not name.endswith(".res"):
        return True
    stem = name[: -len(".res")]
    if not _LOCALE_RE.match(stem):
        return True  # supplementalData.res, zoneinfo64.res, metaZones.res, ...
    language = stem.split("_")[0]
    return language in KEEP_LOCALES


def data_symbol(library: Path) -> tuple[str, int]:
    """(symbol, size) of the data blob in an ICU data library."""
    out = subprocess.run(
        ["nm", "-D", "-S", str(library)], capture_output=True, text=True, check=True
    ).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 4 and re.fullmatch(r"icudt\d+_dat", fields[3]):
            return fields[3], int(fields[1], 16)
    raise RuntimeError(f"no icudt*_dat symbol in {library.name}")


def extract(library: Path) -> tuple[str, bytes]:
    symbol, size = data_symbol(library)
    lib = ctypes.CDLL(str(library))
    address = ctypes.addressof(ctypes.c_char.in_dll(lib, symbol))
    return symbol, ctypes.string_at(address, size)


def build_library(data: Path, symbol: str, soname: str, out: Path) -> None:
    """A shared library exporting ``symbol`` with the bytes of ``data`` (16-byte aligned)."""
    source = out.with_suffix(".S")
    source.write_text(
        textwrap.dedent(
            f"""\
            .section .rodata
            .globl {symbol}
            .type {symbol}, @object
            .balign 16
            {symbol}:
            .incbin "{data}"
            .size {symbol}, . - {symbol}
            .section .note.GNU-stack,"",@progbits
            """
        )
    )
    subprocess.run(
        ["gcc", "-shared", "-nostdlib", f"-Wl,-soname,{soname}", "-o", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    subprocess.run(["strip", "--strip-unneeded", str(out)], check=True, capture_output=True)


_CHECK = r"""
import ctypes, sys
preload, uc, i18n, v = sys.argv[1:5]
ctypes.CDLL(preload, mode=ctypes.RTLD_GLOBAL)
uc = ctypes.CDLL(uc, mode=ctypes.RTLD_GLOBAL)
i18n = ctypes.CDLL(i18n)
err = ctypes.c_int(0)
getattr(uc, "u_init_" + v)(ctypes.byref(err))
assert err.value <= 0, ("u_init", err.value)
for loc in (b"en_US", b"de_DE", b"ja_JP", b""):
    err = ctypes.c_int(0)
    coll = getattr(i18n, "ucol_open_" + v)
    coll.restype = ctypes.c_void_p
    c = coll(loc, ctypes.byref(err))
    assert c and err.value <= 0, ("ucol_open", loc, err.value)
    getattr(i18n, "ucol_close_" + v)(ctypes.c_void_p(c))
for kind in (0, 1, 2, 3):  # character, word, line, sentence
    err = ctypes.c_int(0)
    brk = getattr(uc, "ubrk_open_" + v)
    brk.restype = ctypes.c_void_p
    b = brk(kind, b"en", None, 0, ctypes.byref(err))
    assert b and err.value <= 0, ("ubrk_open", kind, err.value)
    getattr(uc, "ubrk_close_" + v)(ctypes.c_void_p(b))
text = "stra\u00dfe \u0130stanbul"
buf = ctypes.create_unicode_buffer(64)
src = ctypes.create_string_buffer(text.encode("utf-16-le"))
dst = ctypes.create_string_buffer(256)
err = ctypes.c_int(0)
n = getattr(uc, "u_strToUpper_" + v)(dst, 128, src, len(text), b"tr", ctypes.byref(err))
assert n > 0 and err.value <= 0, ("u_strToUpper", err.value)
err = ctypes.c_int(0)
tz = getattr(i18n, "ucal_getDefaultTimeZone_" + v)(dst, 128, ctypes.byref(err))
assert err.value <= 0, ("ucal_getDefaultTimeZone", err.value)
print("icu ok")
"""


def check(library: Path, qt_lib_dir: Path, version: str) -> None:
    """Load ``library`` with Qt's ICU and call what Qt calls; raises on any failure."""
    done = subprocess.run(
        [sys.executable, "-c", _CHECK, str(library), str(qt_lib_dir / f"libicuuc.so.{version}"),
         str(qt_lib_dir / f"libicui18n.so.{version}"), version],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if done.returncode != 0 or "icu ok" not in done.stdout:
        raise RuntimeError(f"the filtered ICU data failed its check: {done.stderr.strip()[-300:]}")


def filtered_library(original: Path, work: Path) -> tuple[Path, str]:
    """The smaller data library (built once per original, in ``work``), or the original with
    the reason it was kept."""
    version = original.name.rsplit(".so.", 1)[-1].split(".")[0]
    out = work / "icu" / original.name
    if out.is_file() and out.stat().st_mtime >= original.stat().st_mtime:
        return out, ""
    missing = [tool for tool in ("icupkg", "gcc", "nm", "strip") if shutil.which(tool) is None]
    if missing:
        return original, f"{', '.join(missing)} not installed (apt-get install icu-devtools gcc)"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            symbol, blob = extract(original)
            # icupkg takes the package name from the file name (icudt73l: little-endian).
            name = symbol.removesuffix("_dat") + ("l" if sys.byteorder == "little" else "b")
            (folder / "small").mkdir()
            full, small = folder / f"{name}.dat", folder / "small" / f"{name}.dat"
            full.write_bytes(blob)
            listing = subprocess.run(
                ["icupkg", "-l", str(full)], capture_output=True, text=True, check=True
            ).stdout.split()
            drop = [item for item in listing if not keep_item(item)]
            (folder / "drop.txt").write_text("\n".join(drop) + "\n")
            removed = subprocess.run(
                ["icupkg", "--ignore-deps", "-r", str(folder / "drop.txt"), str(full), str(small)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            # The root break rules name the word dictionaries; ICU loads one only for text in
            # its script and breaks that text without it when it is missing. Nothing else may
            # lose what it depends on.
            broken = [
                line for line in removed.stderr.splitlines()
                if "depends on missing item" in line and not line.endswith(".dict")
            ]  # fmt: skip
            if broken:
                raise RuntimeError(broken[0])
            candidate = folder / original.name
            build_library(small, symbol, original.name, candidate)
            check(candidate, original.parent, version)
            shutil.copyfile(candidate, out)
            os.utime(out)
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        return original, f"{type(exc).__name__}: {str(exc)[:200]}"
    return out, ""
