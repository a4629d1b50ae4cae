"""Go build info, read from the bytes of an ELF file the way Go's ``debug/buildinfo`` does.

The blob starts with ``\\xff Go buildinf:`` at a 16-byte aligned address of ``.go.buildinfo``
(or, with no section headers, of the first writable non-executable PT_LOAD). Byte 14 is the
pointer size, byte 15 the flags (bit 0 big endian, bit 1 inline format).

- inline format (Go >= 1.18): after the 32-byte header, the version string and the modinfo
  string, each prefixed with its uvarint length;
- pointer format (Go 1.13 - 1.17): at offsets 16 and 16+ptrsize, the addresses of two Go
  string headers ``{data pointer, length}``, resolved through the PT_LOAD segments.

The modinfo text (``path``/``mod``/``dep``/``=>``/``build`` lines) is parsed as
``runtime/debug.ParseBuildInfo`` does."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from goimglint.facts.elf import PT_LOAD, SHT_NOBITS, ElfFile

MAGIC = b"\xff Go buildinf:"
HEADER_SIZE = 32
ALIGN = 16
PF_X, PF_W = 1, 2
FLAG_BIG_ENDIAN = 0x1
FLAG_INLINE = 0x2
# Go reads the magic only near the start of the data; real blobs sit at the start of their
# section. A bound keeps a hostile file from making us scan gigabytes.
MAX_SEARCH = 64 << 20
MAX_STRING = 16 << 20


class BuildInfoError(ValueError):
    """A build info blob is present but malformed."""


@dataclass(slots=True)
class Module:
    path: str
    version: str = ""
    sum: str = ""
    replace: Module | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "version": self.version, "sum": self.sum}
        out["replace"] = self.replace.as_dict() if self.replace is not None else None
        return out


@dataclass(slots=True)
class BuildInfo:
    go_version: str  # "go1.27.3"
    path: str = ""
    main: Module | None = None
    deps: list[Module] = field(default_factory=list)
    settings: list[tuple[str, str]] = field(default_factory=list)  # in recorded order
    modinfo: str = ""  # the modinfo text with its sentinels stripped
    inline: bool = True  # False: the pre-1.18 pointer format
    ptr_size: int = 8
    big_endian: bool = False
    address: int = 0  # virtual address of the blob

    def setting(self, key: str, default: str = "") -> str:
        for k, v in self.settings:
            if k == key:
                return v
        return default

    def settings_dict(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in self.settings:
            out[k] = v  # a repeated key keeps its last value, as a map would
        return out


def _data_range(elf: ElfFile, data: bytes) -> tuple[int, int, int] | None:
    """(virtual address, file offset, size) of the bytes to search for the blob."""
    if elf.sections:
        for s in elf.sections:
            if s.name == ".go.buildinfo" and s.type != SHT_NOBITS:
                if s.offset + s.size > len(data):
                    raise BuildInfoError(".go.buildinfo outside the file")
                return s.addr, s.offset, s.size
    # Without the section (section headers stripped, or a section-less tool's output), older
    # debug/buildinfo read the first writable, non-executable PT_LOAD: the linker puts the
    # blob at its start.
    for seg in elf.segments:
        if seg.type == PT_LOAD and seg.flags & (PF_X | PF_W) == PF_W and seg.filesz:
            if seg.offset + seg.filesz > len(data):
                raise BuildInfoError("writable PT_LOAD outside the file")
            return seg.vaddr, seg.offset, seg.filesz
    return None


def _search_magic(data: bytes, vaddr: int, off: int, size: int) -> int | None:
    """File offset of the first 16-byte aligned (by virtual address) magic in the range."""
    end = off + min(size, MAX_SEARCH)
    pos = off
    while True:
        i = data.find(MAGIC, pos, end)
        if i < 0:
            return None
        if (vaddr + (i - off)) % ALIGN == 0:
            if end - i < HEADER_SIZE:
                return None
            return i
        pos = i + 1


def _read_at(elf: ElfFile, data: bytes, vaddr: int, size: int) -> bytes:
    """``size`` bytes at a virtual address, all inside one PT_LOAD's file bytes."""
    if size < 0 or size > MAX_STRING:
        raise BuildInfoError(f"absurd string length {size}")
    for seg in elf.segments:
        if seg.type == PT_LOAD and seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
            rel = vaddr - seg.vaddr
            if rel + size > seg.filesz:
                raise BuildInfoError("string runs past the end of its segment")
            start = seg.offset + rel
            if start + size > len(data):
                raise BuildInfoError("string outside the file")
            return data[start : start + size]
    raise BuildInfoError(f"address {vaddr:#x} is not in the file")


def _uvarint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    for i in range(pos, min(end, pos + 10)):
        b = data[i]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i + 1
        shift += 7
    raise BuildInfoError("bad uvarint length")


def read_buildinfo(data: bytes, elf: ElfFile) -> BuildInfo | None:
    """The build info of a Go ELF binary; None when there is no blob (not a Go binary, or one
    built without it). Raises BuildInfoError for a blob that cannot be decoded."""
    rng = _data_range(elf, data)
    if rng is None:
        return None
    vaddr, off, size = rng
    at = _search_magic(data, vaddr, off, size)
    if at is None:
        return None
    region_end = off + size
    ptr_size, flags = data[at + 14], data[at + 15]
    big = bool(flags & FLAG_BIG_ENDIAN)
    if flags & FLAG_INLINE:
        n, pos = _uvarint(data, at + HEADER_SIZE, region_end)
        if pos + n > region_end:
            raise BuildInfoError("version string runs past the build info")
        vers = data[pos : pos + n]
        pos += n
        n, pos = _uvarint(data, pos, region_end)
        if pos + n > region_end:
            raise BuildInfoError("modinfo string runs past the build info")
        mod = data[pos : pos + n]
    else:
        if ptr_size not in (4, 8):
            raise BuildInfoError(f"bad pointer size {ptr_size}")
        fmt = (">" if big else "<") + ("I" if ptr_size == 4 else "Q")
        vers_ptr = struct.unpack_from(fmt, data, at + 16)[0]
        mod_ptr = struct.unpack_from(fmt, data, at + 16 + ptr_size)[0]

        def go_string(addr: int) -> bytes:
            try:
                hdr = _read_at(elf, data, addr, 2 * ptr_size)
                str_ptr, str_len = struct.unpack(fmt[0] + fmt[1] * 2, hdr)
                return _read_at(elf, data, str_ptr, str_len)
            except BuildInfoError:
                return b""  # Go's readString gives "" for anything unreadable

        vers = go_string(vers_ptr)
        mod = go_string(mod_ptr)
    if not vers:
        return None  # Go: "not a Go executable"
    modtext = ""
    if len(mod) >= 33 and mod[-17] == 0x0A:
        modtext = mod[16:-16].decode("utf-8", "surrogateescape")
    info = BuildInfo(vers.decode("utf-8", "surrogateescape"), modinfo=modtext,
                     inline=bool(flags & FLAG_INLINE), ptr_size=ptr_size, big_endian=big,
                     address=vaddr + (at - off))
    parse_modinfo(modtext, info)
    return info


def _unquote(text: str) -> str:
    """strconv.Unquote for the double-quoted and back-quoted strings Go writes here."""
    if len(text) >= 2 and text[0] == "`" and text[-1] == "`":
        inner = text[1:-1]
        if "`" in inner:
            raise BuildInfoError("bad raw string")
        return inner
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise BuildInfoError("bad quoted string")
    out: list[str] = []
    body = text[1:-1]
    i = 0
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
              "\\": "\\", "'": "'", '"': '"'}
    raw = bytearray()

    def flush() -> None:
        if raw:
            out.append(raw.decode("utf-8", "surrogateescape"))
            raw.clear()

    while i < len(body):
        c = body[i]
        if c == '"':
            raise BuildInfoError("unescaped quote")
        if c != "\\":
            flush()
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(body):
            raise BuildInfoError("dangling backslash")
        e = body[i + 1]
        if e in simple:
            flush()
            out.append(simple[e])
            i += 2
        elif e == "x" and i + 4 <= len(body):
            raw.append(_digits(body[i + 2 : i + 4], 16))
            i += 4
        elif e in "01234567" and i + 4 <= len(body):
            raw.append(_digits(body[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        elif e in "uU":
            n = 4 if e == "u" else 8
            flush()
            try:
                out.append(chr(int(body[i + 2 : i + 2 + n], 16)))
            except ValueError as exc:
                raise BuildInfoError("bad unicode escape") from exc
            i += 2 + n
        else:
            raise BuildInfoError("bad escape")
    flush()
    return "".join(out)


def _digits(text: str, base: int) -> int:
    """The escape's digits; int() alone would also take "+1", " 1" or "1_0"."""
    if not all(c in "0123456789abcdefABCDEF"[: base + (6 if base == 16 else 0)] for c in text):
        raise BuildInfoError("bad escape digits")
    return int(text, base)


def _quoted_prefix(text: str) -> str:
    """The leading quoted string of ``text`` (strconv.QuotedPrefix)."""
    q = text[0]
    i = 1
    while i < len(text):
        if text[i] == "\\" and q == '"':
            i += 2
            continue
        if text[i] == q:
            return text[: i + 1]
        i += 1
    raise BuildInfoError("unterminated quoted key")


def _module(cols: list[str], replacement: bool) -> Module:
    if replacement:
        if len(cols) != 3:
            raise BuildInfoError("expected 3 columns for replacement")
    elif len(cols) not in (2, 3):
        raise BuildInfoError(f"expected 2 or 3 columns; got {len(cols)}")
    return Module(cols[0], cols[1], cols[2] if len(cols) == 3 else "")


def parse_modinfo(text: str, info: BuildInfo) -> None:
    """Fill path/main/deps/settings from modinfo text (runtime/debug.ParseBuildInfo)."""
    last: Module | None = None
    lines = text.split("\n")
    # Go ignores a final line without its newline.
    for line in lines[:-1]:
        if line.startswith("path\t"):
            info.path = line[5:]
        elif line.startswith("mod\t"):
            info.main = _module(line[4:].split("\t"), False)
            last = info.main
        elif line.startswith("dep\t"):
            last = _module(line[4:].split("\t"), False)
            info.deps.append(last)
        elif line.startswith("=>\t"):
            if last is None:
                raise BuildInfoError("replacement with no module on previous line")
            last.replace = _module(line[3:].split("\t"), True)
            last = None
        elif line.startswith("build\t"):
            info.settings.append(_build_setting(line[6:]))


def _build_setting(kv: str) -> tuple[str, str]:
    if not kv:
        raise BuildInfoError("build line missing '='")
    if kv[0] == "=":
        raise BuildInfoError("build line with missing key")
    if kv[0] in "`\"":
        raw_key = _quoted_prefix(kv)
        if len(kv) == len(raw_key) or kv[len(raw_key)] != "=":
            raise BuildInfoError("build line missing '=' after quoted key")
        key = _unquote(raw_key)
        raw_value = kv[len(raw_key) + 1 :]
    else:
        key, sep, raw_value = kv.partition("=")
        if not sep:
            raise BuildInfoError("build line missing '=' after key")
    value = raw_value
    if raw_value and raw_value[0] in "`\"":
        value = _unquote(raw_value)
    return key, value


def parse_go_version(version: str) -> tuple[int, int, int] | None:
    """(1, 27, 3) from "go1.27.3", "go1.21rc2", "go1.22.10 X:boringcrypto", "devel go1.23-..."."""
    text = version.strip()
    if text.startswith("devel "):
        text = text[6:]
    if not text.startswith("go1."):
        return None
    rest = text[4:]
    nums: list[int] = []
    cur = ""
    for ch in rest:
        if ch.isdigit():
            cur += ch
            continue
        if ch == "." and cur:
            nums.append(int(cur))
            cur = ""
            continue
        break
    if cur:
        nums.append(int(cur))
    if not nums:
        return None
    minor = nums[0]
    patch = nums[1] if len(nums) > 1 else 0
    return 1, minor, patch
