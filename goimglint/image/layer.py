"""Read one layer blob front to back and list its members, without extracting anything.

Uncompressed layers in a host file are read in place: each member's bytes stay where they
are and a ContentRef points at them. Compressed layers are decompressed once, as a stream;
the bytes of members that later stages may need (ELF files, ``#!`` scripts, files under
``/etc``) are copied to a spool file in the run's temp dir, everything else is skipped."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from goimglint.errors import InputError
from goimglint.image.fs import LayerMember, normalize_member_name
from goimglint.image.model import ContentRef, EntryKind

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# A layer that inflates more than this many times its stored size, past BOMB_FLOOR bytes,
# is treated as a decompression bomb rather than read to the end.
BOMB_RATIO = 1000
BOMB_FLOOR = 256 * 1024 * 1024
# Non-ELF files kept from compressed layers are capped: config files are small.
MAX_KEPT_TEXT = 16 * 1024 * 1024
KEEP_DIRS = ("/etc/",)
COPY_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A byte range of a host file holding one blob (a layer, config or manifest)."""

    host_path: str
    offset: int
    size: int

    def read_all(self, limit: int) -> bytes:
        if self.size > limit:
            raise InputError(f"blob of {self.size} bytes is larger than the {limit}-byte limit")
        with open(self.host_path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read(self.size)
        if len(data) != self.size:
            raise InputError(f"{self.host_path}: blob truncated ({len(data)} of {self.size} bytes)")
        return data


class FileWindow(io.RawIOBase):
    """A read-only, seekable view of ``size`` bytes at ``offset`` of a host file."""

    def __init__(self, fh: IO[bytes], offset: int, size: int) -> None:
        super().__init__()
        self._fh, self._base, self._size, self._pos = fh, offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            pos += self._pos
        elif whence == io.SEEK_END:
            pos += self._size
        self._pos = max(0, min(pos, self._size))
        return self._pos

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(buf), self._size - self._pos)
        if want <= 0:
            return 0
        self._fh.seek(self._base + self._pos)
        n = self._fh.readinto(memoryview(buf)[:want])
        if not n:
            return 0
        self._pos += n
        return n


class _BombGuard(io.RawIOBase):
    """Counts decompressed bytes and stops a stream that inflates beyond reason."""

    def __init__(self, inner: IO[bytes], stored: int, what: str) -> None:
        super().__init__()
        self._inner, self._limit, self._seen, self._what = inner, max(
            BOMB_FLOOR, stored * BOMB_RATIO), 0, what

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buf))
        n = len(data)
        self._seen += n
        if self._seen > self._limit:
            raise InputError(f"{self._what}: decompresses to over {self._limit} bytes "
                             f"(ratio over {BOMB_RATIO}), refusing a decompression bomb")
        memoryview(buf)[:n] = data
        return n


def sniff_compression(head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def _kind_of(info: tarfile.TarInfo) -> EntryKind | None:
    if info.isreg():
        return EntryKind.FILE
    if info.isdir():
        return EntryKind.DIR
    if info.issym():
        return EntryKind.SYMLINK
    if info.ischr():
        return EntryKind.CHAR
    if info.isblk():
        return EntryKind.BLOCK
    if info.isfifo():
        return EntryKind.FIFO
    return None


def _worth_keeping(path: str, magic: bytes, size: int) -> bool:
    if magic.startswith(b"\x7fELF"):
        return True
    if size > MAX_KEPT_TEXT:
        return False
    return magic.startswith(b"#!") or path.startswith(KEEP_DIRS)


@dataclass(slots=True)
class LayerScan:
    members: list[LayerMember]
    compression: str


def scan_layer(blob: BlobRef, spool_dir: str, label: str,
               on_bytes: Callable[[int], None] | None = None) -> LayerScan:
    """List every member of the layer stored in ``blob``; ``label`` names it in errors."""
    with open(blob.host_path, "rb") as fh:
        window = FileWindow(fh, blob.offset, blob.size)
        head = window.read(4) if blob.size else b""
        window.seek(0)
        compression = sniff_compression(head)
        try:
            if compression == "none":
                members = _scan_plain(window, blob, label)
            else:
                members = _scan_compressed(window, blob, compression, spool_dir, label)
        except InputError:
            raise
        except (tarfile.TarError, EOFError, zlib.error, OSError, ValueError) as exc:
            raise InputError(f"{label}: corrupt or truncated layer ({compression}): "
                             f"{_reason(exc)}") from None
    if on_bytes is not None:
        on_bytes(blob.size)
    return LayerScan(members, compression)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def _member(info: tarfile.TarInfo, kind: EntryKind, path: str, content: ContentRef | None,
            magic: bytes) -> LayerMember:
    hardlink = normalize_member_name(info.linkname) if info.islnk() else None
    return LayerMember(
        path=path,
        kind=kind,
        mode=info.mode & 0o7777,
        uid=info.uid,
        gid=info.gid,
        size=info.size if kind is EntryKind.FILE else 0,
        linkname=info.linkname if kind is EntryKind.SYMLINK else None,
        hardlink=hardlink,
        content=content,
        magic=magic,
    )


def _scan_plain(window: FileWindow, blob: BlobRef, label: str) -> list[LayerMember]:
    members: list[LayerMember] = []
    reader = io.BufferedReader(window, buffer_size=COPY_CHUNK)
    with tarfile.open(fileobj=reader, mode="r:", errorlevel=1) as tf:
        while True:
            info = tf.next()
            if info is None:
                break
            tf.members.clear()  # tarfile keeps every header otherwise; we keep our own list
            path = normalize_member_name(info.name)
            if path is None:
                continue
            kind = EntryKind.FILE if info.islnk() else _kind_of(info)
            if kind is None:
                continue
            content, magic = None, b""
            if info.isreg():
                if info.offset_data + info.size > blob.size:
                    raise InputError(f"{label}: {path} claims {info.size} bytes past the "
                                     "end of the layer")
                content = ContentRef(blob.host_path, blob.offset + info.offset_data, info.size)
                if info.size:
                    pos = reader.tell()
                    reader.seek(info.offset_data)
                    magic = reader.read(min(4, info.size))
                    reader.seek(pos)
            members.append(_member(info, kind, path, content, magic))
    return members


def _scan_compressed(window: FileWindow, blob: BlobRef, compression: str, spool_dir: str,
                     label: str) -> list[LayerMember]:
    stream: IO[bytes]
    if compression == "gzip":
        stream = gzip.GzipFile(fileobj=io.BufferedReader(window, COPY_CHUNK), mode="rb")
    else:
        import zstandard  # only zstd layers pay for the import

        stream = zstandard.ZstdDecompressor().stream_reader(
            io.BufferedReader(window, COPY_CHUNK), read_across_frames=True)
    guarded = io.BufferedReader(_BombGuard(stream, blob.size, label), COPY_CHUNK)
    members: list[LayerMember] = []
    spool_path = os.path.join(spool_dir, f"spool-{os.getpid()}-{id(members)}-{blob.offset}")
    spool: IO[bytes] | None = None
    try:
        with tarfile.open(fileobj=guarded, mode="r|", errorlevel=1) as tf:
            for info in tf:
                tf.members.clear()
                path = normalize_member_name(info.name)
                if path is None:
                    continue
                kind = EntryKind.FILE if info.islnk() else _kind_of(info)
                if kind is None:
                    continue
                content, magic = None, b""
                if info.isreg() and info.size:
                    src = tf.extractfile(info)
                    if src is None:
                        raise InputError(f"{label}: cannot read {path}")
                    magic = src.read(4)
                    if _worth_keeping(path, magic, info.size):
                        if spool is None:
                            spool = open(spool_path, "wb")
                        start = spool.tell()
                        spool.write(magic)
                        while chunk := src.read(COPY_CHUNK):
                            spool.write(chunk)
                        written = spool.tell() - start
                        if written != info.size:
                            raise InputError(f"{label}: {path} truncated "
                                             f"({written} of {info.size} bytes)")
                        content = ContentRef(spool_path, start, info.size)
                members.append(_member(info, kind, path, content, magic))
    finally:
        if spool is not None:
            spool.close()
    return members
