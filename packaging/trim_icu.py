"""Rebuild Qt's libicudata with only the ICU data a Qt Widgets app uses (32 MB -> ~5 MB).

QtCore links ICU (libicui18n, libicuuc, libicudata), so the library must be there, but
ingest_gui needs little of its data: Qt formats numbers, dates and locale names from its
own CLDR tables and shapes text with HarfBuzz. What Qt asks ICU for is collation
(QCollator, the file dialog's sorting), case mapping (QLocale::toUpper), normalisation,
IDNA, time-zone names and legacy text codecs. We keep every locale-independent table,
the root and English locales of each tree (ICU falls back to root for the others), the
collation root (UCA), break rules without the CJK/Thai dictionaries, and the time-zone
tables; we drop per-locale display names, per-locale collations, transliterators,
spell-out rules and legacy codecs (Qt falls back to its own UTF-8/16/32 and Latin-1).

    python packaging/trim_icu.py path/to/libicudata.so.73 [--out FILE]

The data is ICU's "common data" package (a table of contents of named items) exported
as one symbol, icudt<version>_dat; we read it out of the ELF file, filter the items and
link a new shared library exporting the same symbol under the same soname (needs gcc).
"""

from __future__ import annotations

import argparse
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

LOCALE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]+)*$")  # af, en_US, zh_Hant_TW, ...
KEEP_LOCALES = {"root", "en", "en_US", "en_US_POSIX", "res_index", "pool"}
DROP_TREES = {"translit", "rbnf"}  # transliterators, spelled-out numbers: unused by Qt
NAME_TREES = {"coll", "zone", "curr", "lang", "region", "unit", "brkitr"}


def keep(item: str) -> bool:
    """Whether an item ('icudt73l/coll/de.res') stays in the trimmed data."""
    path = item.split("/", 1)[1]
    tree, _, leaf = path.rpartition("/")
    stem, _, ext = leaf.rpartition(".")
    if tree in DROP_TREES or ext == "cnv" or ext == "dict":
        return False
    if tree in NAME_TREES or tree == "":
        return ext != "res" or not LOCALE.match(stem) or stem in KEEP_LOCALES
    return True


# reading the ELF file ------------------------------------------------------------------
def _sections(elf: bytes) -> list[tuple[int, int, int, int, int, int]]:
    """(name, type, addr, offset, size, link) of every section of a little-endian ELF64."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise ValueError("not a little-endian 64-bit ELF file")
    shoff = struct.unpack_from("<Q", elf, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", elf, 0x3A)
    out = []
    for i in range(shnum):
        name, kind, _flags, addr, offset, size, link = struct.unpack_from(
            "<IIQQQQI", elf, shoff + i * shentsize
        )
        out.append((name, kind, addr, offset, size, link))
    return out


def find_data(elf: bytes) -> tuple[str, int, int]:
    """(symbol name, file offset, size) of the exported icudt*_dat symbol."""
    sections = _sections(elf)
    dynsym = next(s for s in sections if s[1] == 11)  # SHT_DYNSYM
    strtab = sections[dynsym[5]]
    for pos in range(dynsym[3], dynsym[3] + dynsym[4], 24):
        st_name, _info, _other, shndx, value, size = struct.unpack_from("<IBBHQQ", elf, pos)
        end = elf.index(b"\0", strtab[3] + st_name)
        name = elf[strtab[3] + st_name : end].decode()
        if name.startswith("icudt") and name.endswith("_dat"):
            sec = sections[shndx]
            return name, value - sec[2] + sec[3], size
    raise ValueError("no icudt*_dat symbol: not an ICU data library")


# the common data package ----------------------------------------------------------------
def split_package(blob: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The package header and its (name, bytes) items in table-of-contents order."""
    header_size, magic1, magic2 = struct.unpack_from("<HBB", blob, 0)
    if (magic1, magic2) != (0xDA, 0x27) or blob[12:16] != b"CmnD":
        raise ValueError("not an ICU common data package")
    toc = blob[header_size:]
    count = struct.unpack_from("<I", toc, 0)[0]
    entries = [struct.unpack_from("<II", toc, 4 + 8 * i) for i in range(count)]
    starts = sorted(offset for _name, offset in entries) + [len(toc)]
    following = dict(zip(starts, starts[1:], strict=False))
    items = []
    for name_off, data_off in entries:
        name = toc[name_off : toc.index(b"\0", name_off)].decode("ascii")
        items.append((name, toc[data_off : following[data_off]]))
    return blob[:header_size], items


def join_package(header: bytes, items: list[tuple[str, bytes]]) -> bytes:
    """A package of these items; offsets are relative to the table, items 16-byte aligned."""
    names = b"".join(name.encode("ascii") + b"\0" for name, _data in items)
    table_size = 4 + 8 * len(items)
    data_start = _align(len(header) + table_size + len(names)) - len(header)
    entries, body, name_off = [], bytearray(), table_size
    for name, data in items:
        entries.append(struct.pack("<II", name_off, data_start + len(body)))
        name_off += len(name) + 1
        body += data + b"\0" * (_align(len(data)) - len(data))
    table = struct.pack("<I", len(items)) + b"".join(entries) + names
    table += b"\0" * (data_start - len(table))
    return header + table + bytes(body)


def _align(n: int, to: int = 16) -> int:
    return (n + to - 1) // to * to


# linking ------------------------------------------------------------------------------------
def link(symbol: str, blob: bytes, soname: str, out: Path) -> None:
    """A shared library exporting `symbol` = blob, like ICU's own data library."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler (cc/gcc) to link the trimmed ICU data")
    with tempfile.TemporaryDirectory() as tmp:
        data, asm = Path(tmp) / "icudata.bin", Path(tmp) / "icudata.S"
        data.write_bytes(blob)
        asm.write_text(
            "\t.section .rodata\n\t.balign 16\n"
            f"\t.globl {symbol}\n\t.type {symbol}, @object\n{symbol}:\n"
            f'\t.incbin "{data}"\n\t.size {symbol}, . - {symbol}\n'
            '\t.section .note.GNU-stack,"",@progbits\n'
        )
        subprocess.run(
            [cc, "-shared", "-nostdlib", f"-Wl,-soname,{soname}", "-Wl,-z,noexecstack",
             "-o", str(out), str(asm)],
            check=True,
        )


def trim(lib: Path, out: Path | None = None) -> tuple[int, int]:
    """Write the trimmed library (over `lib` by default); returns (bytes before, after)."""
    elf = lib.read_bytes()
    symbol, offset, size = find_data(elf)
    header, items = split_package(elf[offset : offset + size])
    kept = [(name, data) for name, data in items if keep(name)]
    target = out or lib
    tmp = target.with_name(target.name + ".trimmed")
    link(symbol, join_package(header, kept), lib.name, tmp)
    _, check = split_package(_read_back(tmp))
    if [n for n, _d in check] != [n for n, _d in kept]:
        raise RuntimeError("the trimmed ICU data does not read back identically")
    tmp.replace(target)
    print(f"{lib.name}: kept {len(kept)} of {len(items)} ICU items, "
          f"{len(elf) / 1e6:.1f} MB -> {target.stat().st_size / 1e6:.1f} MB")
    return len(elf), target.stat().st_size


def _read_back(path: Path) -> bytes:
    elf = path.read_bytes()
    _symbol, offset, size = find_data(elf)
    return elf[offset : offset + size]


def main(argv: list[str] | None = None) -> int:
    """Command line: trim one libicudata in place (or into --out)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("library", type=Path)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    trim(args.library, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
