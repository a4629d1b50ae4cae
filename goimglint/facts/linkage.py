"""Loader model: how the image's own dynamic loader (glibc or musl) would start a binary, and
how the container runtime gets to it (entrypoint, PATH, WorkingDir, User).

``collect_system_facts`` gathers the image-wide facts once; ``collect_load_facts`` replays the
kernel and the loader for one ELF executable. Everything here is plain dataclasses of
JSON-friendly values (``dataclasses.asdict`` works); the heavy, cached state lives in an
``ImageLoader`` that ``collect_facts`` builds once per image and passes in."""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field

from goimglint.errors import PathLoopError
from goimglint.facts.elf import ELF_MAGIC, MACHINES, ElfFile, VersionNeed, parse_elf
from goimglint.facts.ldconf import LdSoConf
from goimglint.facts.loader import (
    Dependency,
    GlibcInfo,
    ImageLoader,
    LoadedObject,
    MissingSymbol,
    MuslInfo,
    PathElement,
    VersionProblem,
    binary_libc,
    classify_path_elements,
    expected_machine,
    interpreter_flavor,
    libc_family,
    read_preload_file,
)
from goimglint.image.fs import MergedFS
from goimglint.image.model import EntryKind, ImageConfig

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # Docker/runc
MAX_SCRIPT_DEPTH = 4  # the kernel's binfmt_script recursion limit (5 binprm levels)
BINPRM_BUF_SIZE = 256  # the kernel reads this much of a #! line
SHELLS = ("sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "busybox")
SHELL_WORDS = {
    "cd", "echo", "exec", "set", "export", "test", "[", "true", "false", ":", ".", "source",
    "eval", "if", "for", "while", "until", "case", "trap", "ulimit", "umask", "exit", "printf",
    "read", "wait", "command", "type", "unset", "shift", "getopts", "alias", "local", "return",
    "{", "(", "!", "[[", "readonly", "times", "kill", "pwd", "hash",
}

# -- image-wide facts ------------------------------------------------------------------------


@dataclass(slots=True)
class UserFacts:
    """The configured User as the runtime (runc / moby user package) resolves it."""

    spec: str = ""  # config User as written, "" = root
    user: str = ""
    group: str = ""
    uid: int = 0
    gid: int = 0
    supplementary_gids: list[int] = field(default_factory=list)
    passwd_present: bool = False
    group_file_present: bool = False
    user_found: bool = True  # False: a name absent from /etc/passwd
    group_found: bool = True  # False: a group name absent from /etc/group
    problem: str = ""  # runtime's error text when it will refuse to start the container


@dataclass(slots=True)
class ScriptStep:
    """One #! hop: the script, its interpreter and optional argument."""

    script: str
    interpreter: str
    argument: str = ""
    resolved: str | None = None  # interpreter file in the image
    problem: str = ""  # missing, not-executable, bad-line


@dataclass(slots=True)
class EntrypointFacts:
    """What the runtime executes: Entrypoint + Cmd resolved through PATH and WorkingDir."""

    argv: list[str] = field(default_factory=list)
    form: str = "none"  # "exec", "shell" (sh -c '...') or "none"
    program: str = ""  # argv[0]
    path_env: str = ""  # the PATH the runtime uses
    path_default: bool = False  # Env has no PATH: the runtime's default
    working_dir: str = "/"
    candidates: list[str] = field(default_factory=list)  # paths tried for argv[0]
    resolved: str | None = None  # file argv[0] names, symlinks followed
    path: str | None = None  # argv[0] as found (PATH entry joined), the exec path
    kind: str = ""  # elf, script, other, directory, missing
    mode: int = 0
    layer: int | None = None
    scripts: list[ScriptStep] = field(default_factory=list)
    executable: str | None = None  # the ELF the kernel finally loads (interpreter for scripts)
    shell_command: str = ""  # first word the shell runs, for the shell form
    shell_command_resolved: str | None = None
    shell_command_problem: str = ""  # "not-found" (the shell exits 127)
    problem: str = ""  # no-command, missing, not-executable, no-shell, interpreter-missing,
    #                    directory, exec-format, permission-denied
    detail: str = ""  # the error text the runtime would show


@dataclass(slots=True)
class PreloadFacts:
    source: str  # "LD_PRELOAD" or "/etc/ld.so.preload"
    name: str
    found: bool = False
    path: str | None = None
    error: str = ""
    layer: int | None = None


@dataclass(slots=True)
class ConfLibrary:
    """A library in an ld.so.conf directory that the cache does not list."""

    soname: str
    path: str
    directory: str
    conf_file: str
    layer: int | None = None


@dataclass(slots=True)
class SystemFacts:
    """Image-wide loader facts."""

    libc: str = "none"  # "glibc", "musl" or "none" (glibc wins when both exist)
    libc_version: str = ""
    has_glibc: bool = False
    has_musl: bool = False
    platform_machine: str = ""  # ELF machine the image platform implies ("" unknown)
    platform_class: int = 0
    platform_from: str = ""  # "config", "libc" or ""
    glibc: GlibcInfo | None = None
    musl: MuslInfo | None = None
    layout: str = ""  # "debian-multiarch", "lib64", "lib", "alpine" ...
    usrmerge: bool = False
    ld_so_conf: LdSoConf = field(default_factory=LdSoConf)
    conf_libraries_not_cached: list[ConfLibrary] = field(default_factory=list)
    ld_library_path: str | None = None
    ld_preload: str | None = None
    preload_file: list[str] = field(default_factory=list)
    preloads: list[PreloadFacts] = field(default_factory=list)
    user: UserFacts = field(default_factory=UserFacts)
    entrypoint: EntrypointFacts = field(default_factory=EntrypointFacts)


# -- per-binary facts ------------------------------------------------------------------------


@dataclass(slots=True)
class StaleCacheHit:
    """A library glibc will not find although an ld.so.conf directory has it: the cache
    (ldconfig) was not regenerated after it was added."""

    soname: str
    requester: str
    path: str  # the file ldconfig would have listed
    directory: str
    conf_file: str
    cache_present: bool
    layer: int | None = None


@dataclass(slots=True)
class LoadFacts:
    """Per-binary loader facts."""

    interpreter_found: bool | None = None  # None: static, or could not be decided
    interpreter_resolved: str | None = None
    # The binary's own link facts.
    elf_class: int = 0
    endianness: str = ""
    machine: str = ""
    kind: str = ""  # executable, pie, shared-object
    interpreter: str | None = None
    needed: list[str] = field(default_factory=list)
    rpath: str | None = None
    runpath: str | None = None
    flags_1: int = 0
    nodeflib: bool = False
    verneed: list[VersionNeed] = field(default_factory=list)
    static: bool = False
    stripped: bool = False
    setuid: bool = False
    setgid: bool = False
    # Verdicts.
    expected_machine: str = ""
    expected_class: int = 0
    arch_mismatch: bool = False
    interpreter_problem: str = ""  # missing, loop, not-a-file, not-elf, wrong-machine
    binary_libc: str = ""  # what it was linked for: glibc, musl, none, unknown
    loader: str = ""  # what will load it: glibc, musl, kernel (static), unknown
    libc_mismatch: str = ""  # "glibc binary, musl image" ... ("" = none)
    libc_compat: bool = False  # the mismatch is bridged by a compatibility layer (gcompat)
    dependencies: list[Dependency] = field(default_factory=list)
    objects: list[LoadedObject] = field(default_factory=list)
    preloads: list[Dependency] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # names no directory supplied
    version_problems: list[VersionProblem] = field(default_factory=list)
    missing_symbols: list[MissingSymbol] = field(default_factory=list)  # musl binds at start
    stale_cache: list[StaleCacheHit] = field(default_factory=list)
    path_elements: list[PathElement] = field(default_factory=list)
    libc_only: bool = False  # every DT_NEEDED belongs to the C library
    starts: bool | None = None  # predicted: gets past the kernel and the loader
    failure: str = ""  # the first error the start would print
    tree: list[str] = field(default_factory=list)  # the dependency tree, one line per edge
    notes: list[str] = field(default_factory=list)


# -- collection ------------------------------------------------------------------------------


def image_loader(fs: MergedFS, config: ImageConfig, hwcaps: tuple[str, ...] | None = None
                 ) -> ImageLoader:
    """The loader model of this filesystem and config. Build it once per image and pass it
    to the collectors below: it caches what it learns (ld.so.cache, directory listings)."""
    platform = expected_machine(config.platform.architecture) if config.has_config else None
    return ImageLoader(fs, config.env_map(), config.working_dir or "/", platform, hwcaps)


def collect_system_facts(fs: MergedFS, config: ImageConfig,
                         hwcaps: tuple[str, ...] | None = None,
                         loader: ImageLoader | None = None) -> SystemFacts:
    """Image-wide facts. ``hwcaps`` limits the glibc-hwcaps levels assumed supported by the
    CPU (default: all, as on a current x86-64 machine) when no ``loader`` is given."""
    loader = loader or image_loader(fs, config, hwcaps)
    env = config.env_map()
    facts = SystemFacts(ld_so_conf=loader.ld_so_conf)
    platform = loader.platform
    candidates: list[tuple[str, int]] = []
    if platform is not None:
        candidates.append((platform[0], platform[1]))
        facts.platform_machine, facts.platform_class = platform[0], platform[1]
        facts.platform_from = "config"
    for key in [("x86_64", 64), ("aarch64", 64), ("arm", 32), ("i386", 32), ("ppc64", 64),
                ("s390x", 64), ("riscv", 64)]:
        if key not in candidates:
            candidates.append(key)
    for machine, cls in candidates:
        glibc = loader.glibc(machine, cls)
        musl = loader.musl(machine, cls)
        if glibc is None and musl is None:
            continue
        facts.glibc, facts.musl = glibc, musl
        if not facts.platform_machine:
            facts.platform_machine, facts.platform_class = machine, cls
            facts.platform_from = "libc"
        break
    facts.has_glibc = facts.glibc is not None
    facts.has_musl = facts.musl is not None
    if facts.glibc is not None:
        facts.libc, facts.libc_version = "glibc", facts.glibc.version
        facts.layout = facts.glibc.layout
    elif facts.musl is not None:
        facts.libc, facts.libc_version = "musl", facts.musl.version
        facts.layout = "musl"
    facts.usrmerge = _is_symlink(fs, "/lib") and _is_symlink(fs, "/bin")
    facts.ld_library_path = env.get("LD_LIBRARY_PATH")
    facts.ld_preload = env.get("LD_PRELOAD")
    facts.preload_file = read_preload_file(fs)
    facts.user = collect_user_facts(fs, config.user)
    facts.entrypoint = collect_entrypoint_facts(fs, config, facts.user)
    if facts.glibc is not None:
        facts.conf_libraries_not_cached = _conf_libraries_not_cached(loader, facts)
    facts.preloads = _system_preloads(loader, facts)
    return facts


def collect_load_facts(fs: MergedFS, config: ImageConfig, system: SystemFacts, path: str,
                       elf: ElfFile, loader: ImageLoader | None = None) -> LoadFacts:
    """Replay execve and the image's loader for the executable at ``path``."""
    loader = loader or image_loader(fs, config)
    facts = LoadFacts(
        elf_class=elf.elf_class, endianness="little" if elf.little_endian else "big",
        machine=elf.machine_name, kind=elf.kind, interpreter=elf.interpreter,
        needed=list(elf.needed), rpath=elf.rpath, runpath=elf.runpath, flags_1=elf.flags_1,
        nodeflib=elf.nodeflib, verneed=list(elf.verneed), static=elf.is_static,
        stripped=elf.stripped, binary_libc=binary_libc(elf),
        libc_only=bool(elf.needed) and all(libc_family(n) for n in elf.needed))
    try:
        entry = fs.lookup(path)
    except PathLoopError:
        entry = None
    file_mode = entry.mode if entry else 0
    facts.setuid, facts.setgid = bool(file_mode & 0o4000), bool(file_mode & 0o2000)
    facts.expected_machine, facts.expected_class = system.platform_machine, system.platform_class
    if system.platform_machine and (elf.machine_name != system.platform_machine
                                    or elf.elf_class != system.platform_class):
        facts.arch_mismatch = True
        facts.starts = False
        facts.failure = "exec format error"
    facts.path_elements = classify_path_elements(
        fs, path, fs.resolve(path) if entry else None, elf,
        system.glibc.lib_token if system.glibc else "lib", True)
    if elf.interpreter is None:
        facts.loader = "kernel"
        if elf.needed:
            facts.notes.append("DT_NEEDED without PT_INTERP: the kernel runs it without a "
                               "loader and nothing resolves the libraries")
        if facts.starts is None:
            facts.starts = True
        return facts
    # The kernel opens PT_INTERP inside the root (execve: ENOENT when it is missing).
    _check_interpreter(loader, elf, facts)
    flavor = loader.loader_flavor(elf) if facts.interpreter_found else \
        interpreter_flavor(elf.interpreter)
    facts.loader = flavor
    _libc_mismatch(system, elf, facts, flavor)
    if facts.arch_mismatch:
        return facts
    if not facts.interpreter_found:
        facts.starts = False
        facts.failure = facts.failure or "no such file or directory"
        return facts
    if facts.interpreter_problem:
        facts.starts = False
        facts.failure = f"interpreter {elf.interpreter}: {facts.interpreter_problem}"
        return facts
    result = loader.load(path, elf, system.user.uid, system.user.gid, file_mode,
                         entry.uid if entry else 0, entry.gid if entry else 0)
    facts.dependencies = result.dependencies
    facts.objects = result.objects
    facts.preloads = result.preloads
    facts.version_problems = result.version_problems
    facts.missing_symbols = result.missing_symbols
    facts.notes.extend(result.notes)
    facts.unresolved = [d.name for d in result.dependencies if not d.found and not d.fatal]
    for obj in result.objects[1:]:
        if obj.resolved is None or obj.loaded_by == "kernel":
            continue
        obj_elf, _ = loader.read_elf(obj.resolved)
        if obj_elf is not None:
            facts.path_elements.extend(classify_path_elements(
                fs, obj.path, obj.resolved, obj_elf,
                system.glibc.lib_token if system.glibc else "lib", False))
    if result.loader == "glibc" and system.glibc is not None:
        facts.stale_cache = _stale_cache(loader, system, result.dependencies)
    if not result.fatal_error:
        bad = next((d for d in result.dependencies if d.fatal), None)
        if bad is not None:
            result.fatal_error = f"{bad.name}: {bad.error}"
    facts.tree = dependency_tree(path, result.dependencies, result.preloads)
    if result.fatal_error:
        facts.starts = False
        facts.failure = result.fatal_error
    elif result.loader == "unknown":
        facts.starts = None
    else:
        facts.starts = True
    return facts


def dependency_tree(root: str, deps: list[Dependency], preloads: list[Dependency]
                    ) -> list[str]:
    """Readable tree: each library with the file it resolved to and why, or the directories
    searched; an object's own dependencies indented below it (once, where first loaded)."""
    children: dict[str, list[Dependency]] = {}
    for dep in deps:
        children.setdefault(dep.requester, []).append(dep)
    lines: list[str] = []
    expanded: set[str] = set()

    def line(dep: Dependency, depth: int) -> str:
        pad = "  " * depth
        if dep.found and not dep.fatal:
            why = dep.how + (f" of {dep.via}" if dep.via and dep.how in ("rpath", "runpath")
                             else "")
            real = f" -> {dep.resolved}" if dep.resolved and dep.resolved != dep.path else ""
            return f"{pad}{dep.name} => {dep.path}{real} [{why}]"
        if dep.fatal:
            return f"{pad}{dep.name} => {dep.path or '?'} FATAL: {dep.error}"
        where = ", ".join(d.directory for d in dep.searched) or "nowhere"
        return f"{pad}{dep.name} => not found (searched {where})"

    def walk(obj: str, depth: int) -> None:
        if obj in expanded or depth > 32:
            return
        expanded.add(obj)
        for dep in children.get(obj, []):
            lines.append(line(dep, depth))
            if dep.found and dep.path and dep.how not in ("loaded", "interpreter",
                                                          "musl-builtin"):
                walk(dep.path, depth + 1)

    for dep in preloads:
        lines.append(f"(preload {dep.preload}) " + line(dep, 0))
    walk(root, 0)
    return lines


def _check_interpreter(loader: ImageLoader, elf: ElfFile, facts: LoadFacts) -> None:
    interp = elf.interpreter or ""
    try:
        resolved = loader.fs.resolve(interp, cwd="/")
    except PathLoopError:
        facts.interpreter_found = False
        facts.interpreter_problem = "loop"
        return
    entry = loader.fs.entry(resolved) if resolved else None
    if entry is None:
        facts.interpreter_found = False
        facts.interpreter_problem = "missing"
        return
    facts.interpreter_found = True
    facts.interpreter_resolved = resolved
    if entry.kind is not EntryKind.FILE:
        facts.interpreter_problem = "not-a-file"
        return
    head = loader.header(entry.path) or b""
    if len(head) >= 4 and head[:4] != ELF_MAGIC:
        facts.interpreter_problem = "not-elf"
        return
    ielf, _ = loader.read_elf(entry.path)
    if ielf is not None and (ielf.machine != elf.machine or ielf.elf_class != elf.elf_class):
        facts.interpreter_problem = "wrong-machine"


def _libc_mismatch(system: SystemFacts, elf: ElfFile, facts: LoadFacts, flavor: str) -> None:
    wants = facts.binary_libc
    if wants == "glibc" and not system.has_glibc and system.has_musl:
        facts.libc_mismatch = "glibc binary in a musl image"
        facts.libc_compat = bool(facts.interpreter_found) and flavor == "musl"
    elif wants == "musl" and not system.has_musl and system.has_glibc:
        facts.libc_mismatch = "musl binary in a glibc image"


def _stale_cache(loader: ImageLoader, system: SystemFacts, deps: list[Dependency]
                 ) -> list[StaleCacheHit]:
    hits: list[StaleCacheHit] = []
    by_soname: dict[str, ConfLibrary] = {}
    for lib in system.conf_libraries_not_cached:
        by_soname.setdefault(lib.soname, lib)
    cache_present = bool(system.glibc and system.glibc.cache_present)
    for dep in deps:
        if dep.found or dep.fatal or "/" in dep.name:
            continue
        conf_lib = by_soname.get(dep.name)
        if conf_lib is not None:
            hits.append(StaleCacheHit(dep.name, dep.requester, conf_lib.path,
                                      conf_lib.directory, conf_lib.conf_file, cache_present,
                                      conf_lib.layer))
    return hits


def _conf_libraries_not_cached(loader: ImageLoader, facts: SystemFacts) -> list[ConfLibrary]:
    """Libraries ldconfig would list from ld.so.conf directories that are not trusted
    directories, but which the image's cache does not know."""
    glibc = facts.glibc
    assert glibc is not None
    cache = loader.ld_cache()
    cached = cache.sonames() if cache is not None else set()
    trusted = {d.rstrip("/") or "/" for d in glibc.trusted_dirs}
    out: list[ConfLibrary] = []
    machine, cls = facts.platform_machine, facts.platform_class
    for directory in facts.ld_so_conf.dirs[:64]:
        if directory in trusted:
            continue
        names = [n for n in loader.fs.listdir(directory)
                 if (n.startswith("lib") or n.startswith("ld-")) and ".so" in n][:512]
        seen: set[str] = set()
        for name in names:
            path = f"{directory}/{name}"
            resolved = loader.resolve(path, "/")
            if resolved is None:
                continue
            elf, _ = loader.read_elf(resolved)
            if elf is None or elf.machine_name != machine or elf.elf_class != cls:
                continue
            # ldconfig keys the entry by DT_SONAME (creating the soname link if needed).
            soname = elf.soname or name
            if soname in cached or soname in seen:
                continue
            seen.add(soname)
            entry = loader.fs.entry(resolved)
            out.append(ConfLibrary(soname, f"{directory}/{soname}", directory,
                                   facts.ld_so_conf.dir_sources.get(directory, ""),
                                   entry.layer if entry else None))
    return out


def _system_preloads(loader: ImageLoader, facts: SystemFacts) -> list[PreloadFacts]:
    out: list[PreloadFacts] = []
    names: list[tuple[str, str]] = []
    if facts.ld_preload:
        names += [("LD_PRELOAD", n) for n in re.split(r"[ :]", facts.ld_preload) if n]
    names += [("/etc/ld.so.preload", n) for n in facts.preload_file]
    if not names:
        return out
    machine, cls = facts.platform_machine or "x86_64", facts.platform_class or 64
    probe_elf = None
    if facts.glibc is not None and facts.glibc.interpreter_resolved:
        probe_elf = ElfFile(cls, True, _machine_id(machine), 0, 3, 0,
                            interpreter=facts.glibc.interpreter)
    elif facts.musl is not None:
        probe_elf = ElfFile(cls, True, _machine_id(machine), 0, 3, 0,
                            interpreter=facts.musl.interpreter)
    results: dict[tuple[str, str], Dependency] = {}
    if probe_elf is not None:
        run = loader.load("/", probe_elf)
        for dep in run.preloads:
            results.setdefault((dep.preload, dep.name), dep)
    for source, name in names:
        pf = PreloadFacts(source, name)
        settled = results.get((source, name))
        if settled is not None:
            pf.found, pf.path, pf.error = settled.found, settled.path, settled.error
        else:
            resolved = loader.resolve(name, "/") if "/" in name else None
            pf.found, pf.path = resolved is not None, resolved
            if resolved is None:
                pf.error = "cannot open shared object file"
                if source == "/etc/ld.so.preload" and facts.musl is not None and \
                        facts.glibc is None:
                    pf.error = "musl does not read /etc/ld.so.preload"
        if pf.path:
            try:
                e = loader.fs.lookup(pf.path)
            except PathLoopError:
                e = None
            pf.layer = e.layer if e else None
        out.append(pf)
    return out


def _machine_id(name: str) -> int:
    from goimglint.facts.elf import MACHINES

    for k, v in MACHINES.items():
        if v == name:
            return k
    return 0


def _is_symlink(fs: MergedFS, path: str) -> bool:
    e = fs.entry(path)
    return e is not None and e.kind is EntryKind.SYMLINK


# -- users -----------------------------------------------------------------------------------


def _read_db(fs: MergedFS, path: str) -> list[list[str]] | None:
    try:
        data = fs.read(path, limit=4 << 20)
    except (OSError, PathLoopError):
        return None
    if data is None:
        return None
    rows = []
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        rows.append(line.split(":"))
    return rows


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 11 else None


def collect_user_facts(fs: MergedFS, spec: str) -> UserFacts:
    """Resolve config User like moby/sys/user GetExecUser: a name must exist in /etc/passwd
    (a number need not), a group name in /etc/group."""
    facts = UserFacts(spec=spec)
    passwd = _read_db(fs, "/etc/passwd")
    groups = _read_db(fs, "/etc/group")
    facts.passwd_present, facts.group_file_present = passwd is not None, groups is not None
    if not spec:
        facts.user = "root"
        return facts
    user, _, group = spec.partition(":")
    facts.user, facts.group = user, group
    uid_num = _int(user)
    match = None
    for row in passwd or []:
        if len(row) >= 4 and (row[0] == user or (uid_num is not None and row[2] == user)):
            match = row
            break
    username = user
    if match is not None:
        facts.uid = _int(match[2]) or 0
        facts.gid = _int(match[3]) or 0
        username = match[0]
    elif uid_num is not None:
        facts.uid = uid_num
    elif user:
        facts.user_found = False
        facts.problem = (f"unable to find user {user}: no matching entries in passwd file")
    if group:
        gid_num = _int(group)
        gmatch = None
        for row in groups or []:
            if len(row) >= 3 and (row[0] == group or (gid_num is not None and row[2] == group)):
                gmatch = row
                break
        if gmatch is not None:
            facts.gid = _int(gmatch[2]) or 0
        elif gid_num is not None:
            facts.gid = gid_num
        else:
            facts.group_found = False
            if not facts.problem:
                facts.problem = (f"unable to find group {group}: no matching entries in group "
                                 "file")
    else:
        for row in groups or []:
            if len(row) >= 4 and username in row[3].split(","):
                gid = _int(row[2])
                if gid is not None and gid not in facts.supplementary_gids:
                    facts.supplementary_gids.append(gid)
    return facts


# -- entrypoint ------------------------------------------------------------------------------


def _may_execute(mode: int, uid: int, gid: int, user: UserFacts) -> bool:
    """execve's permission check for a regular file (root needs any x bit)."""
    if user.uid == 0:
        return bool(mode & 0o111)
    if uid == user.uid:
        return bool(mode & 0o100)
    if gid == user.gid or gid in user.supplementary_gids:
        return bool(mode & 0o010)
    return bool(mode & 0o001)


def _dirs_searchable(fs: MergedFS, resolved: str, user: UserFacts) -> bool:
    if user.uid == 0:
        return True
    d = posixpath.dirname(resolved)
    while True:
        e = fs.entry(d)
        if e is not None and e.kind is EntryKind.DIR and not _may_execute(e.mode, e.uid, e.gid,
                                                                         user):
            return False
        if d == "/":
            return True
        d = posixpath.dirname(d)


def lookpath(fs: MergedFS, name: str, path_env: str, cwd: str
             ) -> tuple[str | None, str | None, list[str]]:
    """Go's exec.LookPath as runc calls it: a name with a slash is taken as is; otherwise
    each PATH entry in turn, accepting a non-directory with any execute bit. Returns the
    path that worked, where it resolves to in the image, and every candidate tried."""
    def executable(p: str) -> str | None:
        try:
            resolved = fs.resolve(p, cwd=cwd)
        except PathLoopError:
            return None
        e = fs.entry(resolved) if resolved else None
        if e is None or e.kind is EntryKind.DIR or not e.mode & 0o111:
            return None
        return resolved

    if "/" in name:
        return name, executable(name), [name]
    tried: list[str] = []
    for d in path_env.split(":"):
        candidate = posixpath.join(d or ".", name)
        tried.append(candidate)
        resolved = executable(candidate)
        if resolved is not None:
            return candidate, resolved, tried
    return None, None, tried


def collect_entrypoint_facts(fs: MergedFS, config: ImageConfig, user: UserFacts
                             ) -> EntrypointFacts:
    argv = list(config.entrypoint or []) + list(config.cmd or []) if config.entrypoint \
        else list(config.cmd or [])
    env = config.env_map()
    facts = EntrypointFacts(argv=argv, working_dir=config.working_dir or "/")
    facts.path_default = "PATH" not in env
    facts.path_env = env.get("PATH", DEFAULT_PATH)
    if not config.has_config:
        facts.form = "none"
        return facts
    if not argv:
        facts.problem, facts.detail = "no-command", "no command specified"
        return facts
    cwd = facts.working_dir if facts.working_dir.startswith("/") else "/" + facts.working_dir
    facts.program = argv[0]
    shell = (len(argv) >= 3 and argv[1] == "-c"
             and posixpath.basename(argv[0]) in SHELLS)
    facts.form = "shell" if shell else "exec"
    exec_path, resolved, facts.candidates = lookpath(fs, argv[0], facts.path_env, cwd)
    facts.path = exec_path
    if resolved is None:
        # Distinguish "there but not executable" from "not there".
        loop = False
        try:
            there = fs.resolve(argv[0], cwd=cwd) if "/" in argv[0] else None
        except PathLoopError:
            there, loop = None, True
        e = fs.entry(there) if there else None
        if loop:
            # Go's LookPath stats the path: ELOOP, not ENOENT (on PATH a loop is skipped).
            facts.kind = facts.problem = "missing"
            facts.detail = (f"exec: \"{argv[0]}\": stat {argv[0]}: too many levels of "
                            "symbolic links")
        elif e is not None and e.kind is EntryKind.DIR:
            facts.problem, facts.kind = "directory", "directory"
            facts.detail = f"exec: \"{argv[0]}\": is a directory"
        elif e is not None:
            facts.problem, facts.kind = "not-executable", "other"
            facts.resolved, facts.mode, facts.layer = there, e.mode, e.layer
            facts.detail = f"exec: \"{argv[0]}\": permission denied"
        else:
            facts.kind = "missing"
            facts.problem = "no-shell" if shell else "missing"
            where = "" if "/" in argv[0] else " in $PATH"
            facts.detail = f"exec: \"{argv[0]}\": executable file not found{where}"
        return facts
    facts.resolved = resolved
    entry = fs.entry(resolved)
    assert entry is not None
    facts.mode, facts.layer = entry.mode, entry.layer
    if not _may_execute(entry.mode, entry.uid, entry.gid, user) or \
            not _dirs_searchable(fs, resolved, user):
        facts.problem = "not-executable"
        facts.detail = f"exec {exec_path}: permission denied (user {user.uid}:{user.gid})"
    _follow_exec(fs, resolved, exec_path or argv[0], cwd, user, facts, env)
    if shell and not facts.problem:
        _shell_command(fs, argv[2], facts.path_env, cwd, facts)
    return facts


def _follow_exec(fs: MergedFS, resolved: str, shown: str, cwd: str, user: UserFacts,
                 facts: EntrypointFacts, env: dict[str, str]) -> None:
    """What execve does with the file: ELF, #! script (recursively) or exec format error."""
    current, current_shown = resolved, shown
    for _depth in range(MAX_SCRIPT_DEPTH + 1):
        head = fs.read(current, limit=BINPRM_BUF_SIZE)
        entry = fs.entry(current)
        magic = head[:4] if head is not None else (entry.magic if entry else b"")
        if magic[:4] == ELF_MAGIC:
            if not facts.kind:
                facts.kind = "elf"
            facts.executable = current
            return
        if magic[:2] == b"#!":
            if not facts.kind:
                facts.kind = "script"
            if head is None:
                facts.executable = None
                return
            step = _parse_shebang(head, current_shown)
            facts.scripts.append(step)
            if step.problem:
                facts.problem = facts.problem or "exec-format"
                facts.detail = facts.detail or f"{current_shown}: bad #! line"
                return
            try:
                iresolved = fs.resolve(step.interpreter, cwd=cwd)
            except PathLoopError:
                iresolved = None
            ientry = fs.entry(iresolved) if iresolved else None
            if ientry is None or ientry.kind is not EntryKind.FILE:
                step.problem = "missing"
                facts.problem = facts.problem or "interpreter-missing"
                facts.detail = facts.detail or (
                    f"exec {current_shown}: no such file or directory (the #! interpreter "
                    f"{step.interpreter} is missing)")
                return
            step.resolved = iresolved
            if not _may_execute(ientry.mode, ientry.uid, ientry.gid, user):
                step.problem = "not-executable"
                facts.problem = facts.problem or "not-executable"
                facts.detail = facts.detail or f"{step.interpreter}: permission denied"
                return
            if posixpath.basename(step.interpreter) == "env" and step.argument and \
                    not step.argument.startswith("-"):
                # "#!/usr/bin/env prog": env looks prog up on PATH.
                target = step.argument.split()[0]
                _p, r, _tried = lookpath(fs, target, env.get("PATH", DEFAULT_PATH), cwd)
                if r is None:
                    facts.problem = facts.problem or "interpreter-missing"
                    facts.detail = facts.detail or (
                        f"/usr/bin/env: '{target}': No such file or directory")
                    step.problem = "env-target-missing"
            assert iresolved is not None
            current, current_shown = iresolved, step.interpreter
            continue
        if entry is not None and head is None and not entry.magic:
            return  # contents unknown
        facts.kind = facts.kind or "other"
        facts.problem = facts.problem or "exec-format"
        facts.detail = facts.detail or f"exec {current_shown}: exec format error"
        return
    facts.problem = facts.problem or "exec-format"
    facts.detail = facts.detail or "too many levels of #! interpreters"


def _parse_shebang(head: bytes, script: str) -> ScriptStep:
    line = head[2:].split(b"\n", 1)
    text = line[0].decode("utf-8", "surrogateescape").strip(" \t")
    step = ScriptStep(script, "")
    if len(line) == 1 and len(head) >= BINPRM_BUF_SIZE:
        step.problem = "bad-line"  # interpreter line longer than the kernel reads
        return step
    if not text:
        step.problem = "bad-line"
        return step
    parts = re.split(r"[ \t]", text, maxsplit=1)
    step.interpreter = parts[0]
    step.argument = parts[1].strip(" \t") if len(parts) > 1 else ""
    return step


def _shell_command(fs: MergedFS, script: str, path_env: str, cwd: str,
                   facts: EntrypointFacts) -> None:
    """The first command of a simple ``sh -c`` script: the shell exits 127 if it is missing.
    Only plain words are judged (no expansions, redirections or compound commands)."""
    try:
        words = shlex.split(script, posix=True)
    except ValueError:
        return
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        words = words[1:]  # VAR=value prefixes
    if words and words[0] == "exec":
        words = words[1:]
    if not words:
        return
    first = words[0]
    if first in SHELL_WORDS or not re.fullmatch(r"[A-Za-z0-9_./+-]+", first):
        return
    facts.shell_command = first
    _p, resolved, _tried = lookpath(fs, first, path_env, cwd)
    facts.shell_command_resolved = resolved
    if resolved is None:
        facts.shell_command_problem = "not-found"


def parse_elf_at(fs: MergedFS, path: str) -> ElfFile | None:
    """Convenience for callers that have a path but no parsed ELF yet."""
    data = fs.read(path)
    if data is None or data[:4] != ELF_MAGIC:
        return None
    try:
        return parse_elf(data)
    except ValueError:
        return None


def resolve_dlopen(fs: MergedFS, config: ImageConfig, system: SystemFacts, soname: str,
                   loader: ImageLoader | None = None) -> Dependency | None:
    """How glibc would find ``soname`` when libc dlopen()s it (NSS modules): libc has no
    RPATH or RUNPATH, so LD_LIBRARY_PATH, ld.so.cache, then the trusted directories. None
    when the image has no glibc for its platform (musl has no NSS)."""
    glibc = system.glibc
    if glibc is None or not system.platform_machine:
        return None
    numbers = {name: number for number, name in MACHINES.items()}
    machine = numbers.get(system.platform_machine)
    if machine is None:
        return None
    platform = expected_machine(config.platform.architecture) if config.has_config else None
    little = platform[2] if platform is not None else True
    # A stand-in object that needs only ``soname``, loaded by the image's glibc loader.
    requester = ElfFile(system.platform_class or 64, little, machine, 0, 3, 0,
                        interpreter=glibc.interpreter, needed=[soname])
    result = (loader or image_loader(fs, config)).load(glibc.libc_path or "/", requester)
    return next((d for d in result.dependencies if d.name == soname), None)
