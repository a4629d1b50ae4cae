"""Fuzz the binary parsers: ELF facts (parse_elf, then everything the facts stage derives from
an accepted file), Go build info (blob and modinfo text) and the Go function table.

Seeds are real binaries (the Go fixture, static and cgo, and a Debian system binary) mutated
where the parsers look: the headers, the build-info blob, the function-table header and the
dynamic section. Only ElfError / BuildInfoError / PclntabError may come out."""

from __future__ import annotations

import shutil
import struct
from functools import lru_cache

from hypothesis import strategies as st

from fixtures.gobuild import go_build
from goimglint.facts.elf import PT_DYNAMIC, PT_LOAD, ElfError, parse_elf
from goimglint.facts.gobuildinfo import (
    MAGIC,
    BuildInfo,
    BuildInfoError,
    parse_modinfo,
    read_buildinfo,
)
from goimglint.facts.gofacts import collect_go_facts
from goimglint.facts.pclntab import MAGICS, PclntabError, find_pclntab, parse_pclntab
from tests.fuzz.harness import fuzz
from tests.hostile.craft import elf64


@lru_cache(maxsize=1)
def seeds() -> list[tuple[bytes, list[int]]]:
    """(binary, offsets worth mutating) for each seed."""
    paths = [go_build("hello", ldflags="-s -w", flags=("-trimpath", "-buildvcs=false")),
             go_build("hello", env={"CGO_ENABLED": "1"}, flags=("-trimpath", "-buildvcs=false"))]
    system = shutil.which("ls")
    out = []
    for path in [*map(str, paths), *([system] if system else [])]:
        with open(path, "rb") as fh:
            data = fh.read()
        elf = parse_elf(data)
        spots = [0, 16, 32, 48, 64]
        for seg in elf.segments:
            if seg.type in (PT_DYNAMIC,):
                spots += [seg.offset + i * 16 for i in range(8)]
        for name in (".go.buildinfo", ".gopclntab", ".dynstr", ".gnu.version_r", ".dynamic"):
            sec = elf.section(name)
            if sec is not None:
                spots += [sec.offset + i for i in (0, 8, 14, 15, 16, 24, 32, 33, 40, 48)]
        out.append((data, spots))
    return out


@st.composite
def mutated_elves(draw: st.DrawFn) -> bytes:
    data, spots = draw(st.sampled_from(seeds()))
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.sampled_from(spots)) + draw(st.integers(0, 15))
        width = draw(st.sampled_from([1, 2, 4, 8]))
        value = draw(st.one_of(st.integers(0, 255), st.sampled_from([0, 1, 0xFF, 0x7F, 0x80]),
                               st.integers(0, (1 << (8 * width)) - 1)))
        if at + width <= len(buf):
            buf[at:at + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
    if draw(st.integers(0, 4)) == 0:
        buf = buf[: draw(st.integers(0, len(buf)))]
    return bytes(buf)


@st.composite
def crafted_elves(draw: st.DrawFn) -> bytes:
    phdrs = draw(st.lists(st.tuples(
        st.sampled_from([PT_LOAD, PT_DYNAMIC, 3, 4, 0x6474E551, 7]), st.integers(0, 7),
        st.integers(0, 4096), st.integers(0, 1 << 32), st.integers(0, 8192),
        st.integers(0, 8192)), max_size=5))
    body = draw(st.binary(max_size=2048))
    return elf64(phdrs, body=body, e_shnum=draw(st.integers(0, 8)),
                 e_shoff=draw(st.integers(0, 4096)), e_shstrndx=draw(st.integers(0, 9)),
                 e_type=draw(st.sampled_from([2, 3, 1, 0xFFFF])))


@fuzz("elf-facts", 300, st.one_of(mutated_elves(), crafted_elves()))
def test_fuzz_elf_facts(data: bytes) -> None:
    try:
        elf = parse_elf(data)
    except ElfError:
        return
    _ = (elf.kind, elf.is_static, elf.stripped, elf.machine_name)
    for s in elf.sections[:50]:
        elf.section_bytes(data, s.name)
    collect_go_facts(data, elf)  # catches its parsers' own errors, nothing else


def _buildinfo_elf(blob: bytes, extra_load: bool) -> bytes:
    off = 64 + 56 * 2
    loads = [(PT_LOAD, 6, off, 0x500000, len(blob), len(blob))]
    loads.append((PT_LOAD, 4, 0, 0x400000, off + len(blob), off + len(blob)) if extra_load
                 else (7, 4, 0, 0, 0, 0))
    return elf64(loads, body=blob)


@st.composite
def buildinfo_blobs(draw: st.DrawFn) -> bytes:
    head = MAGIC + bytes([draw(st.sampled_from([4, 8, 0, 255])),
                          draw(st.sampled_from([0, 1, 2, 3, 0xFF]))])
    head = head.ljust(16, b"\x00")
    words = draw(st.lists(st.one_of(st.integers(0, 64), st.integers(0x500000, 0x500100),
                                    st.integers(0, (1 << 64) - 1)), min_size=2, max_size=6))
    body = b"".join(struct.pack("<Q", w) for w in words)
    tail = draw(st.binary(max_size=300))
    version = draw(st.sampled_from([b"", b"go1.22.1", b"devel go1.23-abc", b"\xff"]))
    varint_part = bytes([len(version)]) + version + draw(st.binary(max_size=12))
    return head + body[:16] + varint_part + tail


@fuzz("build-info", 400, buildinfo_blobs(), st.booleans())
def test_fuzz_build_info_blob(blob: bytes, extra_load: bool) -> None:
    data = _buildinfo_elf(blob, extra_load)
    elf = parse_elf(data)
    try:
        read_buildinfo(data, elf)
    except BuildInfoError:
        pass


modinfo_text = st.lists(st.one_of(
    st.sampled_from(["path\tx", "mod\ta\tv1\th1:", "dep\tb\tv2", "=>\tc\tv3\th", "=>\t",
                     "build\tGOOS=linux", 'build\t"k\\x41"="v\\u00e9"', "build\t`k`=`v`",
                     'build\t"unterminated=1', "build\t=", "build\t", 'build\tk="\\xZZ"',
                     'build\tk="\\777"', 'build\tk="\\U0010FFFF"', 'build\tk="\\U00110000"']),
    st.text(alphabet='\t"`\\=xuU0127abcdefnpathmodbuild ', max_size=40)), max_size=8
).map(lambda lines: "\n".join(lines) + "\n")


@fuzz("modinfo", 600, modinfo_text)
def test_fuzz_modinfo(text: str) -> None:
    try:
        parse_modinfo(text, BuildInfo("go1.22"))
    except BuildInfoError:
        pass


@st.composite
def function_tables(draw: st.DrawFn) -> bytes:
    magic = draw(st.sampled_from(sorted(MAGICS)))
    ps = draw(st.sampled_from([4, 8]))
    big = draw(st.booleans())
    order = ">" if big else "<"
    head = struct.pack(order + "I", magic) + bytes([0, 0, draw(st.sampled_from([1, 2, 4])),
                                                      ps])
    word = "I" if ps == 4 else "Q"
    limit = (1 << (8 * ps)) - 1
    words = draw(st.lists(st.one_of(st.integers(0, 400), st.integers(0, limit)), min_size=8,
                          max_size=8))
    body = b"".join(struct.pack(order + word, w) for w in words)
    tail = draw(st.binary(max_size=500))
    names = b"\x00".join(draw(st.lists(st.sampled_from(
        [b"runtime.main", b"net.(*conf).hostLookupOrder", b"os/user.Current", b"\xff"]),
        max_size=4)))
    return head + body + names + tail


@fuzz("pclntab", 500, function_tables(), st.binary(max_size=64))
def test_fuzz_function_table(table: bytes, prefix: bytes) -> None:
    try:
        parse_pclntab(table)
    except PclntabError:
        pass
    find_pclntab(prefix + table + prefix, None)  # the scan: never raises
