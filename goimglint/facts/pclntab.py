"""Go's function table (``.gopclntab``): Go detection and standard-package usage, also for
stripped (``-s -w``) binaries, which keep this table because the runtime needs it.

Layouts, as ``debug/gosym`` reads them (header: magic u32, two zero bytes, pc quantum in
{1,2,4}, pointer size in {4,8}):

- Go 1.2 - 1.15 (magic 0xfffffffb): ``nfunc`` uintptr at 8, then ``nfunc`` pairs of uintptr
  ``(pc, funcoff)``; the func record at ``funcoff`` holds ``entry`` (uintptr) and the name's
  offset (int32) from the table start.
- Go 1.16 - 1.17 (0xfffffffa): header words ``nfunc, nfiles, funcnametab, cutab, filetab,
  pctab, functab`` (uintptr offsets from the table start).
- Go 1.18 - 1.19 (0xfffffff0) and 1.20+ (0xfffffff1): ``nfunc, nfiles, textStart, funcnametab,
  cutab, filetab, pctab, functab``; functab pairs are uint32.

From 1.16 on, every function name (inlined ones included) is a NUL-terminated string in
``funcnametab``, so the names are read from there; for 1.2 the func records are walked."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from goimglint.facts.elf import ElfFile

MAGICS = {0xFFFFFFFB: "1.2", 0xFFFFFFFA: "1.16", 0xFFFFFFF0: "1.18", 0xFFFFFFF1: "1.20"}
MAX_FUNCS = 4_000_000
MAX_SCAN_HITS = 64


class PclntabError(ValueError):
    """A function table was found but cannot be decoded."""


@dataclass(slots=True)
class FuncTable:
    layout: str  # "1.2", "1.16", "1.18" or "1.20": the Go versions that write this layout
    ptr_size: int
    big_endian: bool
    names: set[str] = field(default_factory=set)
    found_by: str = "section"  # "section" or "scan"


def _word(data: bytes, off: int, ptr_size: int, big: bool) -> int:
    if off < 0 or off + ptr_size > len(data):
        raise PclntabError("header word outside the table")
    fmt = (">" if big else "<") + ("I" if ptr_size == 4 else "Q")
    return int(struct.unpack_from(fmt, data, off)[0])


def _header(data: bytes) -> tuple[str, int, bool] | None:
    if len(data) < 16 or data[4] != 0 or data[5] != 0:
        return None
    if data[6] not in (1, 2, 4) or data[7] not in (4, 8):
        return None
    le = struct.unpack_from("<I", data, 0)[0]
    be = struct.unpack_from(">I", data, 0)[0]
    if le in MAGICS:
        return MAGICS[le], data[7], False
    if be in MAGICS:
        return MAGICS[be], data[7], True
    return None


def parse_pclntab(data: bytes) -> FuncTable:
    """Decode a function table that starts at ``data[0]`` (it may run to the end of data)."""
    head = _header(data)
    if head is None:
        raise PclntabError("not a Go function table")
    layout, ps, big = head
    table = FuncTable(layout, ps, big)
    if layout == "1.2":
        _names_go12(data, table)
        return table
    nfunc = _word(data, 8, ps, big)
    base = 3 if layout in ("1.18", "1.20") else 2  # header word index of funcnametab
    name_off = _word(data, 8 + base * ps, ps, big)
    cu_off = _word(data, 8 + (base + 1) * ps, ps, big)
    functab_off = _word(data, 8 + (base + 4) * ps, ps, big)
    if nfunc > MAX_FUNCS:
        raise PclntabError(f"absurd function count {nfunc}")
    if not (8 + (base + 5) * ps <= name_off <= cu_off <= len(data)):
        raise PclntabError("function name table outside the table")
    if functab_off > len(data):
        raise PclntabError("function table outside the table")
    for raw in data[name_off:cu_off].split(b"\x00"):
        if raw:
            table.names.add(raw.decode("utf-8", "replace"))
    return table


def _names_go12(data: bytes, table: FuncTable) -> None:
    ps, big = table.ptr_size, table.big_endian
    nfunc = _word(data, 8, ps, big)
    if nfunc > MAX_FUNCS or 8 + ps + nfunc * 2 * ps > len(data):
        raise PclntabError(f"bad function count {nfunc}")
    i32 = ">i" if big else "<i"
    functab = 8 + ps
    for i in range(nfunc):
        funcoff = _word(data, functab + (2 * i + 1) * ps, ps, big)
        if funcoff + ps + 4 > len(data):
            raise PclntabError("func record outside the table")
        nameoff = struct.unpack_from(i32, data, funcoff + ps)[0]
        if not 0 < nameoff < len(data):
            raise PclntabError("function name outside the table")
        end = data.find(b"\x00", nameoff, nameoff + 4096)
        if end < 0:
            raise PclntabError("unterminated function name")
        table.names.add(data[nameoff:end].decode("utf-8", "replace"))


def find_pclntab(data: bytes, elf: ElfFile | None) -> FuncTable | None:
    """The function table of an ELF file: the ``.gopclntab`` section (or Go >= 1.16's
    ``.data.rel.ro.gopclntab`` in PIE/external links), else a scan for a header whose table
    decodes and names ``runtime.main``. None when there is none."""
    if elf is not None:
        for name in (".gopclntab", ".data.rel.ro.gopclntab"):
            raw = elf.section_bytes(data, name)
            if raw:
                try:
                    return parse_pclntab(raw)
                except PclntabError:
                    break  # fall back to the scan
    return _scan(data)


def _scan(data: bytes) -> FuncTable | None:
    hits = 0
    for magic in MAGICS:
        for order in ("<", ">"):
            needle = struct.pack(order + "I", magic) + b"\x00\x00"
            pos = 0
            while hits < MAX_SCAN_HITS:
                i = data.find(needle, pos)
                if i < 0:
                    break
                pos = i + 1
                hits += 1
                if i % 4:
                    continue  # the table is pointer-aligned
                try:
                    table = parse_pclntab(data[i:])
                except PclntabError:
                    continue
                if "runtime.main" in table.names:
                    table.found_by = "scan"
                    return table
    return None


# -- what the names say ------------------------------------------------------------------


@dataclass(slots=True)
class GoUsage:
    """Which standard-library features the binary's code can reach (the linker's dead-code
    elimination drops what is unreachable, so a name present means the code is linked)."""

    net_lookup: bool = False  # net name resolution (Dial with names, Lookup*)
    cgo_resolver: bool = False  # the cgo (getaddrinfo) resolver is linked in
    x509_system_roots: bool = False  # crypto/x509 loads the system roots
    x509_fallback_roots: bool = False  # golang.org/x/crypto/x509roots/fallback embedded
    tls: bool = False
    http: bool = False
    os_user: bool = False
    os_user_cgo: bool = False  # os/user through libc getpwuid_r & co.
    os_user_pure: bool = False  # os/user parsing /etc/passwd itself
    load_location: bool = False  # time.LoadLocation (reads zoneinfo)
    tzdata: bool = False  # time/tzdata embedded
    runtime_cgo: bool = False  # runtime/cgo linked: the binary starts through libc
    evidence: dict[str, str] = field(default_factory=dict)  # feature -> the name that shows it


_NET_LOOKUP = ("net.(*conf).hostLookupOrder", "net.(*conf).lookupOrder",
               "net.(*Resolver).lookupHost", "net.(*Resolver).lookupIP",
               "net.(*Resolver).lookupIPAddr", "net.(*Resolver).goLookupIPCNAMEOrder")
# Only the real cgo resolver calls getaddrinfo; cgoLookupHost exists as a stub without cgo.
_CGO_RESOLVER = ("net._C2func_getaddrinfo", "net._Cfunc_getaddrinfo", "net._C_getaddrinfo")
_X509_ROOTS = ("crypto/x509.initSystemRoots", "crypto/x509.loadSystemRoots",
               "crypto/x509.systemRootsPool")
# Only os/user/lookup_unix.go (the pure-Go files reader) has these; lookupUser, lookupUserId
# and friends exist in the cgo implementation (cgo_lookup_unix.go) too.
_OS_USER_PURE = ("os/user.readColonFile", "os/user.findUserId", "os/user.findUsername",
                 "os/user.findGroupId", "os/user.findGroupName")
_OS_USER_CGO = ("os/user._Cfunc_mygetpwuid_r", "os/user._C2func_mygetpwuid_r",
                "os/user._Cfunc_mygetpwnam_r", "os/user._C2func_mygetpwnam_r",
                "os/user.lookupUnixUid", "os/user.lookupUnixUser")
_LOAD_LOCATION = ("time.LoadLocation",)
_TZDATA = ("time/tzdata.init.0", "time/tzdata.loadFromEmbeddedTZData")


def _first(names: set[str], wanted: tuple[str, ...]) -> str:
    for n in wanted:
        if n in names:
            return n
    return ""


def usage_from_names(names: set[str]) -> GoUsage:
    u = GoUsage()

    def mark(feature: str, wanted: tuple[str, ...]) -> bool:
        hit = _first(names, wanted)
        if hit:
            u.evidence[feature] = hit
        return bool(hit)

    u.net_lookup = mark("net_lookup", _NET_LOOKUP)
    u.cgo_resolver = mark("cgo_resolver", _CGO_RESOLVER)
    u.x509_system_roots = mark("x509_system_roots", _X509_ROOTS)
    u.load_location = mark("load_location", _LOAD_LOCATION)
    u.tzdata = mark("tzdata", _TZDATA)
    u.os_user_pure = mark("os_user_pure", _OS_USER_PURE)
    u.os_user_cgo = mark("os_user_cgo", _OS_USER_CGO)
    u.os_user = u.os_user_pure or u.os_user_cgo or mark("os_user", (
        "os/user.Current", "os/user.Lookup", "os/user.LookupId", "os/user.LookupGroup",
        "os/user.LookupGroupId", "os/user.current"))
    # runtime/cgo's C start-up code is in the table only with internal linking; its Go and
    # assembly side (crosscall2, _cgo_panic: runtime/cgo/asm_*.s, callbacks.go) is there
    # with external linking too (Debian's packages, hugo extended).
    u.runtime_cgo = mark("runtime_cgo", ("x_cgo_init", "_cgo_sys_thread_start",
                                         "runtime/cgo.init", "crosscall2", "_cgo_panic",
                                         "runtime/cgo.set_crosscall2"))
    prefixes = {"golang.org/x/crypto/x509roots/fallback.": "x509_fallback_roots",
                "crypto/tls.": "tls", "net/http.": "http"}
    for n in names:
        for prefix, feature in prefixes.items():
            if n.startswith(prefix) and (feature not in u.evidence or n < u.evidence[feature]):
                u.evidence[feature] = n
                setattr(u, feature, True)
    return u
