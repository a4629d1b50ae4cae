"""A small, strict tar reader for layer streams: one pass, front to back, headers only
unless the caller asks for a member's bytes.

Python's tarfile costs tens of microseconds per member and reads compressed streams in small
pieces; layers hold tens of thousands of members, so this reader parses the 512-byte headers
itself (ustar, GNU long names, PAX records, base-256 numbers, old GNU sparse) from large
decompressed chunks. Anything inconsistent raises TarFormatError."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol
from zlib import adler32 as _adler32

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
_NO_PAX: dict[str, str] = {}
# A PAX or GNU long-name record larger than this is hostile, not a path.
MAX_META = 1024 * 1024

REGULAR = frozenset(b"07\x00")
HARDLINK, SYMLINK, CHAR, BLOCKDEV, DIRECTORY, FIFO = (ord(c) for c in "123456")
GNU_LONGNAME, GNU_LONGLINK, GNU_SPARSE = ord("L"), ord("K"), ord("S")
PAX_HEADER, PAX_GLOBAL, SOLARIS_PAX = ord("x"), ord("g"), ord("X")


class TarFormatError(ValueError):
    """The bytes are not a well-formed tar stream."""


@dataclass(slots=True)
class TarMember:
    name: str
    type: int  # typeflag byte, normalised: regular files are ord("0")
    mode: int
    uid: int
    gid: int
    size: int  # bytes of data stored in the archive
    linkname: str
    offset: int  # offset of the member's data in the (decompressed) stream

    def is_file(self) -> bool:
        return self.type == ord("0")


class ByteStream:
    """Sequential bytes from an iterator of chunks, with the absolute offset tracked."""

    __slots__ = ("_chunks", "_buf", "_pos", "offset")

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""
        self._pos = 0
        self.offset = 0

    def _next_chunk(self) -> bool:
        """Make the next non-empty chunk current (what was left of the old one is gone)."""
        for chunk in self._chunks:
            if chunk:
                self._buf, self._pos = chunk, 0
                return True
        self._buf, self._pos = b"", 0
        return False

    def read(self, n: int) -> bytes:
        """Exactly n bytes, or fewer only at the end of the stream."""
        buf, pos = self._buf, self._pos
        end = pos + n
        if end <= len(buf):
            self._pos = end
            self.offset += n
            return buf[pos:end]
        # Across chunks: join only the bytes asked for, never a whole multi-MB chunk.
        parts = [buf[pos:]]
        got = len(parts[0])
        while got < n and self._next_chunk():
            take = min(n - got, len(self._buf))
            parts.append(self._buf[:take])
            self._pos = take
            got += take
        self.offset += got
        return b"".join(parts)

    def skip(self, n: int) -> int:
        """Discard n bytes; returns how many were there."""
        if self._pos + n <= len(self._buf):
            # The common case, inlined: a small member or padding inside the current chunk.
            self._pos += n
            self.offset += n
            return n
        return self.copy(n, None)

    def copy(self, n: int, write: Callable[[bytes], object] | None) -> int:
        """Pass n bytes to ``write`` in chunks (None: discard them); returns how many were
        there."""
        done = 0
        while done < n:
            avail = len(self._buf) - self._pos
            if avail == 0:
                if not self._next_chunk():
                    break
                continue
            take = min(avail, n - done)
            if write is not None:
                write(self._buf[self._pos:self._pos + take])
            self._pos += take
            done += take
        self.offset += done
        return done


def _number(field: bytes) -> int:
    # As Go's archive/tar: spaces and NULs trimmed, then octal up to the first NUL; GNU
    # base-256 when the top bit is set.
    digits = field.strip(b" \x00")
    if digits.isdigit():  # the common case; isdigit() also keeps int() from taking "_", "+"
        try:
            return int(digits, 8)
        except ValueError:  # an 8 or a 9
            raise TarFormatError(f"bad number field {field[:12]!r}") from None
    if not digits:
        return 0
    if field and field[0] & 0x80:
        # base-256 (GNU): big-endian two's complement in the remaining bits
        value = field[0] & 0x3F
        for b in field[1:]:
            value = (value << 8) | b
        if field[0] & 0x40:
            value -= 1 << (len(field) * 8 - 2)
        return value
    text = digits.split(b"\x00", 1)[0]
    if not text:
        return 0
    if not text.isdigit():
        raise TarFormatError(f"bad number field {field[:12]!r}")
    try:
        return int(text, 8)
    except ValueError:
        raise TarFormatError(f"bad number field {field[:12]!r}") from None


def _cstring(field: bytes) -> str:
    return field.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")


def _checksum_ok(block: bytes) -> bool:
    try:
        stored = _number(block[148:156])
    except TarFormatError:
        return False
    return stored == _header_sum(block)


def _header_sum(block: bytes) -> int:
    """The unsigned sum of the header bytes, the checksum field counted as spaces.

    adler32's low half is 1 + the byte sum modulo 65521, exact for pieces of at most 256
    bytes (255 * 256 < 65521); in C it is several times faster than sum() over 512 ints."""
    return ((_adler32(block[:148]) & 0xFFFF) + (_adler32(block[156:356]) & 0xFFFF)
            + (_adler32(block[356:]) & 0xFFFF) - 3 + 8 * 32)


def _parse_pax(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        space = data.find(b" ", pos, pos + 20)
        if space < 0:
            raise TarFormatError("bad PAX record")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise TarFormatError("bad PAX record length") from None
        if length <= space - pos or pos + length > len(data):
            raise TarFormatError("PAX record past its header")
        record = data[space + 1:pos + length]
        key, eq, value = record.rstrip(b"\n").partition(b"=")
        if eq:
            records[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def _padded(n: int) -> int:
    return (n + BLOCK - 1) // BLOCK * BLOCK


class Stream(Protocol):
    """What iter_tar reads from: ByteStream, or a seekable window over a plain tar."""

    offset: int

    def read(self, n: int) -> bytes: ...
    def skip(self, n: int) -> int: ...
    def copy(self, n: int, write: Callable[[bytes], object]) -> int: ...


def iter_tar(stream: Stream) -> Iterator[TarMember]:
    """Members of a tar stream. The caller may read (``stream.copy``/``read``) up to
    ``member.size`` bytes of a member's data before asking for the next one; the rest is
    skipped."""
    long_name: str | None = None
    long_link: str | None = None
    pax: dict[str, str] = {}
    pax_global: dict[str, str] = {}
    zero_blocks = 0
    while True:
        start = stream.offset
        block = stream.read(BLOCK)
        if len(block) == 0 and zero_blocks:
            return
        if len(block) < BLOCK:
            if not block.strip(b"\x00") and zero_blocks:
                return
            raise TarFormatError("truncated tar header (unexpected end of data)")
        if block == ZERO_BLOCK:
            zero_blocks += 1
            if zero_blocks >= 2:
                return
            continue
        if zero_blocks:
            # One zero block then more headers: some writers pad oddly; keep reading.
            zero_blocks = 0
        if not _checksum_ok(block):
            raise TarFormatError(f"bad tar header checksum at offset {start}")
        typeflag = block[156]
        size = _number(block[124:136])
        if size < 0:
            raise TarFormatError("negative member size")
        if typeflag in (GNU_LONGNAME, GNU_LONGLINK, PAX_HEADER, PAX_GLOBAL, SOLARIS_PAX):
            if size > MAX_META:
                raise TarFormatError(f"{size}-byte metadata record")
            data = stream.read(size)
            if len(data) < size:
                raise TarFormatError("truncated tar metadata record")
            stream.skip(_padded(size) - size)
            if typeflag == GNU_LONGNAME:
                long_name = data.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")
            elif typeflag == GNU_LONGLINK:
                long_link = data.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")
            elif typeflag == PAX_GLOBAL:
                pax_global.update(_parse_pax(data))
            else:
                pax = _parse_pax(data)
            continue
        if typeflag == GNU_SPARSE and block[482]:
            # Old GNU sparse: extension blocks of the sparse map follow the header.
            while True:
                ext = stream.read(BLOCK)
                if len(ext) < BLOCK:
                    raise TarFormatError("truncated GNU sparse map")
                if not ext[504]:
                    break
        name = _cstring(block[0:100])
        if block[257:262] == b"ustar" and block[345] and block[257:263] == b"ustar\x00":
            prefix = _cstring(block[345:500])
            if prefix:
                name = f"{prefix}/{name}"
        linkname = _cstring(block[157:257])
        merged = {**pax_global, **pax} if pax or pax_global else _NO_PAX
        if long_name is not None:
            name = long_name
        if long_link is not None:
            linkname = long_link
        if "path" in merged:
            name = merged["path"]
        if "linkpath" in merged:
            linkname = merged["linkpath"]
        mode = _number(block[100:108])
        uid = int(merged["uid"]) if merged.get("uid", "").isdigit() else _number(block[108:116])
        gid = int(merged["gid"]) if merged.get("gid", "").isdigit() else _number(block[116:124])
        if merged.get("size", "").isdigit():
            size = int(merged["size"])
        long_name = long_link = None
        pax = {}
        if typeflag in REGULAR:
            # As Go's archive/tar (what runtimes use): only an old-style "\0" entry named
            # "x/" is a directory; a "0" entry keeps its data blocks whatever its name.
            typeflag = DIRECTORY if typeflag == 0 and name.endswith("/") else ord("0")
        elif typeflag == GNU_SPARSE:
            typeflag = ord("0")
        stored = size if typeflag in (ord("0"),) else 0
        if typeflag not in (ord("0"),) and typeflag not in (HARDLINK, SYMLINK, CHAR, BLOCKDEV,
                                                            DIRECTORY, FIFO):
            stored = size  # unknown types still occupy their data blocks
        member = TarMember(name, typeflag, mode & 0o7777, uid, gid, stored, linkname,
                           stream.offset)
        data_end = member.offset + stored
        yield member
        # Skip what the caller did not consume, then the padding.
        remaining = data_end - stream.offset
        if remaining < 0:
            raise TarFormatError("caller read past a member's data")
        if stream.skip(remaining) < remaining:
            raise TarFormatError(f"{name}: truncated member data (unexpected end of data)")
        pad = _padded(stored) - stored
        if pad and stream.skip(pad) < pad:
            # GNU tar also fails here ("Unexpected EOF in archive"): a stream cut inside a
            # member's padding has lost its end-of-archive blocks and whatever followed.
            raise TarFormatError(f"{name}: truncated after the member's data "
                                 "(unexpected end of data)")
