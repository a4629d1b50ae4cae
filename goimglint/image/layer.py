"""Read one layer blob front to back and list its members, without extracting anything.

Uncompressed layers in a host file are read in place: each member's bytes stay where they
are and a ContentRef points at them. Compressed layers are decompressed once, as a stream;
the bytes of members that later stages may need (ELF files, ``#!`` scripts, files under
``/etc``) are copied to a spool file in the run's temp dir, everything else is skipped."""

from __future__ import annotations

import functools
import io
import itertools
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from goimglint.errors import InputError
from goimglint.image.fs import LayerMember, normalize_member_name
from goimglint.image.model import ContentRef, EntryKind
from goimglint.image.tarstream import (
    BLOCKDEV,
    CHAR,
    DIRECTORY,
    FIFO,
    HARDLINK,
    SYMLINK,
    ByteStream,
    TarFormatError,
    TarMember,
    iter_tar,
)


def _fastest_zlib() -> Any:
    """ISA-L inflates gzip 2-3x faster than zlib, with the same API; zlib where it is absent."""
    try:
        from isal import isal_zlib

        return isal_zlib
    except ImportError:  # pragma: no cover - isal is a declared dependency on x86_64/aarch64
        return zlib


_zlib = _fastest_zlib()
INFLATE_ERRORS: tuple[type[BaseException], ...] = tuple({zlib.error, _zlib.error})

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# A layer that inflates more than this many times its stored size, past BOMB_FLOOR bytes,
# is treated as a decompression bomb rather than read to the end.
BOMB_RATIO = 1000
BOMB_FLOOR = 256 * 1024 * 1024
# Non-ELF files kept from compressed layers are capped: config files are small.
MAX_KEPT_TEXT = 16 * 1024 * 1024
# /usr/lib/os-release: Debian and Alpine make /etc/os-release a symlink to it.
KEEP_DIRS = ("/etc/", "/usr/lib/os-release")
COPY_CHUNK = 1024 * 1024
OUT_CHUNK = 4 * 1024 * 1024
# What one layer, and the whole image (archive.py), may make the merged filesystem hold:
# entries (implied parent directories included) and bytes of path names. A crafted layer of
# tiny or very deep entries is refused with one error instead of exhausting memory
# (docs/limits.md). A real image stays far below: 100,000 files, a few MB of names.
MAX_ENTRIES = 2_000_000
MAX_NAME_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A byte range of a host file holding one blob (a layer, config or manifest)."""

    host_path: str
    offset: int
    size: int

    def read_all(self, limit: int, what: str = "blob") -> bytes:
        """The whole blob (a manifest, index or config); ``what`` names it in errors."""
        if self.size > limit:
            raise InputError(f"{what} is {self.size} bytes, over the {limit}-byte limit for "
                             "JSON documents")
        with open(self.host_path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read(self.size)
        if len(data) != self.size:
            raise InputError(f"{what} is truncated ({len(data)} of {self.size} bytes)")
        return data


class FileWindow(io.RawIOBase):
    """A read-only, seekable view of ``size`` bytes at ``offset`` of a host file."""

    def __init__(self, fh: Any, offset: int, size: int) -> None:
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


KINDS = {
    ord("0"): EntryKind.FILE, HARDLINK: EntryKind.FILE, DIRECTORY: EntryKind.DIR,
    SYMLINK: EntryKind.SYMLINK, CHAR: EntryKind.CHAR, BLOCKDEV: EntryKind.BLOCK,
    FIFO: EntryKind.FIFO,
}


def sniff_compression(head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


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
    uncompressed_size: int = 0
    entries: int = 0  # members plus the distinct parent directories they imply
    name_bytes: int = 0  # bytes of those paths

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent from a worker process as plain tuples: pickle handles those in C, while a
        # named tuple costs a Python call per member each way (~1 s on 150,000 members).
        return (_rebuild_scan, (list(map(tuple, self.members)), self.compression,
                                self.uncompressed_size, self.entries, self.name_bytes))


_as_member = functools.partial(tuple.__new__, LayerMember)


def _rebuild_scan(members: list[tuple[Any, ...]], compression: str, uncompressed_size: int,
                  entries: int, name_bytes: int) -> LayerScan:
    return LayerScan(list(map(_as_member, members)), compression, uncompressed_size, entries,
                     name_bytes)


class _NameBudget:
    """Counts the entries and path bytes a layer adds, implied parents included, and stops
    the read when a limit is passed (a 1 MiB PAX path implies ~500,000 directories)."""

    __slots__ = ("label", "entries", "name_bytes", "_dirs")

    def __init__(self, label: str) -> None:
        self.label, self.entries, self.name_bytes = label, 0, 0
        self._dirs: set[str] = set()

    def add(self, path: str) -> None:
        self.entries += 1
        self.name_bytes += len(path)
        parent = path.rpartition("/")[0]
        while parent and parent not in self._dirs:
            self._dirs.add(parent)
            self.entries += 1
            self.name_bytes += len(parent)
            if self.name_bytes > MAX_NAME_BYTES:
                break
            parent = parent.rpartition("/")[0]
        if self.entries > MAX_ENTRIES or self.name_bytes > MAX_NAME_BYTES:
            raise InputError(limit_error(self.label, self.entries, self.name_bytes))


def limit_error(label: str, entries: int, name_bytes: int) -> str:
    if entries > MAX_ENTRIES:
        return (f"{label}: more than {MAX_ENTRIES} files and directories; refusing to hold "
                "them all (see docs/limits.md)")
    return (f"{label}: more than {MAX_NAME_BYTES // (1024 * 1024)} MiB of path names (very "
            "deep or very many paths); refusing to hold them all (see docs/limits.md)")


class WindowStream:
    """ByteStream's interface over an uncompressed layer in a host file: skipping a member's
    data is a seek, not a read."""

    __slots__ = ("_reader", "_size", "offset")

    def __init__(self, reader: io.BufferedReader, size: int) -> None:
        self._reader, self._size, self.offset = reader, size, 0

    def read(self, n: int) -> bytes:
        data = self._reader.read(n)
        self.offset += len(data)
        return data

    def skip(self, n: int) -> int:
        target = min(self.offset + n, self._size)
        self._reader.seek(target)
        done, self.offset = target - self.offset, target
        return done

    def copy(self, n: int, write: Callable[[bytes], object]) -> int:
        data = self.read(n)
        write(data)
        return len(data)


def _raw_chunks(fh: IO[bytes], offset: int, size: int) -> Iterator[bytes]:
    fh.seek(offset)
    left = size
    while left > 0:
        chunk = fh.read(min(COPY_CHUNK, left))
        if not chunk:
            raise InputError("layer blob ends before its recorded size")
        left -= len(chunk)
        yield chunk


def _gzip_chunks(raw: Iterator[bytes], limit: int, label: str) -> Iterator[bytes]:
    """Inflate a (possibly multi-member) gzip stream in bounded pieces."""
    inflater: Any = _zlib.decompressobj(31)
    total = 0
    pending = b""
    for data in raw:
        pending = data
        while pending:
            out = inflater.decompress(pending, OUT_CHUNK)
            pending = inflater.unconsumed_tail
            total += len(out)
            if total > limit:
                raise _bomb(label, limit)
            if out:
                yield out
            if inflater.eof:
                rest = inflater.unused_data + pending
                if not rest.startswith(GZIP_MAGIC):
                    # gzip(1) ignores trailing padding after the last member; so do we.
                    return
                inflater = _zlib.decompressobj(31)
                pending = rest
    if not inflater.eof:
        raise InputError(f"{label}: gzip stream is truncated (unexpected end of data)")


def _zstd_chunks(fh: IO[bytes], blob: BlobRef, limit: int, label: str) -> Iterator[bytes]:
    import zstandard  # only zstd layers pay for the import

    window = io.BufferedReader(FileWindow(fh, blob.offset, blob.size), COPY_CHUNK)
    reader = zstandard.ZstdDecompressor().stream_reader(window, read_across_frames=True)
    total = 0
    try:
        while chunk := reader.read(OUT_CHUNK):
            total += len(chunk)
            if total > limit:
                raise _bomb(label, limit)
            yield chunk
    except zstandard.ZstdError as exc:
        raise InputError(f"{label}: corrupt zstd stream ({exc})") from None


def _bomb(label: str, limit: int) -> InputError:
    return InputError(f"{label}: decompresses to over {limit} bytes (ratio over {BOMB_RATIO}); "
                      "refusing a decompression bomb")


_SPOOL_IDS = itertools.count()


def scan_layer(blob: BlobRef, spool_dir: str, label: str) -> LayerScan:
    """List every member of the layer stored in ``blob``; ``label`` names it in errors."""
    with open(blob.host_path, "rb") as fh:
        fh.seek(blob.offset)
        compression = sniff_compression(fh.read(4) if blob.size else b"")
        limit = max(BOMB_FLOOR, blob.size * BOMB_RATIO)
        stream: Any
        if compression == "none":
            window = FileWindow(fh, blob.offset, blob.size)
            stream = WindowStream(io.BufferedReader(window, 64 * 1024), blob.size)
        elif compression == "gzip":
            stream = ByteStream(_gzip_chunks(_raw_chunks(fh, blob.offset, blob.size), limit,
                                             label))
        else:
            stream = ByteStream(_zstd_chunks(fh, blob, limit, label))
        # A fresh name per scan: offsets repeat across OCI blob files and id() is reused
        # once a stream is freed, and an earlier layer's spool must never be overwritten.
        spool = _Spool(os.path.join(spool_dir, f"layer-{os.getpid()}-{next(_SPOOL_IDS)}"))
        budget = _NameBudget(label)
        try:
            members = _read_members(stream, blob, compression, spool, label, budget)
        except TarFormatError as exc:
            raise InputError(f"{label}: corrupt or truncated layer ({compression}): "
                             f"{exc}") from None
        except INFLATE_ERRORS as exc:
            raise InputError(f"{label}: corrupt gzip stream ({exc})") from None
        except OSError as exc:
            if type(exc).__module__.startswith("isal") or "gzip" in str(exc).lower():
                raise InputError(f"{label}: corrupt gzip stream ({exc})") from None
            raise
        finally:
            spool.close()
    return LayerScan(members, compression, stream.offset, budget.entries, budget.name_bytes)


class _Spool:
    """Append-only file holding the kept bytes of one compressed layer."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fh: IO[bytes] | None = None

    def writer(self) -> IO[bytes]:
        if self._fh is None:
            self._fh = open(self.path, "wb")
        return self._fh

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _read_members(stream: Any, blob: BlobRef, compression: str, spool: _Spool, label: str,
                  budget: _NameBudget) -> list[LayerMember]:
    members: list[LayerMember] = []
    in_place = compression == "none"
    for m in iter_tar(stream):
        path = normalize_member_name(m.name)
        kind = KINDS.get(m.type)
        if path is None or kind is None:
            continue
        budget.add(path)
        content, magic = None, b""
        if m.type == ord("0"):
            if in_place:
                if m.offset + m.size > blob.size:
                    raise InputError(f"{label}: {path} claims {m.size} bytes past the end of "
                                     "the layer")
                content = ContentRef(blob.host_path, blob.offset + m.offset, m.size)
                magic = stream.read(min(4, m.size))
            elif m.size:
                magic = stream.read(min(4, m.size))
                if _worth_keeping(path, magic, m.size):
                    content = _keep(stream, spool, magic, m, label, path)
        members.append(_member(m, kind, path, content, magic))
    return members


def _keep(stream: Any, spool: _Spool, magic: bytes, m: TarMember, label: str, path: str
          ) -> ContentRef:
    out = spool.writer()
    start = out.tell()
    out.write(magic)
    copied = stream.copy(m.size - len(magic), out.write)
    if copied + len(magic) != m.size:
        raise InputError(f"{label}: {path} truncated ({copied + len(magic)} of {m.size} bytes)")
    return ContentRef(spool.path, start, m.size)


def _member(m: TarMember, kind: EntryKind, path: str, content: ContentRef | None,
            magic: bytes) -> LayerMember:
    return LayerMember(
        path=path,
        kind=kind,
        mode=m.mode,
        uid=m.uid,
        gid=m.gid,
        size=m.size if kind is EntryKind.FILE and m.type == ord("0") else 0,
        linkname=m.linkname if kind is EntryKind.SYMLINK else None,
        hardlink=normalize_member_name(m.linkname) if m.type == HARDLINK else None,
        content=content,
        magic=magic,
    )
