"""/etc/ld.so.cache reader: the binary file ldconfig writes and glibc's ld.so consults.

Three layouts exist (glibc elf/dl-cache.c, _dl_load_cache_lookup): new format only
(``glibc-ld.so.cache1.1``, the only one written since glibc 2.32), old format only
(``ld.so-1.7.0``), and old format followed by a new-format table. ld.so uses the new table when
there is one. Lookup mirrors glibc's ``search_cache``: a binary search with
``_dl_cache_libcmp`` ordering, then the first acceptable entry of the run of equal names, where
glibc-hwcaps entries (listed first) compete by priority."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAGIC_OLD = b"ld.so-1.7.0"
MAGIC_NEW = b"glibc-ld.so.cache1.1"
OLD_HEADER = 16  # magic padded to 12 + u32 nlibs
OLD_ENTRY = 12
NEW_HEADER = 48
NEW_ENTRY = 24
MAX_ENTRIES = 1_000_000  # a cache with more entries than this is hostile, not real
MAX_STRING = 4096  # PATH_MAX: no soname or path is longer

FLAG_ELF, FLAG_ELF_LIBC6 = 0x01, 0x03
FLAG_TYPE_MASK = 0x00FF
# High byte of the entry flags: which ABI the library is for (glibc sysdeps/generic/ldconfig.h).
ARCH_FLAGS = {
    0x0000: "",
    0x0100: "sparc64",
    0x0200: "ia64",
    0x0300: "x86-64",
    0x0400: "s390x",
    0x0500: "ppc64",
    0x0600: "mips64-n32",
    0x0700: "mips64",
    0x0800: "x32",
    0x0900: "arm-hf",
    0x0A00: "aarch64",
    0x0B00: "arm-sf",
    0x0C00: "mips-nan2008",
    0x0D00: "mips64-n32-nan2008",
    0x0E00: "mips64-nan2008",
    0x0F00: "riscv-float",
    0x1000: "riscv-double",
    0x1100: "loongarch-double",
    0x1200: "aarch64-ilp32",
    0x1300: "loongarch-single",
    0x1400: "loongarch-soft",
}
# The flags value each 64-bit loader accepts (glibc sysdeps/.../dl-cache.h _DL_CACHE_DEFAULT_ID;
# these ports accept exactly this value). Others accept 1 or 3 (generic _dl_cache_check_flags).
DEFAULT_ID_BY_MACHINE: dict[tuple[str, int], int] = {
    ("x86_64", 64): 0x0303,
    ("aarch64", 64): 0x0A03,
    ("ppc64", 64): 0x0503,
    ("s390x", 64): 0x0403,
    ("sparcv9", 64): 0x0103,
    ("ia64", 64): 0x0203,
    ("riscv", 64): 0x1003,  # lp64d, the ABI every distribution ships
    ("arm", 32): 0x0903,  # armhf
}
HWCAP_EXTENSION = 1 << 62  # entry lives in a glibc-hwcaps subdirectory
EXT_MAGIC = 0xEAA42174
EXT_TAG_GENERATOR, EXT_TAG_GLIBC_HWCAPS = 0, 1


class LdCacheError(ValueError):
    """The bytes are not an ld.so.cache glibc would use (ld.so then ignores the cache)."""


@dataclass(frozen=True, slots=True)
class LdCacheEntry:
    soname: str
    path: str
    flags: int
    hwcap: int = 0
    osversion: int = 0
    hwcaps_subdir: str = ""  # glibc-hwcaps subdirectory name for extension entries

    @property
    def arch(self) -> str:
        return ARCH_FLAGS.get(self.flags & 0xFF00, f"arch-{self.flags >> 8:#x}")

    @property
    def is_hwcaps(self) -> bool:
        return bool(self.hwcap & HWCAP_EXTENSION)


@dataclass(slots=True)
class LdCache:
    format: str  # "new", "old" or "old+new"
    entries: list[LdCacheEntry] = field(default_factory=list)  # the table ld.so searches
    generator: str = ""  # "ldconfig (GNU libc) ..." from the extension, when present
    big_endian: bool = False

    def lookup(self, name: str, accepted_flags: tuple[int, ...],
               hwcaps_priority: tuple[str, ...] = ()) -> LdCacheEntry | None:
        """The entry glibc's ld.so would pick for ``name``.

        ``accepted_flags`` are the flag values this loader accepts; the first of them is its
        default id. ``hwcaps_priority`` lists the glibc-hwcaps subdirectories the CPU supports,
        best first (entries for other subdirectories are skipped)."""
        entries = self.entries
        lo, hi = 0, len(entries) - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            cmp = libcmp(name, entries[mid].soname)
            if cmp == 0:
                first = mid
                while first > 0 and libcmp(name, entries[first - 1].soname) == 0:
                    first -= 1
                return self._pick(name, first, accepted_flags, hwcaps_priority)
            # ldconfig sorts the table in descending libcmp order.
            if cmp < 0:
                lo = mid + 1
            else:
                hi = mid - 1
        return None

    def _pick(self, name: str, first: int, accepted_flags: tuple[int, ...],
              hwcaps_priority: tuple[str, ...]) -> LdCacheEntry | None:
        best: LdCacheEntry | None = None
        best_priority = 0
        default_id = accepted_flags[0] if accepted_flags else -1
        for entry in self.entries[first:]:
            if libcmp(name, entry.soname) != 0:
                break
            if entry.flags not in accepted_flags:
                continue
            named = entry.is_hwcaps
            if not named and best is not None:
                break
            if named:
                if entry.hwcaps_subdir not in hwcaps_priority:
                    continue
                priority = hwcaps_priority.index(entry.hwcaps_subdir) + 1
                if best is not None and priority >= best_priority:
                    continue
                best_priority = priority
            elif entry.hwcap & ~((1 << 63) | 0xFFFFFFFF):
                # Legacy hwcap or platform bits that no current CPU set selects; skip like the
                # loader does for unsupported capabilities.
                continue
            best = entry
            if not named and entry.flags == default_id:
                break
        return best

    def sonames(self) -> set[str]:
        return {e.soname for e in self.entries}


def libcmp(a: str, b: str) -> int:
    """glibc's _dl_cache_libcmp: digit runs compare numerically, the rest bytewise."""
    i = j = 0
    while i < len(a):
        ca = a[i]
        cb = b[j] if j < len(b) else ""
        if ca.isdigit() and ca.isascii():
            if cb.isdigit() and cb.isascii():
                si = i
                while i < len(a) and a[i].isdigit() and a[i].isascii():
                    i += 1
                sj = j
                while j < len(b) and b[j].isdigit() and b[j].isascii():
                    j += 1
                va, vb = int(a[si:i]), int(b[sj:j])
                if va != vb:
                    return va - vb
                continue
            return 1
        if cb.isdigit() and cb.isascii():
            return -1
        if ca != cb:
            return (ord(ca) if ca else 0) - (ord(cb) if cb else 0)
        i += 1
        j += 1
    return 0 - (ord(b[j]) if j < len(b) else 0)


def _cstr(data: bytes, off: int, base: int = 0) -> str:
    start = base + off
    if off < 0 or start >= len(data):
        raise LdCacheError(f"string offset {off} outside the cache")
    stop = data.find(b"\x00", start, start + MAX_STRING)
    if stop < 0:
        raise LdCacheError("unterminated string in the cache")
    return data[start:stop].decode("utf-8", "surrogateescape")


def parse_ld_cache(data: bytes) -> LdCache:
    """Parse an ld.so.cache the way ld.so would accept it; raise LdCacheError otherwise."""
    if data.startswith(MAGIC_NEW):
        return _parse_new(data, 0, "new")
    if data.startswith(MAGIC_OLD):
        if len(data) < OLD_HEADER:
            raise LdCacheError("truncated old-format header")
        (nlibs,) = struct.unpack_from("<I", data, 12)
        if nlibs > MAX_ENTRIES or (len(data) - OLD_HEADER) // OLD_ENTRY < nlibs:
            raise LdCacheError("old-format entry count exceeds the file")
        end_entries = OLD_HEADER + nlibs * OLD_ENTRY
        # A new-format table may follow the old entries.
        # The alignment is that of the new header: 8 where u64 is 8-aligned, else 4.
        for align in (8, 4):
            new_off = (end_entries + align - 1) & ~(align - 1)
            if (len(data) >= new_off + NEW_HEADER
                    and data[new_off:new_off + len(MAGIC_NEW)] == MAGIC_NEW):
                return _parse_new(data, new_off, "old+new")
        entries = []
        for i in range(nlibs):
            flags, key, value = struct.unpack_from("<iII", data, OLD_HEADER + i * OLD_ENTRY)
            entries.append(LdCacheEntry(_cstr(data, key, end_entries),
                                        _cstr(data, value, end_entries), flags))
        return LdCache("old", entries)
    raise LdCacheError("not an ld.so.cache (bad magic)")


def _parse_new(data: bytes, base: int, fmt: str) -> LdCache:
    if len(data) < base + NEW_HEADER:
        raise LdCacheError("truncated new-format header")
    endian_flag = data[base + 28]
    # 0 = unknown (written before glibc 2.33, native order), 2 = little, 3 = big.
    if endian_flag == 3:
        end, big = ">", True
    elif endian_flag in (0, 2):
        end, big = "<", False
    else:
        raise LdCacheError(f"bad endianness flag {endian_flag}")
    nlibs, _len_strings = struct.unpack_from(end + "II", data, base + 20)
    (ext_offset,) = struct.unpack_from(end + "I", data, base + 32)
    if nlibs > MAX_ENTRIES or (len(data) - base - NEW_HEADER) // NEW_ENTRY < nlibs:
        raise LdCacheError("new-format entry count exceeds the file")
    hwcaps_names = _hwcaps_names(data, base, ext_offset, end)
    generator = _generator(data, base, ext_offset, end)
    entries = []
    for i in range(nlibs):
        flags, key, value, osv, hwcap = struct.unpack_from(
            end + "iIIIQ", data, base + NEW_HEADER + i * NEW_ENTRY)
        subdir = ""
        if hwcap & HWCAP_EXTENSION:
            idx = hwcap & 0xFFFFFFFF
            subdir = hwcaps_names[idx] if idx < len(hwcaps_names) else ""
        # String offsets count from the start of the new-format table.
        entries.append(LdCacheEntry(_cstr(data, key, base), _cstr(data, value, base), flags,
                                    hwcap, osv, subdir))
    return LdCache(fmt, entries, generator, big)


def _extension_sections(data: bytes, base: int, ext_offset: int, end: str
                        ) -> list[tuple[int, int, int]]:
    """(tag, offset, size) of each cache extension section; [] when there is none."""
    if ext_offset == 0 or ext_offset % 4 or base + ext_offset + 8 > len(data):
        return []
    magic, count = struct.unpack_from(end + "II", data, base + ext_offset)
    if magic != EXT_MAGIC or count > 64:
        return []
    out: list[tuple[int, int, int]] = []
    for i in range(count):
        pos = base + ext_offset + 8 + i * 16
        if pos + 16 > len(data):
            return out
        tag, _flags, off, size = struct.unpack_from(end + "IIII", data, pos)
        if base + off + size <= len(data):
            out.append((tag, base + off, size))
    return out


def _hwcaps_names(data: bytes, base: int, ext_offset: int, end: str) -> list[str]:
    for tag, off, size in _extension_sections(data, base, ext_offset, end):
        if tag == EXT_TAG_GLIBC_HWCAPS and size % 4 == 0 and size <= 4 * 1024:
            names = []
            for i in range(size // 4):
                (str_off,) = struct.unpack_from(end + "I", data, off + 4 * i)
                try:
                    names.append(_cstr(data, str_off, base))
                except LdCacheError:
                    names.append("")
            return names
    return []


def _generator(data: bytes, base: int, ext_offset: int, end: str) -> str:
    for tag, off, size in _extension_sections(data, base, ext_offset, end):
        if tag == EXT_TAG_GENERATOR and size <= 1024:
            return data[off:off + size].decode("utf-8", "replace")
    return ""
