"""Size and hardening facts: what the image carries besides the Go binary, in bytes.

Bytes per layer and per history instruction, the distribution (os-release), package
databases and a shell (a distro userland), Go toolchains and Go caches left in the image,
setuid/setgid files, symbol and DWARF bytes per binary, dive's wasted bytes per layer, the
final user, and what a ``scratch`` final stage would still need to keep for the entrypoint."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from goimglint.errors import PathLoopError
from goimglint.facts.gofacts import CA_FILES
from goimglint.facts.linkage import DEFAULT_PATH, lookpath
from goimglint.image.fs import MergedFS
from goimglint.image.model import Entry, EntryKind, ImageConfig, LayerInfo

if TYPE_CHECKING:
    from goimglint.facts.model import BinaryFacts

OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")
# Package databases whose presence means a package manager's userland is installed.
# (distroless keeps per-package files in /var/lib/dpkg/status.d/ instead: not listed.)
PACKAGE_DATABASES = (
    ("dpkg", "/var/lib/dpkg/status"),
    ("apk", "/lib/apk/db/installed"),
    ("rpm", "/var/lib/rpm/rpmdb.sqlite"),
    ("rpm", "/var/lib/rpm/Packages"),
    ("rpm", "/var/lib/rpm/Packages.db"),
    ("rpm", "/usr/lib/sysimage/rpm/rpmdb.sqlite"),
    ("rpm", "/usr/lib/sysimage/rpm/Packages.db"),
)
SHELL_PATH = "/bin/sh"
SHELL_NAMES = ("sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "busybox")
ZONEINFO_DIR = "/usr/share/zoneinfo"
PASSWD_FILES = ("/etc/passwd", "/etc/group")
MAX_OS_RELEASE_BYTES = 64 * 1024
MAX_PASSWD_BYTES = 4 * 1024 * 1024
WASTED_EXAMPLES = 10
SHT_NOBITS = 8
_HEX2 = re.compile(r"^[0-9a-f]{2}$")


@dataclass(slots=True)
class LayerSize:
    index: int
    created_by: str
    stored_bytes: int  # the layer blob as stored (compressed when the layer is)
    content_bytes: int  # summed sizes of the layer's tar entries (dive's layer size)
    wasted_bytes: int = 0  # dive's wasted bytes attributed to the layer repeating the path
    wasted_paths: int = 0
    wasted_examples: list[tuple[str, int]] = field(default_factory=list)  # (path, bytes)


@dataclass(slots=True)
class InstructionSize:
    """One history entry: the instruction and the layer it produced (None when empty)."""

    created_by: str
    layer: int | None
    stored_bytes: int = 0
    content_bytes: int = 0
    wasted_bytes: int = 0


@dataclass(slots=True)
class WastedFile:
    path: str
    count: int  # layers that carry (or delete) the path
    size: int  # bytes over all of them, as dive sums them


@dataclass(slots=True)
class Location:
    """A Go toolchain (GOROOT), module cache or build cache found in the image."""

    kind: str  # "goroot", "module-cache", "build-cache"
    path: str
    size: int = 0  # bytes of the regular files under it
    files: int = 0
    layer: int | None = None  # the layer that added most of those bytes
    version: str = ""  # GOROOT/VERSION's first line, when readable


@dataclass(slots=True)
class SpecialFile:
    path: str
    mode: int
    uid: int
    gid: int
    layer: int
    setuid: bool
    setgid: bool


@dataclass(slots=True)
class BinarySize:
    path: str
    size: int
    layer: int
    go: bool
    symbol_bytes: int = 0  # .symtab + .strtab
    dwarf_bytes: int = 0  # .debug_* and .zdebug_* (as stored, compressed or not)
    sections: dict[str, int] = field(default_factory=dict)  # each counted section
    trimpath: bool | None = None  # None: no build info to tell
    go_version: str = ""


@dataclass(slots=True)
class KeptPath:
    """What a scratch final stage still needs, and why."""

    what: str  # "binary", "ca-certificates", "zoneinfo", "passwd", "group"
    path: str
    size: int


@dataclass(slots=True)
class Executable:
    """An executable the Entrypoint/Cmd names, as the runtime would find it."""

    arg: str  # as written in Entrypoint/Cmd
    path: str  # resolved path in the image ("" when not found)
    kind: str  # "go-static", "go-dynamic", "elf-static", "elf-dynamic", "script", "shell",
    #            "other", "missing"


@dataclass(slots=True)
class ScratchPlan:
    """How a ``scratch`` (or distroless static) final stage would look for this image."""

    executables: list[Executable] = field(default_factory=list)
    all_static_go: bool = False  # every executable the command needs is a static Go binary
    keep: list[KeptPath] = field(default_factory=list)
    keep_bytes: int = 0
    drop_bytes: int = 0  # bytes of regular files a scratch stage would not copy


@dataclass(slots=True)
class SizeFacts:
    total_bytes: int = 0  # regular files of the merged image (hardlinked content once)
    total_files: int = 0
    stored_bytes: int = 0  # summed layer blobs
    layers: list[LayerSize] = field(default_factory=list)
    instructions: list[InstructionSize] = field(default_factory=list)
    distro_id: str = ""  # os-release ID ("debian", "alpine", ...)
    distro_version: str = ""  # VERSION_ID
    distro_name: str = ""  # PRETTY_NAME
    os_release: str = ""  # where it was read ("" when absent)
    package_managers: list[str] = field(default_factory=list)  # "dpkg", "apk", "rpm"
    package_databases: list[str] = field(default_factory=list)
    shell: str = ""  # what /bin/sh resolves to ("" when it does not resolve to a file)
    userland: bool = False  # a shell or a package database: a distro userland is present
    userland_layer: int | None = None  # the layer that brought it (lowest evidence)
    go_toolchains: list[Location] = field(default_factory=list)
    module_caches: list[Location] = field(default_factory=list)
    build_caches: list[Location] = field(default_factory=list)
    setid_files: list[SpecialFile] = field(default_factory=list)
    binaries: list[BinarySize] = field(default_factory=list)
    wasted_bytes: int = 0  # dive's figure for the whole image
    efficiency: float = 1.0  # dive's efficiency score
    wasted_files: list[WastedFile] = field(default_factory=list)  # largest first
    dive_stopped_layers: list[int] = field(default_factory=list)  # see image/efficiency.py
    user: str = ""  # config User as written
    user_uid: int | None = None  # resolved through the image's /etc/passwd when a name
    runs_as_root: bool | None = None  # None: no config, or the user cannot be resolved
    scratch: ScratchPlan = field(default_factory=ScratchPlan)


# -- helpers ---------------------------------------------------------------------------------


def _lookup(fs: MergedFS, path: str, cwd: str = "/") -> Entry | None:
    try:
        return fs.lookup(path, cwd=cwd)
    except PathLoopError:
        return None


def _resolve(fs: MergedFS, path: str, cwd: str = "/") -> str | None:
    try:
        return fs.resolve(path, cwd=cwd)
    except PathLoopError:
        return None


def _read_text(fs: MergedFS, path: str, limit: int) -> str | None:
    try:
        data = fs.read(path, limit=limit)
    except (PathLoopError, OSError):
        return None
    return None if data is None else data.decode("utf-8", "replace")


def parse_os_release(text: str) -> dict[str, str]:
    """os-release(5): KEY=value lines, values optionally quoted, backslash escapes."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
            if '"' in line:
                value = re.sub(r"\\(.)", r"\1", value)
        out[key] = value
    return out


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _is_dir(fs: MergedFS, path: str) -> bool:
    e = fs.entry(path)
    return e is not None and e.kind is EntryKind.DIR


# -- collection ------------------------------------------------------------------------------


def collect_size_facts(fs: MergedFS, config: ImageConfig, layers: list[LayerInfo],
                       binaries: Iterable[BinaryFacts]) -> SizeFacts:
    facts = SizeFacts()
    binaries = list(binaries)
    _layer_sizes(facts, fs, config, layers)
    _distro(facts, fs)
    _scan_tree(facts, fs)
    facts.binaries = [_binary_size(b) for b in binaries]
    _user(facts, fs, config)
    _scratch_plan(facts, fs, config, binaries)
    return facts


def _layer_sizes(facts: SizeFacts, fs: MergedFS, config: ImageConfig,
                 layers: list[LayerInfo]) -> None:
    eff = fs.efficiency
    facts.wasted_bytes = eff.wasted_bytes
    facts.efficiency = eff.score
    facts.dive_stopped_layers = list(eff.aborted_layers)
    facts.wasted_files = [WastedFile(w.path, w.count, w.size)
                          for w in eff.top_paths(WASTED_EXAMPLES)]
    for layer in layers:
        facts.layers.append(LayerSize(
            index=layer.index,
            created_by=layer.created_by,
            stored_bytes=layer.size,
            content_bytes=eff.layer_bytes.get(layer.index, 0),
            wasted_bytes=eff.layer_wasted.get(layer.index, 0),
            wasted_paths=eff.layer_wasted_paths.get(layer.index, 0),
            wasted_examples=eff.layer_examples(layer.index),
        ))
    facts.stored_bytes = sum(layer.size for layer in layers)
    by_index = {ls.index: ls for ls in facts.layers}
    for h in config.history:
        ls = by_index.get(h.layer_index) if h.layer_index is not None else None
        facts.instructions.append(InstructionSize(
            created_by=h.created_by,
            layer=h.layer_index,
            stored_bytes=ls.stored_bytes if ls else 0,
            content_bytes=ls.content_bytes if ls else 0,
            wasted_bytes=ls.wasted_bytes if ls else 0,
        ))


def _distro(facts: SizeFacts, fs: MergedFS) -> None:
    for path in OS_RELEASE_PATHS:
        text = _read_text(fs, path, MAX_OS_RELEASE_BYTES)
        if text is None:
            continue
        fields = parse_os_release(text)
        facts.os_release = path
        facts.distro_id = fields.get("ID", "")
        facts.distro_version = fields.get("VERSION_ID", "")
        facts.distro_name = fields.get("PRETTY_NAME") or fields.get("NAME", "")
        break
    evidence_layers: list[int] = []
    for manager, path in PACKAGE_DATABASES:
        e = _lookup(fs, path)
        if e is not None and e.kind is EntryKind.FILE:
            facts.package_databases.append(path)
            if manager not in facts.package_managers:
                facts.package_managers.append(manager)
            evidence_layers.append(e.layer)
    resolved = _resolve(fs, SHELL_PATH)
    shell = fs.entry(resolved) if resolved else None
    if shell is not None and shell.kind is EntryKind.FILE:
        facts.shell = resolved or ""
        evidence_layers.append(shell.layer)
    facts.userland = bool(facts.shell or facts.package_databases)
    facts.userland_layer = min(evidence_layers) if evidence_layers else None


def _scan_tree(facts: SizeFacts, fs: MergedFS) -> None:
    """One pass over the merged filesystem: totals, setuid/setgid files and where Go
    toolchains and caches are; a second pass sizes those locations."""
    locations: list[Location] = []
    for e in fs:
        if e.kind is EntryKind.FILE:
            if e.hardlink_to is None or fs.entry(e.hardlink_to) is None:
                facts.total_bytes += e.size
                facts.total_files += 1
            if e.mode & 0o6000:
                facts.setid_files.append(SpecialFile(
                    e.path, e.mode, e.uid, e.gid, e.layer,
                    setuid=bool(e.mode & 0o4000), setgid=bool(e.mode & 0o2000)))
            # endswith() first: this loop sees every file of the image.
            if e.path.endswith("/bin/go"):
                goroot = e.path[:-len("/bin/go")]
                if goroot and _is_dir(fs, posixpath.join(goroot, "pkg", "tool")):
                    locations.append(Location("goroot", goroot))
            elif e.path.endswith("/trim.txt"):
                parent = posixpath.dirname(e.path)
                if _looks_like_build_cache(fs, parent):
                    locations.append(Location("build-cache", parent))
        elif e.kind is EntryKind.DIR and e.path.endswith("/download"):
            cache = posixpath.dirname(e.path)
            if posixpath.basename(cache) == "cache" and cache != "/":
                modcache = posixpath.dirname(cache)
                if modcache != "/":
                    locations.append(Location("module-cache", modcache))
    facts.setid_files.sort(key=lambda s: s.path)
    if locations:
        _size_locations(fs, locations)
    for loc in sorted(locations, key=lambda x: x.path):
        target = {"goroot": facts.go_toolchains, "module-cache": facts.module_caches,
                  "build-cache": facts.build_caches}[loc.kind]
        if all(other.path != loc.path for other in target):
            target.append(loc)


def _looks_like_build_cache(fs: MergedFS, d: str) -> bool:
    """GOCACHE holds trim.txt, a README and 256 two-hex-digit subdirectories."""
    if posixpath.basename(d) == "go-build":
        return True
    try:
        names = fs.listdir(d)
    except PathLoopError:
        return False
    return any(_HEX2.match(n) for n in names[:300])


def _size_locations(fs: MergedFS, locations: list[Location]) -> None:
    per_layer: list[dict[int, int]] = [{} for _ in locations]
    prefixes = [loc.path.rstrip("/") + "/" for loc in locations]
    for e in fs:
        if e.kind is not EntryKind.FILE:
            continue
        for i, prefix in enumerate(prefixes):
            if e.path.startswith(prefix):
                locations[i].size += e.size
                locations[i].files += 1
                per_layer[i][e.layer] = per_layer[i].get(e.layer, 0) + e.size
    for loc, counts in zip(locations, per_layer, strict=True):
        if counts:
            loc.layer = max(counts, key=lambda k: (counts[k], -k))
        else:
            entry = fs.entry(loc.path)
            loc.layer = entry.layer if entry is not None else None
        if loc.kind == "goroot":
            text = _read_text(fs, posixpath.join(loc.path, "VERSION"), 4096)
            if text:
                loc.version = text.splitlines()[0].strip() if text.strip() else ""


def _binary_size(b: BinaryFacts) -> BinarySize:
    out = BinarySize(path=b.path, size=b.size, layer=b.layer, go=b.go is not None)
    if b.go is not None:
        out.go_version = b.go.version
        if b.go.settings:
            out.trimpath = b.go.settings.get("-trimpath") == "true"
    if b.elf is None:
        return out
    for s in b.elf.sections:
        if s.type == SHT_NOBITS:
            continue
        if s.name in (".symtab", ".strtab"):
            out.symbol_bytes += s.size
        elif s.name.startswith((".debug_", ".zdebug_")):
            out.dwarf_bytes += s.size
        else:
            continue
        out.sections[s.name] = out.sections.get(s.name, 0) + s.size
    return out


def _user(facts: SizeFacts, fs: MergedFS, config: ImageConfig) -> None:
    facts.user = config.user
    if not config.has_config:
        return
    name = config.user.split(":", 1)[0].strip()
    if name in ("", "root"):
        facts.user_uid, facts.runs_as_root = 0, True
        return
    if name.isdigit():
        facts.user_uid = int(name)
        facts.runs_as_root = facts.user_uid == 0
        return
    # A name: the runtime looks it up in the image's /etc/passwd.
    text = _read_text(fs, "/etc/passwd", MAX_PASSWD_BYTES)
    for line in (text or "").splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[0] == name and parts[2].strip().isdigit():
            facts.user_uid = int(parts[2])
            facts.runs_as_root = facts.user_uid == 0
            return


# -- what a scratch final stage needs ---------------------------------------------------------


def _find_executable(fs: MergedFS, config: ImageConfig, name: str) -> str | None:
    """argv[0] as runc finds it (the loader model's LookPath): relative to WorkingDir with
    a slash, else along PATH."""
    cwd = config.working_dir or "/"
    if not cwd.startswith("/"):
        cwd = "/" + cwd
    return lookpath(fs, name, config.env_map().get("PATH", DEFAULT_PATH), cwd)[1]


def _classify(fs: MergedFS, path: str | None, arg: str,
              by_path: dict[str, BinaryFacts]) -> str:
    if path is None:
        return "missing"
    e = fs.entry(path)
    if e is None or e.kind is not EntryKind.FILE:
        return "missing"
    if posixpath.basename(path) in SHELL_NAMES or posixpath.basename(arg) in SHELL_NAMES:
        return "shell"
    if e.magic.startswith(b"#!"):
        return "script"
    b = by_path.get(path)
    if b is not None and b.elf is not None:
        static = b.elf.interpreter is None and not b.elf.needed
        if b.go is not None:
            return "go-static" if static else "go-dynamic"
        return "elf-static" if static else "elf-dynamic"
    if e.magic == b"\x7fELF":
        return "elf-dynamic"  # an ELF file the facts stage could not read: not provably static
    return "other"


def _scratch_plan(facts: SizeFacts, fs: MergedFS, config: ImageConfig,
                  binaries: list[BinaryFacts]) -> None:
    plan = facts.scratch
    argv = list(config.entrypoint or []) + list(config.cmd or [])
    if not argv:
        return
    by_path = {b.path: b for b in binaries}
    for i, arg in enumerate(argv):
        if i > 0:
            # Later arguments only count when they name an executable file of the image.
            if not arg or arg.startswith("-"):
                continue
            resolved = _find_executable(fs, config, arg)
            e = fs.entry(resolved) if resolved else None
            if e is None or e.kind is not EntryKind.FILE or not e.mode & 0o111:
                continue
            if not (e.magic == b"\x7fELF" or e.magic.startswith(b"#!")):
                continue
        else:
            resolved = _find_executable(fs, config, arg)
        plan.executables.append(Executable(arg, resolved or "",
                                           _classify(fs, resolved, arg, by_path)))
    plan.all_static_go = bool(plan.executables) and all(
        x.kind == "go-static" for x in plan.executables)
    if not plan.all_static_go:
        return
    keep: dict[str, KeptPath] = {}
    needs_ca = needs_tz = needs_passwd = False
    for x in plan.executables:
        b = by_path[x.path]
        keep[x.path] = KeptPath("binary", x.path, b.size)
        usage = b.go.usage if b.go is not None else None
        if usage is None:
            needs_ca = needs_tz = needs_passwd = True
            continue
        needs_ca |= (usage.x509_system_roots or usage.tls) and not usage.x509_fallback_roots
        needs_tz |= usage.load_location and not usage.tzdata
        needs_passwd |= usage.os_user or usage.os_user_pure
    name = config.user.split(":", 1)[0].strip()
    if name and not name.isdigit() and name != "root":
        needs_passwd = True  # the runtime resolves a user name through /etc/passwd
    if needs_ca:
        for path in CA_FILES:
            resolved = _resolve(fs, path)
            e = fs.entry(resolved) if resolved else None
            if e is not None and e.kind is EntryKind.FILE:
                keep[path] = KeptPath("ca-certificates", path, e.size)
                break
    if needs_tz:
        resolved = _resolve(fs, ZONEINFO_DIR)
        if resolved is not None and _is_dir(fs, resolved):
            prefix = resolved.rstrip("/") + "/"
            size = sum(e.size for e in fs if e.kind is EntryKind.FILE
                       and e.path.startswith(prefix))
            keep[ZONEINFO_DIR] = KeptPath("zoneinfo", ZONEINFO_DIR, size)
    if needs_passwd:
        for path in PASSWD_FILES:
            e = _lookup(fs, path)
            if e is not None and e.kind is EntryKind.FILE:
                keep[path] = KeptPath(posixpath.basename(path), path, e.size)
    plan.keep = list(keep.values())
    plan.keep_bytes = sum(k.size for k in plan.keep)
    plan.drop_bytes = max(0, facts.total_bytes - plan.keep_bytes)
