"""Rewrite real Go binaries into forms no toolchain here produces: the pre-1.18 pointer build
info format, section headers removed. Written from the format description in Go's
debug/buildinfo, independently of goimglint's reader."""

from __future__ import annotations

import struct

from goimglint.facts.elf import parse_elf

MAGIC = b"\xff Go buildinf:"


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def inline_strings(data: bytes) -> tuple[int, int, bytes, bytes]:
    """(file offset, vaddr, version, modinfo with sentinels) of an inline-format blob."""
    elf = parse_elf(data)
    sec = elf.section(".go.buildinfo")
    assert sec is not None, "binary has no .go.buildinfo section"
    at = data.index(MAGIC, sec.offset)
    assert data[at + 15] & 2, "not the inline format"
    n, pos = _uvarint(data, at + 32)
    vers = data[pos : pos + n]
    n, pos = _uvarint(data, pos + len(vers))
    mod = data[pos : pos + n]
    return at, sec.addr + (at - sec.offset), vers, mod


def to_pointer_format(data: bytes, version: bytes | None = None) -> bytes:
    """The same binary with its build info in the Go 1.13-1.17 pointer layout: header with
    two pointers to Go string headers ``{ptr, len}``, which point at the string bytes. All of
    it is written over the blob's place (the bytes after it in the same writable segment are
    data the reader never needs)."""
    elf = parse_elf(data)
    at, vaddr, vers, mod = inline_strings(data)
    if version is not None:
        vers = version
    ps = elf.elf_class // 8
    order = "<" if elf.little_endian else ">"
    word = "I" if ps == 4 else "Q"
    flags = 0 if elf.little_endian else 1  # pointer format: bit 1 clear
    hdr_vers = vaddr + 32
    hdr_mod = hdr_vers + 2 * ps
    str_vers = hdr_mod + 2 * ps
    str_mod = str_vers + len(vers)
    blob = bytearray(MAGIC + bytes([ps, flags]))
    blob += struct.pack(order + word * 2, hdr_vers, hdr_mod)
    blob += b"\x00" * (32 - len(blob))
    blob += struct.pack(order + word * 2, str_vers, len(vers))
    blob += struct.pack(order + word * 2, str_mod, len(mod))
    blob += vers + mod
    out = bytearray(data)
    out[at : at + len(blob)] = blob
    return bytes(out)


def drop_section_headers(data: bytes) -> bytes:
    """The binary with e_shoff, e_shnum and e_shstrndx zeroed: no section headers."""
    out = bytearray(data)
    order = "<" if data[5] == 1 else ">"
    if data[4] == 2:
        struct.pack_into(order + "Q", out, 0x28, 0)
        struct.pack_into(order + "HH", out, 0x3C, 0, 0)
    else:
        struct.pack_into(order + "I", out, 0x20, 0)
        struct.pack_into(order + "HH", out, 0x30, 0, 0)
    return bytes(out)
