"""Hostile inputs built byte by byte: tar headers Python's tarfile refuses to write (``..``,
NUL and non-UTF-8 names, lying sizes, hand-made sparse and long-name records), docker-archive
wrappers around them, and ELF / ld.so.cache / build-info blobs with absurd fields.

Written from the format specifications (POSIX ustar/pax, GNU tar, ELF gABI, glibc
dl-cache.h, Go debug/buildinfo), independently of goimglint's readers."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

BLOCK = 512
EOF = b"\x00" * (2 * BLOCK)


def _octal(value: int, width: int) -> bytes:
    """A NUL-terminated octal field; base-256 (GNU) when the value does not fit."""
    text = b"%0*o" % (width - 1, value)
    if len(text) <= width - 1 and value >= 0:
        return text + b"\x00"
    raw = value.to_bytes(width, "big", signed=True)
    return bytes([raw[0] | 0x80]) + raw[1:] if value >= 0 else raw


def header(name: bytes | str, size: int = 0, typeflag: bytes = b"0", linkname: bytes | str = b"",
           mode: int = 0o644, prefix: bytes = b"", size_field: bytes | None = None,
           uid: int = 0, gid: int = 0, extra: dict[int, bytes] | None = None,
           checksum: bool = True) -> bytes:
    """One 512-byte ustar header with a correct checksum (unless ``checksum`` is False).
    ``name`` longer than 100 bytes is cut: use pax() or gnu_long() to carry long names."""
    if isinstance(name, str):
        name = name.encode("utf-8", "surrogateescape")
    if isinstance(linkname, str):
        linkname = linkname.encode("utf-8", "surrogateescape")
    h = bytearray(BLOCK)
    h[0:100] = name[:100].ljust(100, b"\x00")
    h[100:108] = _octal(mode, 8)
    h[108:116] = _octal(uid, 8)
    h[116:124] = _octal(gid, 8)
    h[124:136] = size_field if size_field is not None else _octal(size, 12)
    h[136:148] = _octal(0, 12)
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[157:257] = linkname[:100].ljust(100, b"\x00")
    h[257:265] = b"ustar\x0000"
    h[265:297] = b"root".ljust(32, b"\x00")
    h[297:329] = b"root".ljust(32, b"\x00")
    h[345:500] = prefix[:155].ljust(155, b"\x00")
    for off, raw in (extra or {}).items():
        h[off:off + len(raw)] = raw
    if checksum:
        h[148:156] = b"%06o\x00 " % sum(h)
    return bytes(h)


def pad(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % BLOCK)


def member(name: bytes | str, data: bytes = b"", typeflag: bytes = b"0",
           linkname: bytes | str = b"", mode: int = 0o644, **kw: object) -> bytes:
    size = 0 if typeflag in (b"1", b"2", b"3", b"4", b"5", b"6") else len(data)
    return header(name, size, typeflag, linkname, mode, **kw) + pad(data)  # type: ignore[arg-type]


def pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n).encode()) + len(body) != n:
        n = len(str(n).encode()) + len(body)
    return str(n).encode() + body


def pax(records: dict[bytes, bytes], typeflag: bytes = b"x") -> bytes:
    data = b"".join(pax_record(k, v) for k, v in records.items())
    return header(b"PaxHeaders/x", len(data), typeflag) + pad(data)


def gnu_long(name: bytes, typeflag: bytes = b"L") -> bytes:
    data = name + b"\x00"
    return header(b"././@LongLink", len(data), typeflag) + pad(data)


def tar(members: Iterable[bytes]) -> bytes:
    return b"".join(members) + EOF


# -- images ---------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Config:
    entrypoint: list[str] | None = None
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/local/bin:/usr/bin:/bin"])
    user: str = ""
    architecture: str = "amd64"

    def doc(self, layers: list[bytes]) -> dict[str, object]:
        return {
            "architecture": self.architecture, "os": "linux",
            "config": {"Env": self.env, "Entrypoint": self.entrypoint, "User": self.user},
            "rootfs": {"type": "layers", "diff_ids": [sha256(b) for b in layers]},
            "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
        }


def docker_archive(layers: list[bytes], config: Config | None = None,
                   manifest: object | None = None, extra: Iterable[bytes] = ()) -> bytes:
    """A docker-archive tar (manifest.json, config, one ``<n>/layer.tar`` per layer blob).
    ``manifest`` replaces the generated manifest.json document; ``extra`` are raw members."""
    cfg = json.dumps((config or Config()).doc(layers)).encode()
    names = [f"{i}/layer.tar" for i in range(len(layers))]
    doc = manifest if manifest is not None else [
        {"Config": "config.json", "RepoTags": ["hostile:latest"], "Layers": names}]
    parts = [member("manifest.json", json.dumps(doc).encode()), member("config.json", cfg)]
    parts += [member(n, blob) for n, blob in zip(names, layers, strict=True)]
    parts += list(extra)
    return tar(parts)


def docker_archive_stream(layer_chunks: Iterator[bytes], layer_size: int,
                          config: Config | None = None) -> Iterator[bytes]:
    """A one-layer docker-archive whose layer bytes come from an iterator (for layers too
    big to hold in memory); ``layer_size`` must be their exact total."""
    cfg = json.dumps((config or Config()).doc([])).encode()
    doc = [{"Config": "config.json", "RepoTags": ["big:latest"], "Layers": ["0/layer.tar"]}]
    yield member("manifest.json", json.dumps(doc).encode()) + member("config.json", cfg)
    yield header("0/layer.tar", layer_size)
    done = 0
    for chunk in layer_chunks:
        done += len(chunk)
        yield chunk
    assert done == layer_size, (done, layer_size)
    yield b"\x00" * (-layer_size % BLOCK) + EOF


def oci_archive(index: object, blobs: dict[str, bytes]) -> bytes:
    """An OCI archive tar with the given index.json document and ``blobs/sha256/<hex>``."""
    parts = [member("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
             member("index.json", json.dumps(index).encode())]
    for digest, data in blobs.items():
        alg, _, hexpart = digest.partition(":")
        parts.append(member(f"blobs/{alg}/{hexpart}", data))
    return tar(parts)


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


def gzip_stream(chunks: Iterable[bytes], level: int = 1) -> Iterator[bytes]:
    """gzip of the concatenated chunks, produced incrementally."""
    co = zlib.compressobj(level, zlib.DEFLATED, 31)
    for chunk in chunks:
        out = co.compress(chunk)
        if out:
            yield out
    yield co.flush()


def zeros(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    block = b"\x00" * chunk
    while total > 0:
        n = min(total, chunk)
        yield block if n == chunk else block[:n]
        total -= n


def tiny_files_tar(count: int, per_dir: int = 1000) -> Iterator[bytes]:
    """An uncompressed layer of ``count`` empty files, ``per_dir`` per directory, built from
    one template header (only name and checksum change) so a million of them take seconds."""
    template = bytearray(header(b"", 0))
    template[148:156] = b" " * 8
    base = sum(template)
    buf = io.BytesIO()
    for i in range(count):
        if i % per_dir == 0:
            name = b"d%d/" % (i // per_dir)
            h = bytearray(header(name, 0, b"5", mode=0o755))
            buf.write(h)
        name = b"d%d/f%d" % (i // per_dir, i)
        h = bytearray(template)
        h[0:len(name)] = name
        h[148:156] = b"%06o\x00 " % (base + sum(name))
        buf.write(h)
        if buf.tell() >= 1 << 20:
            yield buf.getvalue()
            buf = io.BytesIO()
    buf.write(EOF)
    yield buf.getvalue()


# -- ELF ------------------------------------------------------------------------------------


def elf64(phdrs: list[tuple[int, int, int, int, int, int]] = (),  # type: ignore[assignment]
          body: bytes = b"", e_phnum: int | None = None, e_shnum: int = 0, e_shoff: int = 0,
          e_shentsize: int = 64, e_shstrndx: int = 0, e_phentsize: int = 56,
          e_phoff: int = 64, entry: int = 0x401000, e_type: int = 2) -> bytes:
    """A little-endian x86-64 ELF: header, program headers (type, flags, offset, vaddr,
    filesz, memsz) right after it, then ``body``. Counts and offsets may lie."""
    ph = b"".join(struct.pack("<IIQQQQQQ", t, f, off, va, fs, ms, va, 0x1000)
                  for t, f, off, va, fs, ms in phdrs)
    head = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\x00" * 8
    head += struct.pack("<HHIQQQIHHHHHH", e_type, 62, 1, entry, e_phoff if phdrs or e_phnum
                        else 0, e_shoff, 0, 64, e_phentsize,
                        len(phdrs) if e_phnum is None else e_phnum, e_shentsize, e_shnum,
                        e_shstrndx)
    return head + ph + body


def ld_cache_new(nlibs: int, entries: bytes = b"", strings: bytes = b"") -> bytes:
    """glibc-ld.so.cache1.1 header claiming ``nlibs`` entries, then raw entries and strings."""
    head = b"glibc-ld.so.cache1.1" + struct.pack("<II", nlibs, len(strings))
    head += bytes([2]) + b"\x00" * 3 + struct.pack("<I", 0) + b"\x00" * 12
    assert len(head) == 48
    return head + entries + strings


def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)
