"""The dynamic loader, replayed over an image: which file each DT_NEEDED name becomes, why,
and whether the process gets past ld.so.

glibc (elf/dl-load.c ``_dl_map_object``): a name with a slash is opened as is; otherwise
DT_RPATH of the requesting object and of its loader chain (an object with DT_RUNPATH has no
RPATH at all, and the requester having RUNPATH disables the whole RPATH step), LD_LIBRARY_PATH,
DT_RUNPATH of the requester only, /etc/ld.so.cache, then the trusted directories; every
directory with its glibc-hwcaps (and, before 2.37, legacy hwcap) subdirectories. A candidate of
the wrong class or machine is skipped; any other bad candidate (not ELF, truncated, a directory)
is fatal. Objects load breadth first, a name already loaded (by name or DT_SONAME) is not
searched again, and after loading every Verneed requirement is checked.

musl (ldso/dynlink.c ``load_library``): the reserved names (libc, libpthread, librt, libm, libdl,
libutil, libxnet) are musl itself; LD_LIBRARY_PATH, then RPATH/RUNPATH of the requester and its
``needed_by`` chain (only ``$ORIGIN`` expanded; any other ``$`` voids the list), then the path
file ``<prefix>/etc/ld-musl-<arch>.path`` or ``/lib:/usr/local/lib:/usr/lib``. The first
candidate that opens is used, whatever it is. No cache, no version checks.

Paths printed are the loader's own spelling (what ``ldd`` shows); ``resolved`` is the file
inside the image after following symlinks."""

from __future__ import annotations

import posixpath
import re
import struct
from dataclasses import dataclass, field

from goimglint.errors import PathLoopError
from goimglint.facts.elf import (
    ELF_MAGIC,
    MACHINES,
    DynamicSymbols,
    ElfError,
    ElfFile,
    parse_elf,
    read_dynamic_symbols,
)
from goimglint.facts.ldcache import DEFAULT_ID_BY_MACHINE, LdCache, LdCacheError, parse_ld_cache
from goimglint.facts.ldconf import LdSoConf, read_ld_so_conf
from goimglint.image.fs import MergedFS
from goimglint.image.model import EntryKind

MAX_LIBRARY_BYTES = 512 << 20  # bigger "libraries" are not read; their facts stay unknown
MAX_OBJECTS = 2000  # a dependency tree larger than this is hostile
MAX_PATH_ELEMENTS = 256

# Image platform architecture (OCI names) -> (ELF machine name, class, little endian).
PLATFORM_MACHINES: dict[str, tuple[str, int, bool]] = {
    "amd64": ("x86_64", 64, True),
    "arm64": ("aarch64", 64, True),
    "arm": ("arm", 32, True),
    "386": ("i386", 32, True),
    "ppc64le": ("ppc64", 64, True),
    "ppc64": ("ppc64", 64, False),
    "s390x": ("s390x", 64, False),
    "riscv64": ("riscv", 64, True),
    "loong64": ("loongarch", 64, True),
    "mips64le": ("mips", 64, True),
}
MULTIARCH_TRIPLETS = {
    ("x86_64", 64): "x86_64-linux-gnu",
    ("aarch64", 64): "aarch64-linux-gnu",
    ("arm", 32): "arm-linux-gnueabihf",
    ("i386", 32): "i386-linux-gnu",
    ("ppc64", 64): "powerpc64le-linux-gnu",
    ("s390x", 64): "s390x-linux-gnu",
    ("riscv", 64): "riscv64-linux-gnu",
    ("loongarch", 64): "loongarch64-linux-gnu",
    ("mips", 64): "mips64el-linux-gnuabi64",
}
GLIBC_INTERPRETERS = {
    ("x86_64", 64): "/lib64/ld-linux-x86-64.so.2",
    ("aarch64", 64): "/lib/ld-linux-aarch64.so.1",
    ("arm", 32): "/lib/ld-linux-armhf.so.3",
    ("i386", 32): "/lib/ld-linux.so.2",
    ("ppc64", 64): "/lib64/ld64.so.2",
    ("s390x", 64): "/lib/ld64.so.1",
    ("riscv", 64): "/lib/ld-linux-riscv64-lp64d.so.1",
    ("loongarch", 64): "/lib64/ld-linux-loongarch-lp64d.so.1",
}
MUSL_ARCHES = {
    ("x86_64", 64): "x86_64",
    ("aarch64", 64): "aarch64",
    ("arm", 32): "armhf",
    ("i386", 32): "i386",
    ("ppc64", 64): "powerpc64le",
    ("s390x", 64): "s390x",
    ("riscv", 64): "riscv64",
    ("loongarch", 64): "loongarch64",
}
GLIBC_HWCAPS = {
    ("x86_64", 64): ("x86-64-v4", "x86-64-v3", "x86-64-v2"),
    ("ppc64", 64): ("power10", "power9"),
    ("s390x", 64): ("z16", "z15", "z14", "z13"),
}
# Legacy hwcap subdirectories glibc < 2.37 tries on every x86-64 CPU (AT_PLATFORM "x86_64",
# hwcap "x86_64", "tls"), in the loader's order; CPU-specific ones (avx512_1) are left out.
LEGACY_HWCAP_SUBDIRS_X86_64 = ("tls/x86_64/x86_64", "tls/x86_64", "tls", "x86_64/x86_64",
                               "x86_64")
MUSL_RESERVED = ("c", "pthread", "rt", "m", "dl", "util", "xnet")
MUSL_DEFAULT_PATH = "/lib:/usr/local/lib:/usr/lib"
LIBC_FAMILY = re.compile(
    r"^(libc\.so\.6|libpthread\.so\.0|libresolv\.so\.2|libdl\.so\.2|libm\.so\.6|librt\.so\.1|"
    r"libutil\.so\.1|libc\.so|libc\.musl-[a-z0-9_]+\.so\.1|ld-linux[a-z0-9_.-]*\.so\.\d|"
    r"ld64\.so\.\d|ld-musl-[a-z0-9_]+\.so\.1)$")
ET_EXEC, ET_DYN = 2, 3


def expected_machine(architecture: str) -> tuple[str, int, bool] | None:
    return PLATFORM_MACHINES.get(architecture)


def libc_family(name: str) -> bool:
    """A DT_NEEDED name that belongs to the C library itself (glibc or musl)."""
    return bool(LIBC_FAMILY.match(posixpath.basename(name)))


def interpreter_flavor(interp: str | None) -> str:
    """What a PT_INTERP name asks for: "glibc", "musl" or "unknown"."""
    if not interp:
        return "none"
    base = posixpath.basename(interp)
    if base.startswith("ld-musl-"):
        return "musl"
    if base.startswith(("ld-linux", "ld64.so", "ld.so")):
        return "glibc"
    return "unknown"


def binary_libc(elf: ElfFile) -> str:
    """Which C library a binary was linked against: "glibc", "musl", "none" or "unknown"."""
    flavor = interpreter_flavor(elf.interpreter)
    if flavor in ("glibc", "musl"):
        return flavor
    if any(v.file == "libc.so.6" or any(n.startswith("GLIBC_") for n in v.names)
           for v in elf.verneed):
        return "glibc"
    names = set(elf.needed)
    if "libc.so.6" in names:
        return "glibc"
    if "libc.so" in names or any(n.startswith("libc.musl-") for n in names):
        return "musl"
    return "none" if elf.is_static else "unknown"


# -- result dataclasses (JSON-friendly) ------------------------------------------------------


@dataclass(slots=True)
class SearchedDir:
    """One directory the loader tried for a name, and which setting put it on the list."""

    directory: str
    source: str  # "RPATH of /app", "LD_LIBRARY_PATH", "RUNPATH of /app", "ld.so.cache", ...


@dataclass(slots=True)
class Dependency:
    """One DT_NEEDED (or preload) edge and how the loader settled it."""

    requester: str  # the object naming it (loader spelling; "" = the executable... never)
    name: str
    found: bool = False
    path: str | None = None  # loader spelling of the file used (ldd's right-hand side)
    resolved: str | None = None  # the file in the image after symlinks
    how: str = ""  # rpath, ld_library_path, runpath, ld.so.cache, default, direct, loaded,
    #                interpreter, musl-builtin, path-file
    via: str = ""  # the object whose RPATH/RUNPATH supplied the directory
    searched: list[SearchedDir] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: wrong ELF class" ...
    error: str = ""  # loader's reason when not found or fatal
    fatal: bool = False  # a bad candidate stops the loader (not just "not found")
    cpu_dependent: bool = False  # found in a glibc-hwcaps subdirectory
    preload: str = ""  # "LD_PRELOAD" or "/etc/ld.so.preload" for preload entries
    depth: int = 1


@dataclass(slots=True)
class LoadedObject:
    """One shared object in the process, with its own link facts."""

    path: str  # loader spelling
    resolved: str | None
    loaded_by: str  # first requester; "" for the executable, "kernel" for the interpreter
    soname: str | None = None
    needed: list[str] = field(default_factory=list)
    rpath: str | None = None
    runpath: str | None = None
    nodeflib: bool = False
    verdef: list[str] = field(default_factory=list)
    machine: str = ""
    elf_class: int = 0
    layer: int | None = None
    names: list[str] = field(default_factory=list)  # names it satisfied


@dataclass(slots=True)
class VersionProblem:
    requester: str
    file: str  # vn_file, e.g. libc.so.6
    version: str  # e.g. GLIBC_2.38
    provider: str  # loader spelling of the object that lacks it
    weak: bool = False  # a weak requirement only warns
    no_version_info: bool = False  # provider defines no versions at all (warning only)
    provider_versions: list[str] = field(default_factory=list)  # GLIBC_* the provider has


@dataclass(slots=True)
class MissingSymbol:
    """An undefined, non-weak symbol that no object of the process defines (musl)."""

    requester: str  # loader spelling of the object whose relocation names it
    symbol: str


@dataclass(slots=True)
class PathElement:
    """One RPATH/RUNPATH element of one object, with what makes it risky."""

    object: str
    tag: str  # "RPATH" or "RUNPATH"
    element: str
    expanded: str | None  # after $ORIGIN/$LIB expansion; None = dropped by the loader
    problems: list[str] = field(default_factory=list)  # empty, relative, world-writable, absent


@dataclass(slots=True)
class LoadResult:
    loader: str  # "glibc", "musl" or "unknown"
    objects: list[LoadedObject] = field(default_factory=list)
    dependencies: list[Dependency] = field(default_factory=list)
    preloads: list[Dependency] = field(default_factory=list)
    version_problems: list[VersionProblem] = field(default_factory=list)
    missing_symbols: list[MissingSymbol] = field(default_factory=list)  # musl only
    fatal_error: str = ""  # the message the loader would stop with ("" = gets past ld.so)
    notes: list[str] = field(default_factory=list)  # what the model could not decide


# -- image-wide loader facts -------------------------------------------------------------------


@dataclass(slots=True)
class GlibcInfo:
    interpreter: str  # canonical PT_INTERP name for this platform
    interpreter_resolved: str | None
    libc_path: str | None  # where libc.so.6 is found
    version: str = ""  # "2.36"
    layout: str = ""  # "debian-multiarch", "lib64" or "lib"
    trusted_dirs: list[str] = field(default_factory=list)
    trusted_dirs_source: str = ""  # "ld.so" (read from the loader) or "layout"
    lib_token: str = "lib"  # what $LIB expands to
    cache_present: bool = False
    cache_format: str = ""
    cache_entries: int = 0
    cache_error: str = ""
    cache_generator: str = ""
    hwcaps_subdirs: list[str] = field(default_factory=list)  # glibc-hwcaps/<name>, best first
    legacy_subdirs: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MuslInfo:
    interpreter: str  # /lib/ld-musl-<arch>.so.1
    interpreter_resolved: str | None
    version: str = ""
    path_file: str = ""  # /etc/ld-musl-<arch>.path
    path_file_present: bool = False
    system_path: list[str] = field(default_factory=list)  # as musl will search it


class ImageLoader:
    """The loaders of one image: detection and per-binary resolution, with parsed objects
    cached across binaries."""

    def __init__(self, fs: MergedFS, env: dict[str, str], working_dir: str,
                 platform: tuple[str, int, bool] | None,
                 hwcaps: tuple[str, ...] | None = None) -> None:
        self.fs = fs
        self.env = env
        self.cwd = working_dir if working_dir.startswith("/") else "/" + working_dir
        self.platform = platform
        self.hwcaps_supported = hwcaps
        self._elf_cache: dict[str, tuple[ElfFile | None, str]] = {}
        self._symbols: dict[str, DynamicSymbols | None] = {}
        self._glibc: dict[tuple[str, int], GlibcInfo | None] = {}
        self._musl: dict[tuple[str, int], MuslInfo | None] = {}
        self._cache: dict[str, LdCache | None] = {}
        self.ld_so_conf: LdSoConf = read_ld_so_conf(fs)

    # -- filesystem helpers --------------------------------------------------------------

    def resolve(self, path: str, cwd: str | None = None) -> str | None:
        try:
            return self.fs.resolve(path, cwd=cwd or self.cwd)
        except PathLoopError:
            return None

    def read_elf(self, resolved: str) -> tuple[ElfFile | None, str]:
        """Parsed ELF of an image file (cached), or (None, why not)."""
        if resolved in self._elf_cache:
            return self._elf_cache[resolved]
        entry = self.fs.entry(resolved)
        result: tuple[ElfFile | None, str]
        if entry is None or entry.kind is not EntryKind.FILE:
            result = (None, "not a regular file")
        elif entry.size > MAX_LIBRARY_BYTES:
            result = (None, "too large to read")
        else:
            try:
                data = self.fs.read(resolved)
            except OSError as exc:
                data, result = None, (None, f"unreadable: {exc}")
            if data is None:
                result = (None, "contents not kept")
            else:
                try:
                    result = (parse_elf(data), "")
                except ElfError as exc:
                    result = (None, str(exc))
        self._elf_cache[resolved] = result
        return result

    def dynamic_symbols(self, resolved: str) -> DynamicSymbols | None:
        """Dynamic symbols of an image file (cached); None when they cannot be read."""
        if resolved not in self._symbols:
            elf, _ = self.read_elf(resolved)
            syms: DynamicSymbols | None = None
            if elf is not None:
                try:
                    data = self.fs.read(resolved, limit=MAX_LIBRARY_BYTES)
                except OSError:
                    data = None
                if data is not None:
                    try:
                        syms = read_dynamic_symbols(data, elf)
                    except ElfError:
                        syms = None
            self._symbols[resolved] = syms
        return self._symbols[resolved]

    def header(self, resolved: str) -> bytes | None:
        entry = self.fs.entry(resolved)
        if entry is None:
            return None
        try:
            data = self.fs.read_entry(entry, limit=64)
        except OSError:
            data = None
        if data is None and entry.magic:
            return entry.magic
        return data

    # -- detection -------------------------------------------------------------------------

    def glibc(self, machine: str, elf_class: int) -> GlibcInfo | None:
        key = (machine, elf_class)
        if key not in self._glibc:
            self._glibc[key] = self._detect_glibc(machine, elf_class)
        return self._glibc[key]

    def musl(self, machine: str, elf_class: int) -> MuslInfo | None:
        key = (machine, elf_class)
        if key not in self._musl:
            self._musl[key] = self._detect_musl(machine, elf_class)
        return self._musl[key]

    def _matching_elf(self, path: str, machine: str, elf_class: int) -> ElfFile | None:
        resolved = self.resolve(path)
        if resolved is None:
            return None
        elf, _ = self.read_elf(resolved)
        if elf is None or elf.machine_name != machine or elf.elf_class != elf_class:
            return None
        return elf

    def _detect_glibc(self, machine: str, elf_class: int) -> GlibcInfo | None:
        interp = GLIBC_INTERPRETERS.get((machine, elf_class))
        triplet = MULTIARCH_TRIPLETS.get((machine, elf_class), "")
        layouts = [
            ("debian-multiarch", [f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib", "/usr/lib"],
             f"lib/{triplet}"),
            ("lib64", ["/lib64", "/usr/lib64"], "lib64"),
            ("lib", ["/lib", "/usr/lib"], "lib"),
        ]
        if not triplet:
            layouts = layouts[1:]
        interp_elf = None
        if interp is not None:
            interp_elf = self._matching_elf(interp, machine, elf_class)
        for layout, dirs, lib_token in layouts:
            for d in dirs[:2]:
                libc = self._matching_elf(f"{d}/libc.so.6", machine, elf_class)
                if libc is None or not any(v.startswith("GLIBC_2.") for v in libc.verdef):
                    continue
                info = GlibcInfo(interpreter=interp or "", interpreter_resolved=None,
                                 libc_path=f"{d}/libc.so.6", layout=layout,
                                 trusted_dirs=list(dirs), trusted_dirs_source="layout",
                                 lib_token=lib_token)
                self._finish_glibc(info, libc, interp_elf, machine, elf_class)
                return info
        if interp_elf is not None and any(v.startswith("GLIBC_2.") for v in interp_elf.verdef):
            # A glibc loader without libc.so.6 in any standard place.
            layout, dirs, lib_token = layouts[0] if triplet else layouts[-1]
            info = GlibcInfo(interpreter=interp or "", interpreter_resolved=None, libc_path=None,
                             layout=layout, trusted_dirs=list(dirs),
                             trusted_dirs_source="layout", lib_token=lib_token)
            self._finish_glibc(info, None, interp_elf, machine, elf_class)
            return info
        return None

    def _finish_glibc(self, info: GlibcInfo, libc: ElfFile | None, interp_elf: ElfFile | None,
                      machine: str, elf_class: int) -> None:
        info.interpreter_resolved = self.resolve(info.interpreter) if interp_elf else None
        info.version = self._glibc_version(info.libc_path, libc, interp_elf)
        if interp_elf is not None and info.interpreter_resolved:
            data = self.fs.read(info.interpreter_resolved, limit=MAX_LIBRARY_BYTES)
            if data:
                dirs = _system_dirs_from_ldso(data)
                if dirs:
                    info.trusted_dirs, info.trusted_dirs_source = dirs, "ld.so"
                token = _lib_token_from_ldso(data, MULTIARCH_TRIPLETS.get((machine, elf_class)))
                if token:
                    info.lib_token = token
        major_minor = _version_tuple(info.version)
        if major_minor >= (2, 33):
            supported = GLIBC_HWCAPS.get((machine, elf_class), ())
            if self.hwcaps_supported is not None:
                supported = tuple(s for s in supported if s in self.hwcaps_supported)
            info.hwcaps_subdirs = list(supported)
        if major_minor < (2, 37) and (machine, elf_class) == ("x86_64", 64):
            info.legacy_subdirs = list(LEGACY_HWCAP_SUBDIRS_X86_64)
        cache = self.ld_cache()
        info.cache_present = self.fs.exists("/etc/ld.so.cache")
        if cache is not None:
            info.cache_format = cache.format
            info.cache_entries = len(cache.entries)
            info.cache_generator = cache.generator
        elif info.cache_present:
            info.cache_error = self._cache_error

    _cache_error = ""

    def ld_cache(self) -> LdCache | None:
        if "c" not in self._cache:
            cache = None
            data = None
            try:
                data = self.fs.read("/etc/ld.so.cache", limit=64 << 20)
            except (OSError, PathLoopError):
                data = None
            if data is not None:
                try:
                    cache = parse_ld_cache(data)
                except LdCacheError as exc:
                    self._cache_error = str(exc)
            self._cache["c"] = cache
        return self._cache["c"]

    def _glibc_version(self, libc_path: str | None, libc: ElfFile | None,
                       interp: ElfFile | None) -> str:
        if libc_path:
            resolved = self.resolve(libc_path)
            data = self.fs.read(resolved, limit=MAX_LIBRARY_BYTES) if resolved else None
            if data:
                m = re.search(rb"release version (\d+\.\d+)", data)
                if m:
                    return m.group(1).decode()
        best = (0, 0)
        for elf in (libc, interp):
            for name in elf.verdef if elf else []:
                vm = re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", name)
                if vm:
                    best = max(best, (int(vm.group(1)), int(vm.group(2))))
        return f"{best[0]}.{best[1]}" if best != (0, 0) else ""

    def _detect_musl(self, machine: str, elf_class: int) -> MuslInfo | None:
        arch = MUSL_ARCHES.get((machine, elf_class))
        if arch is None:
            return None
        interp = f"/lib/ld-musl-{arch}.so.1"
        resolved = self.resolve(interp)
        if resolved is None:
            return None
        elf, _ = self.read_elf(resolved)
        if elf is None or elf.machine_name != machine or elf.elf_class != elf_class:
            return None
        info = MuslInfo(interpreter=interp, interpreter_resolved=resolved)
        data = self.fs.read(resolved, limit=MAX_LIBRARY_BYTES) or b""
        m = re.search(rb"musl libc \([a-z0-9_]+\)\x00(\d+\.\d+\.\d+[a-z0-9.+-]*)\x00", data)
        if m is None and b"musl libc (" in data:
            # musl >= 1.1: the usage text is "musl libc (ARCH)\nVersion %s\n..." and the
            # version is the separate string __libc_version (src/internal/version.c); the
            # suffix rule keeps addresses like 127.0.0.1 out.
            m = re.search(rb"\x00(\d+\.\d+\.\d+(?:[-_][a-z0-9._+-]*)?)\x00", data)
        if m:
            info.version = m.group(1).decode()
        self._musl_path(info, interp, arch)
        return info

    def _musl_path(self, info: MuslInfo, interp: str, arch: str) -> None:
        # musl: the path file sits under the loader's grandparent directory.
        cut = interp.rfind("/")
        prefix = interp[: interp.rfind("/", 0, cut)] if cut > 0 else ""
        if not interp.startswith("/"):
            prefix = ""
        info.path_file = f"{prefix}/etc/ld-musl-{arch}.path"
        text: str | None = None
        resolved = self.resolve(info.path_file, "/")
        if resolved is not None:
            info.path_file_present = True
            data = self.fs.read(resolved, limit=1 << 20)
            text = "" if data is None else data.decode("utf-8", "surrogateescape")
            # musl reads the file as a C string: a NUL ends it.
            text = text.split("\x00", 1)[0]
        if text is None:
            text = MUSL_DEFAULT_PATH
        info.system_path = _musl_split(text)

    # -- resolution ----------------------------------------------------------------------

    def load(self, path: str, elf: ElfFile, run_uid: int = 0, run_gid: int = 0,
             file_mode: int = 0, file_uid: int = 0, file_gid: int = 0) -> LoadResult:
        """Replay the loader named by ``elf``'s PT_INTERP for the executable at ``path``."""
        flavor = self.loader_flavor(elf)
        secure = bool((file_mode & 0o4000 and file_uid != run_uid)
                      or (file_mode & 0o2000 and file_gid != run_gid))
        if flavor == "musl":
            return _MuslRun(self, path, elf, secure).run()
        if flavor == "glibc":
            return _GlibcRun(self, path, elf, secure).run()
        result = LoadResult("unknown")
        result.notes.append(f"the program interpreter {elf.interpreter} is neither a glibc nor a "
                            "musl loader the model knows; dependencies not resolved")
        return result

    def loader_flavor(self, elf: ElfFile) -> str:
        """The loader that will actually run: judged by the interpreter file in the image (a
        gcompat-style glibc name can point at musl), else by the PT_INTERP name."""
        if elf.interpreter is None:
            return "none"
        resolved = self.resolve(elf.interpreter, "/")
        if resolved is not None:
            base = posixpath.basename(resolved)
            if base.startswith("ld-musl-"):
                return "musl"
            interp_elf, _ = self.read_elf(resolved)
            if interp_elf is not None:
                if any(v.startswith("GLIBC_") for v in interp_elf.verdef):
                    return "glibc"
                data = self.fs.read(resolved, limit=MAX_LIBRARY_BYTES) or b""
                if b"musl libc" in data or b"/etc/ld-musl-" in data:
                    return "musl"
        flavor = interpreter_flavor(elf.interpreter)
        return flavor if flavor in ("glibc", "musl") else "unknown"

    def probe(self, path: str, machine: str, elf_class: int, little: bool
              ) -> tuple[str, str, str | None, ElfFile | None]:
        """glibc's open_verify for one candidate: (status, reason, resolved, elf) with status
        missing | ok | skip | fatal."""
        try:
            resolved = self.fs.resolve(path, cwd=self.cwd)
        except PathLoopError:
            return "missing", "Too many levels of symbolic links", None, None
        if resolved is None:
            return "missing", "No such file or directory", None, None
        entry = self.fs.entry(resolved)
        if entry is None:
            return "missing", "No such file or directory", None, None
        if entry.kind is EntryKind.DIR:
            return "fatal", "cannot read file data: Error 21", resolved, None  # EISDIR
        if entry.kind is not EntryKind.FILE:
            return "fatal", "not a regular file", resolved, None
        head = self.header(resolved)
        if head is None:
            return "fatal", "cannot read file data", resolved, None
        # open_verify reads a whole ELF header first: a shorter file is "too short" before
        # its magic is even looked at.
        if entry.size < (64 if elf_class == 64 else 52):
            return "fatal", "file too short", resolved, None
        if len(head) >= 4 and head[:4] != ELF_MAGIC:
            return "fatal", "invalid ELF header", resolved, None
        if len(head) >= 20:
            if head[4] != (2 if elf_class == 64 else 1):
                return "skip", f"wrong ELF class: ELFCLASS{32 if head[4] == 1 else 64}", \
                    resolved, None
            if head[5] != (1 if little else 2):
                return ("fatal", "ELF file data encoding not "
                        f"{'little' if little else 'big'}-endian", resolved, None)
            end = "<" if little else ">"
            e_type, e_machine = struct.unpack_from(end + "HH", head, 16)
            if MACHINES.get(e_machine, f"machine-{e_machine}") != machine:
                return "skip", f"wrong machine {MACHINES.get(e_machine, e_machine)}", \
                    resolved, None
            if e_type not in (ET_EXEC, ET_DYN):
                return "fatal", "only ET_DYN and ET_EXEC can be loaded", resolved, None
        elf, why = self.read_elf(resolved)
        if elf is None:
            if why == "contents not kept":
                return "ok", "", resolved, None
            return "fatal", f"malformed ELF ({why})", resolved, None
        return "ok", "", resolved, elf


def _version_tuple(version: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _system_dirs_from_ldso(data: bytes) -> list[str]:
    """The trusted directories compiled into glibc's ld.so (the ``system_dirs`` string:
    NUL-separated absolute directories each ending in '/')."""
    best: list[str] = []
    for m in re.finditer(rb"\x00((?:/[A-Za-z0-9_.+/-]*/\x00){1,8})", data):
        dirs = [d.decode() for d in m.group(1).split(b"\x00") if d]
        if all("lib" in d for d in dirs) and len(dirs) > len(best):
            best = dirs
    return [d.rstrip("/") or "/" for d in best]


def _lib_token_from_ldso(data: bytes, triplet: str | None) -> str:
    if triplet and f"\x00lib/{triplet}\x00".encode() in data:
        return f"lib/{triplet}"
    return ""


def _musl_split(text: str) -> list[str]:
    return [p for p in re.split(r"[:\n]", text) if p][:MAX_PATH_ELEMENTS]


def _glibc_dir(element: str) -> str:
    """fillin_rpath's spelling: trailing slashes trimmed, one added; "" means "./"."""
    if element == "":
        element = "./"
    while len(element) > 1 and element.endswith("/"):
        element = element[:-1]
    return element if element.endswith("/") else element + "/"


def _origin_of(path: str, resolved: str | None, is_main: bool) -> str:
    """$ORIGIN: for the executable the directory of its real path (/proc/self/exe); for a
    library the directory of the name it was opened by."""
    if is_main and resolved:
        return posixpath.dirname(resolved) or "/"
    d = posixpath.dirname(path)
    return d if d else "."


@dataclass(slots=True)
class _Obj:
    path: str
    resolved: str | None
    elf: ElfFile | None
    loader: _Obj | None  # the object whose DT_NEEDED loaded this one (glibc l_loader)
    names: list[str]
    is_main: bool = False
    is_interp: bool = False
    depth: int = 0
    layer: int | None = None

    def origin(self) -> str:
        return _origin_of(self.path, self.resolved, self.is_main)


class _GlibcRun:
    """One process start under glibc's ld.so."""

    def __init__(self, image: ImageLoader, path: str, elf: ElfFile, secure: bool) -> None:
        self.image = image
        self.machine = elf.machine_name
        self.cls = elf.elf_class
        self.little = elf.little_endian
        self.secure = secure
        self.result = LoadResult("glibc")
        info = image.glibc(self.machine, self.cls)
        if info is None:
            # A glibc-style loader the model does not recognise: upstream default directories.
            dirs = ["/lib64", "/usr/lib64"] if self.cls == 64 else ["/lib", "/usr/lib"]
            info = GlibcInfo(elf.interpreter or "", None, None, layout="unknown",
                             trusted_dirs=dirs, trusted_dirs_source="upstream default",
                             lib_token="lib64" if self.cls == 64 else "lib")
            self.note("no glibc found in the standard places; assumed upstream default "
                      "directories " + ":".join(dirs))
        self.info = info
        self.objects: list[_Obj] = []
        main_resolved = image.resolve(path)
        self.main = _Obj(path, main_resolved, elf, None, [], is_main=True)
        self.interp: _Obj | None = None
        if elf.interpreter:
            ir = image.resolve(elf.interpreter, "/")
            ielf = image.read_elf(ir)[0] if ir else None
            names = [elf.interpreter]
            if ielf is not None and ielf.soname:
                names.append(ielf.soname)
            self.interp = _Obj(elf.interpreter, ir, ielf, None, names, is_interp=True)
        self.hwcaps = [f"glibc-hwcaps/{s}/" for s in self.info.hwcaps_subdirs]
        self.legacy = [f"{s}/" for s in self.info.legacy_subdirs]
        self.accepted_flags = _accepted_cache_flags(self.machine, self.cls)
        self.env = image.env
        self._rpath_cache: dict[tuple[int, str], list[str]] = {}

    # DST expansion (elf/dl-load.c _dl_dst_substitute): unknown $NAME stays literal, a known
    # token without a value drops the element.
    def expand(self, text: str, obj: _Obj) -> tuple[str | None, bool]:
        uncertain = False
        out = []
        i = 0
        while i < len(text):
            ch = text[i]
            if ch != "$":
                out.append(ch)
                i += 1
                continue
            token, length = _dst_token(text, i)
            if token == "ORIGIN":
                if self.secure and not obj.origin().startswith("/"):
                    return None, uncertain
                out.append(obj.origin())
            elif token == "LIB":
                out.append(self.info.lib_token)
            elif token == "PLATFORM":
                out.append(self.machine)
                uncertain = True
            else:
                out.append("$")
                i += 1
                continue
            i += length
        return "".join(out), uncertain

    def path_list(self, text: str, obj: _Obj, seps: str) -> list[str]:
        dirs: list[str] = []
        for element in re.split(f"[{re.escape(seps)}]", text)[:MAX_PATH_ELEMENTS]:
            expanded, uncertain = self.expand(element, obj)
            if uncertain:
                self.note(f"$PLATFORM in '{text}' depends on the CPU; assumed {self.machine}")
            if expanded is None:
                continue
            if self.secure and not expanded.startswith("/"):
                continue
            d = _glibc_dir(expanded)
            if d not in dirs:
                dirs.append(d)
        return dirs

    def note(self, text: str) -> None:
        if text not in self.result.notes:
            self.result.notes.append(text)

    def run(self) -> LoadResult:
        main = self.main
        assert main.elf is not None
        self.objects.append(main)
        queue: list[_Obj] = [main]
        # Preloads: LD_PRELOAD, then /etc/ld.so.preload (rtld.c dl_main); failures only warn.
        preload_env = self.env.get("LD_PRELOAD", "")
        if preload_env and not self.secure:
            for name in [p for p in re.split(r"[ :]", preload_env) if p]:
                dep = self.map_name(name, main, queue, preload="LD_PRELOAD")
                self.result.preloads.append(dep)
        for name in read_preload_file(self.image.fs):
            dep = self.map_name(name, main, queue, preload="/etc/ld.so.preload")
            self.result.preloads.append(dep)
        index = 0
        while index < len(queue):
            obj = queue[index]
            index += 1
            if obj.elf is None:
                continue
            for name in obj.elf.needed:
                dep = self.map_name(name, obj, queue)
                self.result.dependencies.append(dep)
                if dep.fatal and not self.result.fatal_error:
                    self.result.fatal_error = f"{name}: {dep.error}"
                    self._finish()
                    return self.result
                if not dep.found and not self.result.fatal_error:
                    self.result.fatal_error = (f"{name}: cannot open shared object file: "
                                               "No such file or directory")
                if len(self.objects) > MAX_OBJECTS:
                    self.note("dependency tree too large; stopped")
                    self._finish()
                    return self.result
        if self.interp is not None and self.interp not in self.objects:
            self.objects.append(self.interp)
        if not self.result.fatal_error:
            self.check_versions()
        self._finish()
        return self.result

    def _finish(self) -> None:
        for obj in self.objects:
            e = obj.elf
            self.result.objects.append(LoadedObject(
                path=obj.path, resolved=obj.resolved,
                loaded_by=("" if obj.is_main else "kernel" if obj.is_interp
                           else (obj.loader.path if obj.loader else "")),
                soname=e.soname if e else None, needed=list(e.needed) if e else [],
                rpath=e.rpath if e else None, runpath=e.runpath if e else None,
                nodeflib=e.nodeflib if e else False, verdef=list(e.verdef) if e else [],
                machine=e.machine_name if e else "", elf_class=e.elf_class if e else 0,
                layer=self._layer(obj.resolved), names=list(obj.names)))

    def _layer(self, resolved: str | None) -> int | None:
        entry = self.image.fs.entry(resolved) if resolved else None
        return entry.layer if entry else None

    def find_loaded(self, name: str) -> _Obj | None:
        for obj in self.objects + ([self.interp] if self.interp else []):
            if name in obj.names:
                return obj
        for obj in self.objects + ([self.interp] if self.interp else []):
            if obj.elf is not None and obj.elf.soname == name and not obj.is_main:
                return obj
        return None

    def map_name(self, name: str, requester: _Obj, queue: list[_Obj], preload: str = ""
                 ) -> Dependency:
        dep = Dependency(requester=requester.path, name=name, preload=preload,
                         depth=requester.depth + 1)
        loaded = self.find_loaded(name)
        if loaded is not None:
            self._found(dep, loaded, "interpreter" if loaded.is_interp else "loaded")
            if loaded.is_interp and loaded not in self.objects:
                # ld.so joins the list where it is first needed.
                self.objects.append(loaded)
                loaded.loader = requester
            return dep
        if "/" in name:
            expanded, _ = self.expand(name, requester)
            if expanded is None:
                dep.error = "cannot load auxiliary `" + name + "' (DST not allowed)"
                return dep
            status, reason, resolved, elf = self.image.probe(expanded, self.machine, self.cls,
                                                             self.little)
            if status == "ok":
                return self._new_object(dep, expanded, resolved, elf, requester, queue,
                                        "direct", "")
            dep.fatal = status == "fatal"
            dep.error = reason if status != "missing" else \
                "cannot open shared object file: No such file or directory"
            if status == "skip":
                dep.skipped.append(f"{expanded}: {reason}")
            return dep
        # 1. RPATH of the requester and its loader chain, unless the requester has RUNPATH.
        if requester.elf is None or requester.elf.runpath is None:
            chain = requester
            seen_main = False
            chain_obj: _Obj | None = chain
            while chain_obj is not None:
                if self._try_rpath(dep, chain_obj, "RPATH", requester, queue):
                    return dep
                if dep.fatal:
                    return dep
                seen_main |= chain_obj.is_main
                chain_obj = chain_obj.loader
            if not seen_main and self._try_rpath(dep, self.main, "RPATH", requester, queue):
                return dep
            if dep.fatal:
                return dep
        # 2. LD_LIBRARY_PATH (ignored in secure mode).
        llp = self.env.get("LD_LIBRARY_PATH", "")
        if llp and not self.secure:
            dirs = self.path_list(llp, self.main, ":;")
            if self._try_dirs(dep, dirs, "LD_LIBRARY_PATH", "ld_library_path", "", requester,
                              queue):
                return dep
            if dep.fatal:
                return dep
        # 3. RUNPATH of the requester only.
        if requester.elf is not None and requester.elf.runpath is not None:
            if self._try_rpath(dep, requester, "RUNPATH", requester, queue):
                return dep
            if dep.fatal:
                return dep
        nodeflib = requester.elf is not None and requester.elf.nodeflib
        # 4. /etc/ld.so.cache.
        cache = self.image.ld_cache()
        if cache is not None and not self.secure:
            dep.searched.append(SearchedDir("/etc/ld.so.cache", "ld.so.cache"))
            entry = cache.lookup(name, self.accepted_flags, tuple(self.info.hwcaps_subdirs))
            trusted = self.info.trusted_dirs
            if entry is not None and nodeflib and any(
                    entry.path.startswith(_glibc_dir(d)) for d in trusted):
                entry = None
            if entry is not None:
                status, reason, resolved, elf = self.image.probe(
                    entry.path, self.machine, self.cls, self.little)
                if status == "ok":
                    self._new_object(dep, entry.path, resolved, elf, requester, queue,
                                     "ld.so.cache", "")
                    dep.cpu_dependent = entry.is_hwcaps
                    return dep
                if status == "fatal":
                    dep.fatal, dep.error = True, reason
                    return dep
                if status == "skip":
                    dep.skipped.append(f"{entry.path}: {reason}")
        # 5. The trusted directories.
        if not nodeflib:
            dirs = [_glibc_dir(d) for d in self.info.trusted_dirs]
            if self._try_dirs(dep, dirs, "default directory", "default", "", requester, queue):
                return dep
            if dep.fatal:
                return dep
        if not dep.error:
            dep.error = "cannot open shared object file: No such file or directory"
            if dep.skipped:
                dep.error = (f"cannot open shared object file: {dep.skipped[0].split(': ', 1)[1]}"
                             if "class" in dep.skipped[0] else dep.error)
        return dep

    def _try_rpath(self, dep: Dependency, obj: _Obj, tag: str, requester: _Obj,
                   queue: list[_Obj]) -> bool:
        if obj.elf is None:
            return False
        text = obj.elf.rpath if tag == "RPATH" else obj.elf.runpath
        if tag == "RPATH" and obj.elf.runpath is not None:
            return False  # DT_RUNPATH present: glibc discards DT_RPATH of that object
        if text is None:
            return False
        dirs = self.path_list(text, obj, ":")
        how = "rpath" if tag == "RPATH" else "runpath"
        return self._try_dirs(dep, dirs, f"{tag} of {obj.path}", how, obj.path, requester, queue)

    def _try_dirs(self, dep: Dependency, dirs: list[str], source: str, how: str, via: str,
                  requester: _Obj, queue: list[_Obj]) -> bool:
        for d in dirs:
            dep.searched.append(SearchedDir(d.rstrip("/") or "/", source))
            subdirs = [*self.hwcaps, *self.legacy, ""]
            for sub in subdirs:
                candidate = d + sub + dep.name
                status, reason, resolved, elf = self.image.probe(
                    candidate, self.machine, self.cls, self.little)
                if status == "missing":
                    continue
                if status == "skip":
                    dep.skipped.append(f"{candidate}: {reason}")
                    continue
                if status == "fatal":
                    dep.fatal, dep.error = True, reason
                    dep.path = candidate
                    dep.resolved = resolved
                    return False
                self._new_object(dep, candidate, resolved, elf, requester, queue, how, via)
                dep.cpu_dependent = sub.startswith("glibc-hwcaps/")
                return True
        return False

    def _found(self, dep: Dependency, obj: _Obj, how: str) -> None:
        dep.found, dep.path, dep.resolved, dep.how = True, obj.path, obj.resolved, how
        if dep.name not in obj.names:
            obj.names.append(dep.name)

    def _new_object(self, dep: Dependency, path: str, resolved: str | None,
                    elf: ElfFile | None, requester: _Obj, queue: list[_Obj], how: str,
                    via: str) -> Dependency:
        # The same file under another name is the same object (dev/inode check).
        for obj in self.objects + ([self.interp] if self.interp else []):
            if resolved is not None and obj.resolved == resolved and not obj.is_main:
                self._found(dep, obj, how)
                dep.path = path
                return dep
        if elf is None:
            self.note(f"{path}: contents not available; its own dependencies are unknown")
        obj = _Obj(path, resolved, elf, requester, [dep.name], depth=requester.depth + 1)
        self.objects.append(obj)
        queue.append(obj)
        dep.found, dep.path, dep.resolved, dep.how, dep.via = True, path, resolved, how, via
        return dep

    def check_versions(self) -> None:
        """elf/dl-version.c: every Verneed of every loaded object against its provider."""
        objs = list(self.objects)
        for obj in objs:
            if obj.elf is None:
                continue
            for need in obj.elf.verneed:
                provider = self.find_loaded(need.file)
                if provider is None or provider.elf is None:
                    continue
                if not provider.elf.verdef:
                    self.result.version_problems.append(VersionProblem(
                        obj.path, need.file, "", provider.path, no_version_info=True))
                    continue
                have = set(provider.elf.verdef)
                for version in need.names:
                    if version in have:
                        continue
                    weak = version in need.weak
                    self.result.version_problems.append(VersionProblem(
                        obj.path or "", need.file, version, provider.path, weak=weak,
                        provider_versions=_glibc_versions(provider.elf.verdef)))
                    if not weak and not self.result.fatal_error:
                        self.result.fatal_error = (
                            f"{provider.path}: version `{version}' not found (required by "
                            f"{obj.path})")


def _glibc_versions(verdef: list[str]) -> list[str]:
    names = [v for v in verdef if re.fullmatch(r"GLIBC_\d+\.\d+(\.\d+)?", v)]

    def key(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in v[6:].split("."))

    return sorted(names, key=key)[-3:]


def _dst_token(text: str, i: int) -> tuple[str, int]:
    """The dynamic string token at text[i] == '$' and its length ("" when none)."""
    rest = text[i + 1:]
    if rest.startswith("{"):
        close = rest.find("}")
        if close > 0:
            word = rest[1:close]
            if word in ("ORIGIN", "LIB", "PLATFORM"):
                return word, close + 2
        return "", 0
    for word in ("ORIGIN", "PLATFORM", "LIB"):
        if rest.startswith(word):
            after = rest[len(word):len(word) + 1]
            if not (after.isalnum() or after == "_"):
                return word, len(word) + 1
    return "", 0


def _accepted_cache_flags(machine: str, elf_class: int) -> tuple[int, ...]:
    default = DEFAULT_ID_BY_MACHINE.get((machine, elf_class))
    if default is not None:
        return (default,)
    return (3, 1)  # generic _dl_cache_check_flags: ELF libc6 or plain ELF


def read_preload_file(fs: MergedFS) -> list[str]:
    """Entries of /etc/ld.so.preload (whitespace or colon separated)."""
    try:
        data = fs.read("/etc/ld.so.preload", limit=1 << 20)
    except (OSError, PathLoopError):
        return []
    if not data:
        return []
    text = data.decode("utf-8", "surrogateescape")
    return [p for p in re.split(r"[ \t\n:]", text) if p][:MAX_PATH_ELEMENTS]


class _MuslRun:
    """One process start under musl's dynamic linker."""

    def __init__(self, image: ImageLoader, path: str, elf: ElfFile, secure: bool) -> None:
        self.image = image
        self.machine = elf.machine_name
        self.cls = elf.elf_class
        self.little = elf.little_endian
        self.secure = secure
        self.info = image.musl(self.machine, self.cls)
        self.result = LoadResult("musl")
        self.ldso_name = elf.interpreter or ""
        ir = image.resolve(self.ldso_name, "/") if self.ldso_name else None
        self.ldso = _Obj(self.ldso_name, ir, image.read_elf(ir)[0] if ir else None, None, [],
                         is_interp=True)
        self.main = _Obj(path, image.resolve(path), elf, None, [], is_main=True)
        self.objects: list[_Obj] = [self.main]
        self.system_path = self._system_path()

    def _system_path(self) -> list[str]:
        if self.info is not None and self.info.interpreter == self.ldso_name:
            return list(self.info.system_path)
        arch = MUSL_ARCHES.get((self.machine, self.cls), self.machine)
        info = MuslInfo(self.ldso_name, self.ldso.resolved)
        self.image._musl_path(info, self.ldso_name, arch)
        return info.system_path

    def note(self, text: str) -> None:
        if text not in self.result.notes:
            self.result.notes.append(text)

    def rpath_dirs(self, obj: _Obj) -> list[str] | None:
        """fixup_rpath: RUNPATH wins over RPATH; $ORIGIN/${ORIGIN} expanded, any other '$'
        voids the whole list."""
        if obj.elf is None:
            return None
        text = obj.elf.runpath if obj.elf.runpath is not None else obj.elf.rpath
        if text is None:
            return None
        if "$" in text:
            origin = obj.origin()
            if self.secure and not origin.startswith("/"):
                return None
            out = []
            i = 0
            while i < len(text):
                if text[i] == "$":
                    if text.startswith("$ORIGIN", i):
                        out.append(origin)
                        i += 7
                        continue
                    if text.startswith("${ORIGIN}", i):
                        out.append(origin)
                        i += 9
                        continue
                    return None
                out.append(text[i])
                i += 1
            text = "".join(out)
        return _musl_split(text)

    def run(self) -> LoadResult:
        queue = [self.main]
        preload_env = self.image.env.get("LD_PRELOAD", "")
        if preload_env and not self.secure:
            for name in [p for p in re.split(r"[ \t\n:]", preload_env) if p]:
                dep = self.load_library(name, self.main, queue)
                dep.preload = "LD_PRELOAD"
                self.result.preloads.append(dep)
        index = 0
        while index < len(queue):
            obj = queue[index]
            index += 1
            if obj.elf is None:
                continue
            for name in obj.elf.needed:
                dep = self.load_library(name, obj, queue)
                self.result.dependencies.append(dep)
                if not dep.found and not self.result.fatal_error:
                    self.result.fatal_error = (f"Error loading shared library {name}: "
                                               f"{dep.error} (needed by {obj.path})")
                if len(self.objects) > MAX_OBJECTS:
                    self.note("dependency tree too large; stopped")
                    index = len(queue)
                    break
        if len(self.objects) <= MAX_OBJECTS:
            self._check_symbols()
        self._finish()
        return self.result

    def _check_symbols(self) -> None:
        """ldso/dynlink.c do_relocs: musl binds every symbol at start-up (no lazy binding for
        the initial objects) and ignores symbol versions; an undefined, non-weak symbol that
        no object of the process defines prints "Error relocating OBJ: SYM: symbol not
        found" and the start fails (exit 127). Libraries are relocated before the program."""
        tables: list[tuple[_Obj, DynamicSymbols]] = []
        seen: set[str | None] = set()
        for obj in [*self.objects, self.ldso]:
            if obj.resolved in seen:
                continue
            seen.add(obj.resolved)
            syms = self.image.dynamic_symbols(obj.resolved) if obj.resolved else None
            if syms is None:
                self.note(f"{obj.path}: dynamic symbols not readable; symbol binding not checked")
                return
            tables.append((obj, syms))
        defined: set[str] = set()
        for _obj, syms in tables:
            defined |= syms.defined
        order = [t for t in tables if not t[0].is_main and not t[0].is_interp] + \
            [t for t in tables if t[0].is_main]
        for obj, syms in order:
            for name in syms.needed:
                if name not in defined:
                    self.result.missing_symbols.append(MissingSymbol(obj.path, name))
        first = self.result.missing_symbols[0] if self.result.missing_symbols else None
        if first is not None and not self.result.fatal_error:
            self.result.fatal_error = (f"Error relocating {first.requester}: {first.symbol}: "
                                       "symbol not found")

    def _finish(self) -> None:
        for obj in self.objects + ([self.ldso] if self.ldso not in self.objects else []):
            e = obj.elf
            layer = None
            if obj.resolved:
                entry = self.image.fs.entry(obj.resolved)
                layer = entry.layer if entry else None
            self.result.objects.append(LoadedObject(
                path=obj.path, resolved=obj.resolved,
                loaded_by=("" if obj.is_main else "kernel" if obj.is_interp
                           else (obj.loader.path if obj.loader else "")),
                soname=e.soname if e else None, needed=list(e.needed) if e else [],
                rpath=e.rpath if e else None, runpath=e.runpath if e else None,
                nodeflib=e.nodeflib if e else False, verdef=list(e.verdef) if e else [],
                machine=e.machine_name if e else "", elf_class=e.elf_class if e else 0,
                layer=layer, names=list(obj.names)))

    def load_library(self, name: str, requester: _Obj, queue: list[_Obj]) -> Dependency:
        dep = Dependency(requester=requester.path, name=name, depth=requester.depth + 1)
        if not name:
            dep.error = "Invalid argument"
            return dep
        if name.startswith("lib"):
            rest = name[3:]
            if any(rest.startswith(r + ".") for r in MUSL_RESERVED):
                return self._self(dep)
        if name == self.ldso_name:
            return self._self(dep)
        if "/" in name:
            return self._open(dep, name, name, requester, queue, "direct", "")
        for obj in self.objects:
            if not obj.is_main and name in obj.names:
                dep.found, dep.path, dep.resolved, dep.how = True, obj.path, obj.resolved, "loaded"
                return dep
        env_path = self.image.env.get("LD_LIBRARY_PATH")
        if env_path and not self.secure:
            if self._path_open(dep, _musl_split(env_path), "LD_LIBRARY_PATH", "ld_library_path",
                               "", requester, queue):
                return dep
            if dep.error:
                return dep
        chain: _Obj | None = requester
        while chain is not None:
            dirs = self.rpath_dirs(chain)
            if dirs:
                tag = "RUNPATH" if chain.elf and chain.elf.runpath is not None else "RPATH"
                if self._path_open(dep, dirs, f"{tag} of {chain.path}", tag.lower(), chain.path,
                                   requester, queue):
                    return dep
                if dep.error:
                    return dep
            chain = chain.loader
        if self._path_open(dep, self.system_path, "musl path", "path-file", "", requester,
                           queue):
            return dep
        if not dep.error:
            dep.error = "No such file or directory"
        return dep

    def _self(self, dep: Dependency) -> Dependency:
        dep.found, dep.path, dep.resolved = True, self.ldso_name, self.ldso.resolved
        dep.how = "musl-builtin"
        if self.ldso.resolved is None:
            dep.found = False
            dep.error = "the musl loader itself is missing"
        return dep

    def _path_open(self, dep: Dependency, dirs: list[str], source: str, how: str, via: str,
                   requester: _Obj, queue: list[_Obj]) -> bool:
        for d in dirs:
            dep.searched.append(SearchedDir(d, source))
            candidate = f"{d}/{dep.name}"
            try:
                resolved = self.image.fs.resolve(candidate, cwd=self.image.cwd)
            except PathLoopError:
                dep.error = "Symbolic link loop"
                dep.fatal = True
                return False
            if resolved is None:
                continue
            self._open(dep, dep.name, candidate, requester, queue, how, via)
            return dep.found
        return False

    def _open(self, dep: Dependency, name: str, candidate: str, requester: _Obj,
              queue: list[_Obj], how: str, via: str) -> Dependency:
        try:
            resolved = self.image.fs.resolve(candidate, cwd=self.image.cwd)
        except PathLoopError:
            dep.error = "Symbolic link loop"
            return dep
        if resolved is None:
            dep.error = "No such file or directory"
            return dep
        dep.path, dep.resolved = candidate, resolved
        for obj in self.objects:
            if obj.resolved == resolved:
                if not obj.is_main:
                    dep.found, dep.how, dep.via = True, how, via
                    if name not in obj.names:
                        obj.names.append(name)
                    return dep
        entry = self.image.fs.entry(resolved)
        # musl maps the first file that opens, whatever it is. map_library checks e_type only:
        # a non-ELF or other-class file fails to map ("Exec format error"); an ELF of the same
        # class for another machine is mapped and the process dies at relocation or first call.
        problem = ""
        mapped_anyway = False
        elf: ElfFile | None = None
        if entry is None or entry.kind is not EntryKind.FILE:
            problem = "Exec format error"
        else:
            head = self.image.header(resolved) or b""
            if len(head) >= 4 and head[:4] != ELF_MAGIC:
                problem = "Exec format error"
            else:
                elf, why = self.image.read_elf(resolved)
                if elf is None and why != "contents not kept":
                    problem = "Exec format error"
                elif elf is not None and elf.elf_class != self.cls:
                    problem = "Exec format error"
                elif elf is not None and elf.e_type not in (ET_EXEC, ET_DYN):
                    problem = "Exec format error"
                elif elf is not None and elf.machine_name != self.machine:
                    problem = (f"mapped a {elf.machine_name} object; the process crashes at "
                               "relocation or first call")
                    mapped_anyway = True
        if problem:
            dep.error, dep.fatal = problem, True
            if mapped_anyway:
                dep.found, dep.how, dep.via = True, how, via
            return dep
        if elf is None:
            self.note(f"{candidate}: contents not available; its own dependencies are unknown")
        obj = _Obj(candidate, resolved, elf, requester, [name], depth=requester.depth + 1)
        self.objects.append(obj)
        queue.append(obj)
        dep.found, dep.how, dep.via = True, how, via
        return dep


# -- path element hygiene (RPATH/RUNPATH) -------------------------------------------------------

WORLD_WRITABLE_PREFIXES = ("/tmp", "/var/tmp", "/dev/shm")


def classify_path_elements(fs: MergedFS, obj_path: str, obj_resolved: str | None,
                           elf: ElfFile, lib_token: str, is_main: bool) -> list[PathElement]:
    """Every RPATH/RUNPATH element of one object with what makes it risky."""
    out: list[PathElement] = []
    for tag, text in (("RPATH", elf.rpath), ("RUNPATH", elf.runpath)):
        if text is None:
            continue
        for element in text.split(":")[:MAX_PATH_ELEMENTS]:
            problems: list[str] = []
            origin = _origin_of(obj_path, obj_resolved, is_main)
            expanded = (element.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
                        .replace("${LIB}", lib_token).replace("$LIB", lib_token))
            if element == "":
                problems.append("empty")
            elif not element.startswith(("/", "$ORIGIN", "${ORIGIN}")):
                problems.append("relative")
            else:
                norm = posixpath.normpath(expanded) if expanded.startswith("/") else expanded
                if any(norm == p or norm.startswith(p + "/") for p in WORLD_WRITABLE_PREFIXES):
                    problems.append("world-writable")
                else:
                    try:
                        entry = fs.lookup(norm)
                    except PathLoopError:
                        entry = None
                    if entry is None:
                        problems.append("absent")
                    elif entry.kind is EntryKind.DIR and entry.mode & 0o002 and \
                            not entry.mode & 0o1000:
                        problems.append("world-writable")
            out.append(PathElement(obj_path, tag, element, expanded, problems))
    return out
