"""Go binaries: build info, package usage, and the DNS resolver each one will pick; plus the
image-wide name-service and runtime-file facts those answers depend on."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from goimglint.errors import PathLoopError
from goimglint.facts.elf import ElfFile
from goimglint.facts.gobuildinfo import BuildInfoError, parse_go_version, read_buildinfo
from goimglint.facts.nsswitch import FRAGMENT_DIR, MAIN_PATH, NsswitchConfig, build_config
from goimglint.facts.pclntab import GoUsage, PclntabError, find_pclntab, usage_from_names
from goimglint.facts.resolver import ResolverDecision, decide_resolver
from goimglint.image.fs import MergedFS
from goimglint.image.model import EntryKind, ImageConfig

# crypto/x509 root_linux.go + root_unix.go: the first file that loads wins; then the dirs.
CA_FILES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
)
CA_DIRS = ("/etc/ssl/certs", "/etc/pki/tls/certs")
# time/zoneinfo_unix.go platformZoneSources
ZONEINFO_DIRS = ("/usr/share/zoneinfo/", "/usr/share/lib/zoneinfo/", "/usr/lib/locale/TZ/")
# Where glibc finds NSS modules (ld.so search without a cache entry, Debian and Fedora).
NSS_LIB_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
                "/usr/lib/aarch64-linux-gnu", "/lib/arm-linux-gnueabihf",
                "/usr/lib/arm-linux-gnueabihf", "/lib/i386-linux-gnu", "/usr/lib/i386-linux-gnu",
                "/lib/s390x-linux-gnu", "/usr/lib/s390x-linux-gnu",
                "/lib/powerpc64le-linux-gnu", "/usr/lib/powerpc64le-linux-gnu",
                "/lib/riscv64-linux-gnu", "/usr/lib/riscv64-linux-gnu",
                "/lib64", "/usr/lib64", "/lib", "/usr/lib")
# Known resolv.conf keywords and options of Go's dnsconfig_unix.go.
_RESOLV_KEYWORDS = ("nameserver", "domain", "search", "options", "lookup")
_RESOLV_OPTIONS = ("rotate", "single-request", "single-request-reopen", "use-vc", "usevc",
                   "tcp", "trust-ad", "edns0", "no-reload")
_RESOLV_PREFIXES = ("ndots:", "timeout:", "attempts:")
MAX_CONFIG_BYTES = 1 << 20


@dataclass(slots=True)
class GoFacts:
    version: str = ""  # "go1.27.3"
    path: str = ""  # main package path
    main: str = ""  # main module path
    settings: dict[str, str] = field(default_factory=dict)
    deps: list[dict[str, Any]] = field(default_factory=list)  # {path, version, sum, replace}
    main_version: str = ""
    main_sum: str = ""
    buildinfo_format: str = ""  # "inline" (>= 1.18), "pointer" (1.13-1.17) or "" (none)
    ptr_size: int = 0
    big_endian: bool = False
    detected_by: list[str] = field(default_factory=list)  # "buildinfo", "pclntab"
    pclntab_layout: str = ""  # "1.2", "1.16", "1.18", "1.20" ("" when not found)
    usage: GoUsage | None = None  # None when the function table could not be read
    resolver: ResolverDecision | None = None  # filled by complete_go_facts
    errors: list[str] = field(default_factory=list)  # what could not be read, and why

    @property
    def version_tuple(self) -> tuple[int, int, int] | None:
        return parse_go_version(self.version)

    def dep_paths(self) -> list[str]:
        return [d["path"] for d in self.deps]

    def has_dep(self, path: str) -> bool:
        return any(d["path"] == path or d["path"].startswith(path + "/") for d in self.deps)


@dataclass(slots=True)
class DnsFacts:
    """Image-wide name-service and runtime-file facts."""

    nsswitch_present: bool = False
    nsswitch: NsswitchConfig = field(default_factory=NsswitchConfig)
    resolv_conf_present: bool = False
    resolv_unknown_options: list[str] = field(default_factory=list)  # as Go would flag them
    mdns_allow: bool = False
    hosts_file_present: bool = False
    # NSS module name -> where libnss_<name>.so.2 was found ("" = not found). Every source
    # named on a hosts line gets an entry. TODO: answer through the loader model.
    nss_modules: dict[str, str] = field(default_factory=dict)
    ca_files: list[str] = field(default_factory=list)  # Go's CA bundle files present
    ca_dirs: list[str] = field(default_factory=list)  # Go's CA dirs present and non-empty
    zoneinfo_dirs: list[str] = field(default_factory=list)
    passwd_present: bool = False
    group_present: bool = False


def collect_go_facts(data: bytes, elf: ElfFile) -> GoFacts | None:
    """Go facts of one binary, or None when it is not a Go binary. A binary is Go when it
    carries a build info blob or a Go function table that names ``runtime.main``."""
    go = GoFacts()
    try:
        info = read_buildinfo(data, elf)
    except BuildInfoError as exc:
        info = None
        go.errors.append(f"build info: {exc}")
    if info is not None:
        go.detected_by.append("buildinfo")
        go.version, go.path = info.go_version, info.path
        if info.main is not None:
            go.main, go.main_version, go.main_sum = info.main.path, info.main.version, info.main.sum
        go.settings = info.settings_dict()
        go.deps = [d.as_dict() for d in info.deps]
        go.buildinfo_format = "inline" if info.inline else "pointer"
        go.ptr_size, go.big_endian = info.ptr_size, info.big_endian
    try:
        table = find_pclntab(data, elf)
    except PclntabError as exc:
        table = None
        go.errors.append(f"function table: {exc}")
    if table is not None and ("runtime.main" in table.names or info is not None):
        go.detected_by.append("pclntab")
        go.pclntab_layout = table.layout
        go.usage = usage_from_names(table.names)
    if not go.detected_by:
        return None
    if "CGO_ENABLED" not in go.settings and go.usage is not None and info is None:
        go.errors.append("no build info: version and settings unknown")
    return go


def complete_go_facts(go: GoFacts, dns: DnsFacts, config: ImageConfig) -> GoFacts:
    """Add the image-dependent facts (the resolver decision) to a binary's Go facts.
    collect.py calls this once the image's DnsFacts are known."""
    go.resolver = decide_resolver(go, dns, config.env_map())
    return go


# -- image-wide facts -----------------------------------------------------------------------


def _read_text(fs: MergedFS, path: str) -> str | None:
    try:
        raw = fs.read(path, limit=MAX_CONFIG_BYTES)
    except (PathLoopError, OSError):
        return None
    return None if raw is None else raw.decode("utf-8", "replace")


def _exists(fs: MergedFS, path: str) -> bool:
    try:
        return fs.exists(path)
    except PathLoopError:
        return False


def _is_dir(fs: MergedFS, path: str) -> bool:
    try:
        e = fs.lookup(path)
    except PathLoopError:
        return False
    return e is not None and e.kind is EntryKind.DIR


def _listdir(fs: MergedFS, path: str) -> list[str]:
    try:
        return fs.listdir(path)
    except PathLoopError:
        return []


def resolv_unknown_options(text: str) -> list[str]:
    """Keywords and options of resolv.conf that make Go's parser set ``unknownOpt``."""
    unknown: list[str] = []
    for line in text.split("\n"):
        if line[:1] in (";", "#"):
            continue
        fields = line.split()
        if not fields:
            continue
        if fields[0] not in _RESOLV_KEYWORDS:
            unknown.append(fields[0])
        elif fields[0] == "options":
            for opt in fields[1:]:
                if opt not in _RESOLV_OPTIONS and not opt.startswith(_RESOLV_PREFIXES):
                    unknown.append(opt)
    return unknown


def find_nss_module(fs: MergedFS, name: str) -> str:
    """Where ``libnss_<name>.so.2`` is in the image's library directories ("" if nowhere)."""
    for d in NSS_LIB_DIRS:
        candidate = posixpath.join(d, f"libnss_{name}.so.2")
        try:
            entry = fs.lookup(candidate)
        except PathLoopError:
            continue
        if entry is not None and entry.kind is EntryKind.FILE:
            return candidate
    return ""


def collect_dns_facts(fs: MergedFS, config: ImageConfig) -> DnsFacts:
    main_text = _read_text(fs, MAIN_PATH)
    present = _exists(fs, MAIN_PATH)
    if present and main_text is None:
        main_text = ""  # exists but unreadable (not kept, or not a file): treat as empty
    fragments: list[tuple[str, str]] = []
    for name in _listdir(fs, FRAGMENT_DIR):
        if name.endswith(".conf"):
            path = posixpath.join(FRAGMENT_DIR, name)
            text = _read_text(fs, path)
            if text is not None:
                fragments.append((path, text))
    dns = DnsFacts(nsswitch_present=present, nsswitch=build_config(main_text, fragments))
    resolv = _read_text(fs, "/etc/resolv.conf")
    dns.resolv_conf_present = resolv is not None
    dns.resolv_unknown_options = resolv_unknown_options(resolv or "")
    dns.mdns_allow = _exists(fs, "/etc/mdns.allow")
    dns.hosts_file_present = _exists(fs, "/etc/hosts")
    lines = [ln for ln in (dns.nsswitch.hosts(), dns.nsswitch.main_hosts()) if ln is not None]
    for line in lines:
        for src in line.sources:
            if src.name not in dns.nss_modules:
                dns.nss_modules[src.name] = find_nss_module(fs, src.name)
    dns.ca_files = [p for p in CA_FILES if _exists(fs, p)]
    dns.ca_dirs = [d for d in CA_DIRS if _is_dir(fs, d) and _listdir(fs, d)]
    dns.zoneinfo_dirs = [d for d in ZONEINFO_DIRS if _is_dir(fs, d)]
    dns.passwd_present = _exists(fs, "/etc/passwd")
    dns.group_present = _exists(fs, "/etc/group")
    return dns
