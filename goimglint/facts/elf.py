"""A small, defensive ELF reader: the link facts that decide whether a binary starts.

Pure Python over ``bytes`` (untrusted input never reaches native code). Every offset and count
is checked against the file size; anything inconsistent raises ``ElfError``."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

ELF_MAGIC = b"\x7fELF"

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
SHT_SYMTAB, SHT_STRTAB, SHT_DYNAMIC, SHT_NOBITS = 2, 3, 6, 8
SHT_GNU_VERDEF, SHT_GNU_VERNEED = 0x6FFFFFFD, 0x6FFFFFFE
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH = 0, 1, 5, 10, 14, 15
DT_FLAGS, DT_RUNPATH, DT_FLAGS_1 = 30, 29, 0x6FFFFFFB
DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFC, 0x6FFFFFFD, 0x6FFFFFFE, 0x6FFFFFFF
DF_1_NODEFLIB, DF_1_PIE = 0x800, 0x08000000
VER_FLG_WEAK = 0x2

# Limits that no real binary reaches; a crafted header past them is rejected, not obeyed.
MAX_HEADERS = 65535
MAX_DYN_ENTRIES = 100_000
MAX_VERSION_ENTRIES = 10_000

MACHINES = {
    2: "sparc", 3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390x", 40: "arm",
    43: "sparcv9", 50: "ia64", 62: "x86_64", 183: "aarch64", 243: "riscv", 258: "loongarch",
}


class ElfError(ValueError):
    """The bytes are not a well-formed ELF file (or not one this reader can trust)."""


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


@dataclass(frozen=True, slots=True)
class VersionNeed:
    """One Verneed entry: the versions a library file must define."""

    file: str  # vn_file, e.g. "libc.so.6"
    names: tuple[str, ...]  # required version names, e.g. ("GLIBC_2.34",)
    weak: tuple[str, ...] = ()  # the subset marked VER_FLG_WEAK


@dataclass(slots=True)
class ElfFile:
    elf_class: int  # 32 or 64
    little_endian: bool
    machine: int
    osabi: int
    e_type: int  # 2 = ET_EXEC, 3 = ET_DYN
    entry: int
    interpreter: str | None = None
    needed: list[str] = field(default_factory=list)
    rpath: str | None = None  # raw DT_RPATH string (colon separated)
    runpath: str | None = None  # raw DT_RUNPATH string
    soname: str | None = None
    flags: int = 0  # DT_FLAGS
    flags_1: int = 0  # DT_FLAGS_1
    verneed: list[VersionNeed] = field(default_factory=list)
    verdef: list[str] = field(default_factory=list)  # defined version names (base included)
    sections: list[Section] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    has_dynamic: bool = False

    @property
    def machine_name(self) -> str:
        return MACHINES.get(self.machine, f"machine-{self.machine}")

    @property
    def kind(self) -> str:
        """executable, pie, shared-object, relocatable or other."""
        if self.e_type == 2:
            return "executable"
        if self.e_type == 3:
            if self.interpreter is not None or self.flags_1 & DF_1_PIE:
                return "pie"
            return "shared-object"
        return {1: "relocatable", 4: "core"}.get(self.e_type, "other")

    @property
    def is_static(self) -> bool:
        """No program interpreter and no DT_NEEDED: the kernel runs it without ld.so."""
        return self.interpreter is None and not self.needed

    @property
    def stripped(self) -> bool:
        return not any(s.type == SHT_SYMTAB for s in self.sections)

    @property
    def nodeflib(self) -> bool:
        return bool(self.flags_1 & DF_1_NODEFLIB)

    def section(self, name: str) -> Section | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def section_bytes(self, data: bytes, name: str) -> bytes | None:
        s = self.section(name)
        if s is None or s.type == SHT_NOBITS or s.offset + s.size > len(data):
            return None
        return data[s.offset : s.offset + s.size]

    def vaddr_to_offset(self, vaddr: int) -> int | None:
        """File offset of a virtual address inside a PT_LOAD's file-backed bytes."""
        for seg in self.segments:
            if seg.type == PT_LOAD and seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
                return seg.offset + (vaddr - seg.vaddr)
        return None


def _cstr(data: bytes, off: int, limit: int | None = None) -> str:
    end = len(data) if limit is None else min(len(data), limit)
    if off < 0 or off >= end:
        raise ElfError(f"string offset {off} outside its table")
    stop = data.find(b"\x00", off, end)
    if stop < 0:
        raise ElfError("unterminated string")
    return data[off:stop].decode("utf-8", "surrogateescape")


def parse_elf(data: bytes) -> ElfFile:
    """Parse the ELF header, program and section headers, the dynamic section and the GNU
    symbol version tables of ``data``."""
    if len(data) < 16 or data[:4] != ELF_MAGIC:
        raise ElfError("not an ELF file")
    ei_class, ei_data = data[4], data[5]
    if ei_class not in (1, 2):
        raise ElfError(f"bad ELF class {ei_class}")
    if ei_data not in (1, 2):
        raise ElfError(f"bad ELF data encoding {ei_data}")
    is64 = ei_class == 2
    end = "<" if ei_data == 1 else ">"
    hdr_fmt = end + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH")
    hdr_size = struct.calcsize(hdr_fmt)
    if len(data) < 16 + hdr_size:
        raise ElfError("truncated ELF header")
    (e_type, e_machine, _ver, e_entry, e_phoff, e_shoff, _flags, _ehsize, e_phentsize, e_phnum,
     e_shentsize, e_shnum, e_shstrndx) = struct.unpack_from(hdr_fmt, data, 16)
    elf = ElfFile(32 * ei_class, ei_data == 1, e_machine, data[7], e_type, e_entry)
    elf.segments = _read_segments(data, end, is64, e_phoff, e_phentsize, e_phnum)
    elf.sections = _read_sections(data, end, is64, e_shoff, e_shentsize, e_shnum, e_shstrndx)
    for seg in elf.segments:
        if seg.type == PT_INTERP:
            if seg.offset + seg.filesz > len(data) or seg.filesz == 0:
                raise ElfError("PT_INTERP outside the file")
            raw = data[seg.offset : seg.offset + seg.filesz]
            elf.interpreter = raw.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")
            break
    _read_dynamic(data, end, is64, elf)
    return elf


def _check_table(data: bytes, off: int, entsize: int, num: int, minsize: int, what: str) -> None:
    if num > MAX_HEADERS:
        raise ElfError(f"absurd {what} count {num}")
    if num and entsize < minsize:
        raise ElfError(f"{what} entry size {entsize} too small")
    if num and (off <= 0 or off + entsize * num > len(data)):
        raise ElfError(f"{what} table outside the file")


def _read_segments(data: bytes, end: str, is64: bool, off: int, entsize: int, num: int
                   ) -> list[Segment]:
    fmt = end + ("IIQQQQQQ" if is64 else "IIIIIIII")
    _check_table(data, off, entsize, num, struct.calcsize(fmt), "program header")
    out = []
    for i in range(num):
        v = struct.unpack_from(fmt, data, off + i * entsize)
        if is64:
            p_type, p_flags, p_offset, p_vaddr, _pa, p_filesz, p_memsz, _al = v
        else:
            p_type, p_offset, p_vaddr, _pa, p_filesz, p_memsz, p_flags, _al = v
        out.append(Segment(p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz))
    return out


def _read_sections(data: bytes, end: str, is64: bool, off: int, entsize: int, num: int,
                   shstrndx: int) -> list[Section]:
    if off == 0 or num == 0:
        return []  # no section headers (legal: sstrip'ed binaries)
    fmt = end + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
    _check_table(data, off, entsize, num, struct.calcsize(fmt), "section header")
    raw = [struct.unpack_from(fmt, data, off + i * entsize) for i in range(num)]
    names = b""
    if 0 < shstrndx < num:
        s = raw[shstrndx]
        if s[4] + s[5] <= len(data):
            names = data[s[4] : s[4] + s[5]]
    out = []
    for v in raw:
        sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size = v[:6]
        name = ""
        if names and sh_name < len(names):
            stop = names.find(b"\x00", sh_name)
            name = names[sh_name : stop if stop >= 0 else len(names)].decode("utf-8", "replace")
        out.append(Section(name, sh_type, sh_flags, sh_addr, sh_offset, sh_size))
    return out


def _read_dynamic(data: bytes, end: str, is64: bool, elf: ElfFile) -> None:
    dyn_seg = next((s for s in elf.segments if s.type == PT_DYNAMIC), None)
    if dyn_seg is None:
        return
    elf.has_dynamic = True
    if dyn_seg.offset + dyn_seg.filesz > len(data):
        raise ElfError("PT_DYNAMIC outside the file")
    fmt = end + ("qQ" if is64 else "iI")
    step = struct.calcsize(fmt)
    entries: list[tuple[int, int]] = []
    pos, stop = dyn_seg.offset, dyn_seg.offset + dyn_seg.filesz
    while pos + step <= stop:
        tag, val = struct.unpack_from(fmt, data, pos)
        if tag == DT_NULL:
            break
        entries.append((tag, val))
        if len(entries) > MAX_DYN_ENTRIES:
            raise ElfError("dynamic section without terminator")
        pos += step
    tags: dict[int, int] = {}
    for tag, val in entries:
        tags.setdefault(tag, val)
    strtab = _dynamic_strtab(data, elf, tags)

    def string(val: int) -> str:
        if strtab is None:
            raise ElfError("dynamic section has no string table")
        return _cstr(data, strtab[0] + val, strtab[0] + strtab[1])

    for tag, val in entries:
        if tag == DT_NEEDED:
            elf.needed.append(string(val))
        elif tag == DT_RPATH and elf.rpath is None:
            elf.rpath = string(val)
        elif tag == DT_RUNPATH and elf.runpath is None:
            elf.runpath = string(val)
        elif tag == DT_SONAME and elf.soname is None:
            elf.soname = string(val)
        elif tag == DT_FLAGS:
            elf.flags = val
        elif tag == DT_FLAGS_1:
            elf.flags_1 = val
    if strtab is not None:
        if DT_VERNEED in tags:
            elf.verneed = _read_verneed(data, end, elf, tags, strtab)
        if DT_VERDEF in tags:
            elf.verdef = _read_verdef(data, end, elf, tags, strtab)


def _dynamic_strtab(data: bytes, elf: ElfFile, tags: dict[int, int]) -> tuple[int, int] | None:
    """(file offset, size) of the dynamic string table, via DT_STRTAB's address."""
    if DT_STRTAB not in tags:
        return None
    off = elf.vaddr_to_offset(tags[DT_STRTAB])
    if off is None:
        # Some linkers (and prelinked or odd objects) leave DT_STRTAB as a file offset.
        for s in elf.sections:
            if s.type == SHT_STRTAB and s.addr == tags[DT_STRTAB]:
                off = s.offset
        if off is None:
            raise ElfError("DT_STRTAB outside every PT_LOAD")
    size = tags.get(DT_STRSZ, len(data) - off)
    if off + size > len(data):
        size = len(data) - off
    return off, size


def _table_offset(elf: ElfFile, addr: int) -> int:
    off = elf.vaddr_to_offset(addr)
    if off is None:
        raise ElfError("version table outside every PT_LOAD")
    return off


def _read_verneed(data: bytes, end: str, elf: ElfFile, tags: dict[int, int],
                  strtab: tuple[int, int]) -> list[VersionNeed]:
    off = _table_offset(elf, tags[DT_VERNEED])
    count = min(tags.get(DT_VERNEEDNUM, MAX_VERSION_ENTRIES), MAX_VERSION_ENTRIES)
    out: list[VersionNeed] = []
    seen = 0
    for _ in range(count):
        if off + 16 > len(data):
            raise ElfError("Verneed entry outside the file")
        _vn_version, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack_from(end + "HHIII", data, off)
        names: list[str] = []
        weak: list[str] = []
        aux = off + vn_aux
        for _ in range(vn_cnt):
            seen += 1
            if seen > MAX_VERSION_ENTRIES or aux + 16 > len(data):
                raise ElfError("Vernaux entry outside the file")
            _hash, vna_flags, _other, vna_name, vna_next = struct.unpack_from(
                end + "IHHII", data, aux)
            name = _cstr(data, strtab[0] + vna_name, strtab[0] + strtab[1])
            names.append(name)
            if vna_flags & VER_FLG_WEAK:
                weak.append(name)
            if vna_next == 0:
                break
            aux += vna_next
        out.append(VersionNeed(_cstr(data, strtab[0] + vn_file, strtab[0] + strtab[1]),
                               tuple(names), tuple(weak)))
        if vn_next == 0:
            break
        off += vn_next
    return out


def _read_verdef(data: bytes, end: str, elf: ElfFile, tags: dict[int, int],
                 strtab: tuple[int, int]) -> list[str]:
    off = _table_offset(elf, tags[DT_VERDEF])
    count = min(tags.get(DT_VERDEFNUM, MAX_VERSION_ENTRIES), MAX_VERSION_ENTRIES)
    out: list[str] = []
    for _ in range(count):
        if off + 20 > len(data):
            raise ElfError("Verdef entry outside the file")
        _ver, _flags, _ndx, vd_cnt, _hash, vd_aux, vd_next = struct.unpack_from(
            end + "HHHHIII", data, off)
        if vd_cnt:
            aux = off + vd_aux
            if aux + 8 > len(data):
                raise ElfError("Verdaux entry outside the file")
            vda_name, _vda_next = struct.unpack_from(end + "II", data, aux)
            out.append(_cstr(data, strtab[0] + vda_name, strtab[0] + strtab[1]))
        if vd_next == 0:
            break
        off += vd_next
    return out


# -- dynamic symbols (what the loader binds at start-up) -----------------------------------------

DT_HASH, DT_SYMTAB, DT_RELA, DT_RELASZ, DT_RELAENT, DT_SYMENT = 4, 6, 7, 8, 9, 11
DT_REL, DT_RELSZ, DT_RELENT, DT_PLTRELSZ, DT_PLTREL, DT_JMPREL = 17, 18, 19, 2, 20, 23
DT_GNU_HASH, DT_VERSYM = 0x6FFFFEF5, 0x6FFFFFF0
SHT_DYNSYM = 11
STB_LOCAL, STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE = 0, 1, 2, 10
STT_TLS = 6
# musl's OK_TYPES (NOTYPE, OBJECT, FUNC, COMMON, TLS) and OK_BINDS (GLOBAL, WEAK, GNU_UNIQUE).
_OK_TYPES = frozenset({0, 1, 2, 5, 6})
_OK_BINDS = frozenset({STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE})
MAX_DYN_SYMBOLS = 1_000_000
MAX_RELOCATIONS = 4_000_000


@dataclass(frozen=True, slots=True)
class DynamicSymbols:
    """The dynamic symbols one object exports, and the undefined, non-weak symbols its
    relocations need from the others (musl resolves every one of them at start-up)."""

    defined: frozenset[str]
    needed: tuple[str, ...]  # unique, in the order musl's reloc_all meets them


def read_dynamic_symbols(data: bytes, elf: ElfFile) -> DynamicSymbols | None:
    """The object's dynamic symbol table as musl's ``find_sym``/``do_relocs`` see it, or None
    when it has no dynamic section. Raises ElfError on tables outside the file."""
    dyn = next((s for s in elf.segments if s.type == PT_DYNAMIC), None)
    if dyn is None or dyn.offset + dyn.filesz > len(data):
        return None
    is64 = elf.elf_class == 64
    end = "<" if elf.little_endian else ">"
    fmt = end + ("qQ" if is64 else "iI")
    step = struct.calcsize(fmt)
    tags: dict[int, int] = {}
    pos, stop = dyn.offset, dyn.offset + dyn.filesz
    count = 0
    while pos + step <= stop and count <= MAX_DYN_ENTRIES:
        tag, val = struct.unpack_from(fmt, data, pos)
        if tag == DT_NULL:
            break
        tags.setdefault(tag, val)
        pos += step
        count += 1
    if DT_SYMTAB not in tags:
        return DynamicSymbols(frozenset(), ())
    strtab = _dynamic_strtab(data, elf, tags)
    if strtab is None:
        raise ElfError("dynamic symbols without a string table")
    symoff = _table_offset(elf, tags[DT_SYMTAB])
    symsize = 24 if is64 else 16
    nsyms = _dynsym_count(data, end, elf, tags, symoff, symsize)
    if symoff + nsyms * symsize > len(data):
        raise ElfError("dynamic symbol table outside the file")
    versym: int | None = None
    if DT_VERSYM in tags:
        versym = elf.vaddr_to_offset(tags[DT_VERSYM])
        if versym is not None and versym + 2 * nsyms > len(data):
            versym = None

    def symbol(i: int) -> tuple[str, int, int, int]:
        """(name, bind, type, shndx) of symbol i."""
        off = symoff + i * symsize
        if is64:
            st_name, st_info, _other, st_shndx = struct.unpack_from(end + "IBBH", data, off)
        else:
            st_name, = struct.unpack_from(end + "I", data, off)
            st_info, _other, st_shndx = struct.unpack_from(end + "BBH", data, off + 12)
        name = _cstr(data, strtab[0] + st_name, strtab[0] + strtab[1]) if st_name else ""
        return name, st_info >> 4, st_info & 0xF, st_shndx

    defined: set[str] = set()
    for i in range(1, nsyms):
        name, bind, typ, shndx = symbol(i)
        if not name or shndx == 0 or bind not in _OK_BINDS or typ not in _OK_TYPES:
            continue
        if versym is not None:
            (ver,) = struct.unpack_from(end + "H", data, versym + 2 * i)
            if ver & 0x8000:  # hidden version: musl's lookup skips it (versym[i] < 0)
                continue
        defined.add(name)
    needed: dict[str, None] = {}  # ordered set
    for sym_index in _relocation_symbols(data, end, elf, tags, is64):
        if sym_index == 0:
            continue
        if sym_index >= nsyms:
            raise ElfError(f"relocation names symbol {sym_index} of {nsyms}")
        name, bind, _typ, shndx = symbol(sym_index)
        if name and shndx == 0 and bind != STB_WEAK:
            needed.setdefault(name)
    return DynamicSymbols(frozenset(defined), tuple(needed))


def _dynsym_count(data: bytes, end: str, elf: ElfFile, tags: dict[int, int], symoff: int,
                  symsize: int) -> int:
    """Number of dynamic symbols: .dynsym's size, else DT_HASH's nchain, else the highest
    index the GNU hash table reaches."""
    for s in elf.sections:
        if s.type == SHT_DYNSYM and s.offset == symoff and s.size:
            return min(s.size // symsize, MAX_DYN_SYMBOLS)
    if DT_HASH in tags:
        off = _table_offset(elf, tags[DT_HASH])
        if off + 8 > len(data):
            raise ElfError("DT_HASH outside the file")
        _nbucket, nchain = struct.unpack_from(end + "II", data, off)
        return min(nchain, MAX_DYN_SYMBOLS)
    if DT_GNU_HASH in tags:
        off = _table_offset(elf, tags[DT_GNU_HASH])
        if off + 16 > len(data):
            raise ElfError("DT_GNU_HASH outside the file")
        nbuckets, symbias, bloom_size, _shift = struct.unpack_from(end + "IIII", data, off)
        word = 8 if elf.elf_class == 64 else 4
        buckets = off + 16 + bloom_size * word
        chains = buckets + 4 * nbuckets
        if nbuckets > MAX_DYN_SYMBOLS or chains > len(data):
            raise ElfError("DT_GNU_HASH buckets outside the file")
        top = max(struct.unpack_from(end + f"{nbuckets}I", data, buckets), default=0)
        if top < symbias:
            return symbias
        i = top
        while i - symbias < MAX_DYN_SYMBOLS:
            pos = chains + 4 * (i - symbias)
            if pos + 4 > len(data):
                raise ElfError("DT_GNU_HASH chain outside the file")
            (h,) = struct.unpack_from(end + "I", data, pos)
            i += 1
            if h & 1:
                return i
        raise ElfError("DT_GNU_HASH chain without end")
    return 0


def _relocation_symbols(data: bytes, end: str, elf: ElfFile, tags: dict[int, int],
                        is64: bool) -> dict[int, None]:
    """Symbol indexes named by the dynamic relocations, first use first, in musl's order
    (ldso/dynlink.c reloc_all: DT_JMPREL, then DT_REL, then DT_RELA)."""
    tables: list[tuple[int, int, bool]] = []  # (address, size, has addend)
    if DT_JMPREL in tags:
        tables.append((tags[DT_JMPREL], tags.get(DT_PLTRELSZ, 0), tags.get(DT_PLTREL) == DT_RELA))
    if DT_REL in tags:
        tables.append((tags[DT_REL], tags.get(DT_RELSZ, 0), False))
    if DT_RELA in tags:
        tables.append((tags[DT_RELA], tags.get(DT_RELASZ, 0), True))
    out: dict[int, None] = {}
    total = 0
    for addr, size, rela in tables:
        if size == 0:
            continue
        off = _table_offset(elf, addr)
        entsize = (24 if rela else 16) if is64 else (12 if rela else 8)
        n = size // entsize
        total += n
        if total > MAX_RELOCATIONS or off + n * entsize > len(data):
            raise ElfError("relocation table outside the file")
        info_fmt = end + ("Q" if is64 else "I")
        info_at = 8 if is64 else 4
        for k in range(n):
            (info,) = struct.unpack_from(info_fmt, data, off + k * entsize + info_at)
            out.setdefault(info >> 32 if is64 else info >> 8)
    return out
