"""Go binaries in their image: the DNS resolver they will use (GIL301-GIL305), the run-time
files they need (GIL401-GIL403) and their run-time configuration (GIL501-GIL505).

Every rule reads GoFacts (build info, package usage, resolver decision) and DnsFacts."""

from __future__ import annotations

import datetime
import json
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from goimglint.facts.gofacts import GoFacts
from goimglint.facts.model import BinaryFacts, ImageFacts
from goimglint.facts.resolver import DNS_FILES, godebug_value, parse_netdns
from goimglint.findings import Finding

AUTOMAXPROCS = "go.uber.org/automaxprocs"
AUTOMEMLIMIT = "github.com/KimMachineGun/automemlimit"
FALLBACK_ROOTS = "golang.org/x/crypto/x509roots/fallback"
# NSS services glibc >= 2.34 has built in (and older glibc ships with libc6 itself).
BUILTIN_NSS = ("files", "dns")


def _go_binaries(facts: ImageFacts) -> Iterator[tuple[BinaryFacts, GoFacts]]:
    for binary in facts.binaries:
        if binary.go is not None:
            yield binary, binary.go


def _base_args(binary: BinaryFacts, go: GoFacts) -> dict[str, Any]:
    return {"binary": binary.path, "binary_name": posixpath.basename(binary.path),
            "go_version": go.version or "unknown Go version", "main": go.main or go.path}


def _uses_musl(binary: BinaryFacts) -> bool:
    """musl's getaddrinfo reads neither nsswitch.conf nor NSS modules."""
    interp = binary.elf.interpreter if binary.elf is not None else None
    return bool(interp and "ld-musl" in interp)


def _does_lookups(go: GoFacts) -> bool:
    return go.usage is None or go.usage.net_lookup


def _minor(go: GoFacts) -> int | None:
    v = go.version_tuple
    return None if v is None else v[1]


def _godebug(facts: ImageFacts, go: GoFacts, key: str) -> tuple[str | None, str]:
    """(value, where) of a GODEBUG key for this binary: the image Env wins over the
    binary's DefaultGODEBUG (Go >= 1.21); later settings win within one string."""
    env_value = godebug_value(facts.config.env_map().get("GODEBUG", ""), key, True)
    if env_value is not None:
        return env_value, "GODEBUG in the image Env"
    default = godebug_value(go.settings.get("DefaultGODEBUG", ""), key, True)
    if default is not None:
        return default, "the binary's DefaultGODEBUG"
    return None, ""


# -- DNS ------------------------------------------------------------------------------------


def check_nsswitch_mdns(facts: ImageFacts) -> Iterable[Finding]:
    hosts = facts.dns.nsswitch.hosts()
    if hosts is None:
        return
    main_hosts = facts.dns.nsswitch.main_hosts()
    cgo_binaries = [b.path for b, go in _go_binaries(facts)
                    if go.resolver is not None and go.resolver.uses_cgo and _does_lookups(go)
                    and not _uses_musl(b)]
    for src in hosts.sources:
        if not src.name.startswith("mdns"):
            continue
        in_main = main_hosts is not None and any(s.name.startswith("mdns")
                                                 for s in main_hosts.sources)
        origin = f"{src.file} line {src.line}"
        if src.file != "/etc/nsswitch.conf":
            origin += (" (a fragment; /etc/nsswitch.conf has " +
                       ("an mdns source too)" if in_main else "no mdns source)"))
        # glibc reads only the main file, and a source whose module it cannot load is
        # UNAVAIL: skipped at once (default action continue), so nothing waits on it.
        skipped = (src.file == "/etc/nsswitch.conf"
                   and facts.dns.nss_modules.get(src.name, "x") == "")
        variant = "module-missing" if skipped else "" if cgo_binaries else "go-resolver"
        yield Finding(
            rule_id="GIL301", path=src.file, config_key="", variant=variant,
            args={"source": src.text(), "origin": origin, "hosts_line": hosts.text(),
                  "file": src.file, "line": src.line, "binaries": cgo_binaries,
                  "count": len(cgo_binaries), "in_main": in_main,
                  "module": f"libnss_{src.name}.so.2"},
            evidence={"hosts": hosts.text(), "file": src.file, "line": src.line,
                      "cgo_binaries": cgo_binaries, "main_file_has_mdns": in_main},
            key=(src.file, src.name),
        )


def check_cgo_dns_resolver(facts: ImageFacts) -> Iterable[Finding]:
    for binary, go in _go_binaries(facts):
        d = go.resolver
        if d is None or not d.uses_cgo or not _does_lookups(go):
            continue
        libc = "musl" if _uses_musl(binary) else "glibc"
        cost = ("musl's getaddrinfo on a blocked OS thread per lookup" if libc == "musl" else
                "glibc getaddrinfo on a blocked OS thread per lookup, every NSS module on the "
                "hosts line, and mDNS time-outs (about 1 s per miss) when mdns is listed")
        assert d.ordinary is not None
        yield Finding(
            rule_id="GIL302", path=binary.path, binary=binary.path, layer=binary.layer,
            uncertain=bool(d.uncertain),
            args={**_base_args(binary, go), "reasons": "; ".join(d.reasons),
                  "decision": d.ordinary.reason, "cost": cost, "libc": libc},
            evidence={"branch": d.branch, "order": d.ordinary.order, "reasons": d.reasons,
                      "uncertain": d.uncertain, "local": d.local.order if d.local else "",
                      "reverse": d.reverse.order if d.reverse else ""},
            key=(binary.path, d.ordinary.reason),
        )


def check_missing_nss_module(facts: ImageFacts) -> Iterable[Finding]:
    hosts = facts.dns.nsswitch.main_hosts()
    if hosts is None:
        return
    users = [b.path for b, go in _go_binaries(facts)
             if go.resolver is not None and go.resolver.any_cgo and _does_lookups(go)
             and not _uses_musl(b)]
    if not users:
        return
    for src in hosts.sources:
        if src.name in BUILTIN_NSS or facts.dns.nss_modules.get(src.name, "x"):
            continue
        yield Finding(
            rule_id="GIL303", path=src.file,
            args={"source": src.name, "module": f"libnss_{src.name}.so.2",
                  "origin": f"{src.file} line {src.line}", "binaries": users,
                  "hosts_line": hosts.text()},
            evidence={"module": f"libnss_{src.name}.so.2", "file": src.file, "line": src.line,
                      "binaries": users},
            key=(src.name,),
        )


def check_hosts_after_dns(facts: ImageFacts) -> Iterable[Finding]:
    main_hosts = facts.dns.nsswitch.main_hosts()
    names = [s.name for s in main_hosts.sources] if main_hosts is not None else []
    dns_first = ("dns" in names and "files" in names
                 and names.index("dns") < names.index("files"))
    for binary, go in _go_binaries(facts):
        d = go.resolver
        if d is None or d.ordinary is None or not _does_lookups(go):
            continue
        if d.ordinary.resolver == "go" and d.ordinary.effective_order == DNS_FILES:
            why = d.ordinary.reason
        elif d.ordinary.resolver == "cgo" and dns_first and not _uses_musl(binary):
            why = f"glibc walks the hosts line in order: {main_hosts.text()}"  # type: ignore[union-attr]
        else:
            continue
        yield Finding(
            rule_id="GIL304", path=binary.path, binary=binary.path, layer=binary.layer,
            args={**_base_args(binary, go), "reason": why},
            evidence={"order": d.ordinary.effective_order or d.ordinary.order,
                      "nsswitch_present": facts.dns.nsswitch.main_present},
            key=(binary.path,),
        )


def check_netdns_debug(facts: ImageFacts) -> Iterable[Finding]:
    if not any(True for _ in _go_binaries(facts)):
        return
    godebug = facts.config.env_map().get("GODEBUG", "")
    value = godebug_value(godebug, "netdns", True)
    if value is None:
        return
    mode, level = parse_netdns(value)
    if level < 1:
        return
    yield Finding(
        rule_id="GIL305", config_key="Env",
        args={"godebug": godebug, "value": value, "level": level, "mode": mode or "",
              "suggestion": f"GODEBUG=netdns={mode}" if mode else "remove netdns from GODEBUG"},
        evidence={"GODEBUG": godebug},
        key=("GODEBUG", value),
    )


# -- run-time files -------------------------------------------------------------------------


def check_missing_ca_certificates(facts: ImageFacts) -> Iterable[Finding]:
    env = facts.config.env_map()
    if facts.dns.ca_files or facts.dns.ca_dirs or env.get("SSL_CERT_FILE") or \
            env.get("SSL_CERT_DIR"):
        return
    for binary, go in _go_binaries(facts):
        u = go.usage
        if u is None or not u.x509_system_roots:
            continue
        if u.x509_fallback_roots or go.has_dep(FALLBACK_ROOTS):
            continue
        via = "crypto/x509"
        if u.http:
            via = "net/http (HTTPS)"
        elif u.tls:
            via = "crypto/tls"
        yield Finding(
            rule_id="GIL401", path=binary.path, binary=binary.path, layer=binary.layer,
            args={**_base_args(binary, go), "via": via,
                  "evidence_name": u.evidence.get("x509_system_roots", "")},
            evidence={"function": u.evidence.get("x509_system_roots", ""), "via": via},
            key=(binary.path,),
        )


def check_missing_zoneinfo(facts: ImageFacts) -> Iterable[Finding]:
    env = facts.config.env_map()
    if facts.dns.zoneinfo_dirs or env.get("ZONEINFO"):
        return
    for binary, go in _go_binaries(facts):
        u = go.usage
        if u is None or not u.load_location or u.tzdata:
            continue
        yield Finding(
            rule_id="GIL402", path=binary.path, binary=binary.path, layer=binary.layer,
            args=_base_args(binary, go),
            evidence={"function": u.evidence.get("load_location", "")},
            key=(binary.path,),
        )


def check_missing_passwd(facts: ImageFacts) -> Iterable[Finding]:
    if facts.dns.passwd_present:
        return
    for binary, go in _go_binaries(facts):
        u = go.usage
        if u is None or not u.os_user_pure:
            continue
        yield Finding(
            rule_id="GIL403", path=binary.path, binary=binary.path, layer=binary.layer,
            args=_base_args(binary, go),
            evidence={"function": u.evidence.get("os_user_pure", "")},
            key=(binary.path,),
        )


# -- run-time configuration -----------------------------------------------------------------


def check_gomaxprocs(facts: ImageFacts) -> Iterable[Finding]:
    env = facts.config.env_map()
    if env.get("GOMAXPROCS"):
        return
    for binary, go in _go_binaries(facts):
        minor = _minor(go)
        if minor is None or go.has_dep(AUTOMAXPROCS):
            continue
        value, where = _godebug(facts, go, "containermaxprocs")
        if minor < 25:
            variant, why = "old-go", f"{go.version} predates Go 1.25"
        elif value == "0":
            variant, why = "godebug", f"containermaxprocs=0 in {where}"
            if where.startswith("the binary"):
                why += " (the main module's go line is older than 1.25)"
        else:
            continue
        yield Finding(
            rule_id="GIL501", path=binary.path, binary=binary.path, layer=binary.layer,
            variant=variant, config_key="Env",
            args={**_base_args(binary, go), "why": why},
            evidence={"go": go.version, "containermaxprocs": value or "", "from": where},
            key=(binary.path, variant),
        )


def check_gomemlimit(facts: ImageFacts) -> Iterable[Finding]:
    env = facts.config.env_map()
    if env.get("GOMEMLIMIT"):
        return
    for binary, go in _go_binaries(facts):
        minor = _minor(go)
        if minor is None or minor < 19 or go.has_dep(AUTOMEMLIMIT):
            continue
        yield Finding(
            rule_id="GIL502", path=binary.path, binary=binary.path, layer=binary.layer,
            config_key="Env", args=_base_args(binary, go), evidence={"go": go.version},
            key=(binary.path,),
        )


@cache
def _data(name: str) -> dict[str, Any]:
    text = resources.files("goimglint.data").joinpath(name).read_text(encoding="utf-8")
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


def known_godebug_key(key: str) -> bool:
    data = _data("godebug_keys.json")
    return key in data["keys"] or any(key.startswith(p) for p in data["prefixes"])


def check_redundant_godebug(facts: ImageFacts) -> Iterable[Finding]:
    godebug = facts.config.env_map().get("GODEBUG", "")
    if not godebug:
        return
    items = [item.partition("=") for item in godebug.split(",") if item.strip()]
    for binary, go in _go_binaries(facts):
        minor = _minor(go)
        redundant: list[str] = []
        for key, _sep, value in items:
            key = key.strip()
            if not known_godebug_key(key):
                redundant.append(f"{key} (not a GODEBUG setting Go knows)")
            elif key == "madvdontneed" and value == "1" and minor is not None and minor >= 16:
                redundant.append("madvdontneed=1 (the Linux default since Go 1.16)")
            elif key == "netdns" and parse_netdns(value)[0] == "go" and go.resolver is not None \
                    and not go.resolver.cgo_available:
                redundant.append(f"netdns={value} (the binary has no cgo resolver: "
                                 f"{go.resolver.cgo_evidence})")
        if not redundant:
            continue
        yield Finding(
            rule_id="GIL503", path=binary.path, binary=binary.path, layer=binary.layer,
            config_key="Env",
            args={**_base_args(binary, go), "settings": redundant, "godebug": godebug},
            evidence={"GODEBUG": godebug, "redundant": redundant},
            key=(binary.path, *sorted(redundant)),
        )


@dataclass(frozen=True, slots=True)
class SupportStatus:
    supported: bool
    current: tuple[str, ...]  # latest patch release of each supported major
    as_of: str
    today: str
    eol_since: str = ""  # release date of the major that ended support


def support_status(major_minor: int, today: str) -> SupportStatus | None:
    """Support of Go 1.<minor> on ``today`` from the release table; None when the table does
    not know that major (newer than the table, or older than Go 1.13)."""
    data = _data("go_releases.json")
    released = [r for r in data["releases"] if r["released"] <= today]
    released.sort(key=lambda r: int(r["major"].split(".")[1]))
    if not released:
        return None
    supported = released[-2:]
    current = tuple(f"go{r['latest']}" for r in reversed(supported))
    majors = {int(r["major"].split(".")[1]): r for r in data["releases"]}
    if major_minor not in majors:
        return None
    is_supported = any(int(r["major"].split(".")[1]) == major_minor for r in supported)
    if majors[major_minor]["released"] > today:
        is_supported = True  # newer than "today": not past support
    eol = ""
    if not is_supported:
        later = majors.get(major_minor + 2)
        eol = later["released"] if later else ""
    return SupportStatus(is_supported, current, data["as_of"], today, eol)


def check_unsupported_go_version(facts: ImageFacts) -> Iterable[Finding]:
    today = facts.today or datetime.date.today().isoformat()
    for binary, go in _go_binaries(facts):
        minor = _minor(go)
        if minor is None:
            continue
        status = support_status(minor, today)
        if status is None or status.supported:
            continue
        yield Finding(
            rule_id="GIL504", path=binary.path, binary=binary.path, layer=binary.layer,
            args={**_base_args(binary, go), "major": f"go1.{minor}", "eol": status.eol_since,
                  "current": list(status.current), "today": today, "as_of": status.as_of},
            evidence={"go": go.version, "today": today, "table_as_of": status.as_of,
                      "supported": list(status.current)},
            key=(binary.path, f"go1.{minor}"),
        )


INSTRUMENT_FLAGS = ("-race", "-msan", "-asan", "-cover")


def check_instrumented_build(facts: ImageFacts) -> Iterable[Finding]:
    for binary, go in _go_binaries(facts):
        flags = [f for f in INSTRUMENT_FLAGS if go.settings.get(f) == "true"]
        if not flags:
            continue
        yield Finding(
            rule_id="GIL505", path=binary.path, binary=binary.path, layer=binary.layer,
            args={**_base_args(binary, go), "flags": flags},
            evidence={f: "true" for f in flags},
            key=(binary.path, *flags),
        )


CHECKS = {
    "GIL301": check_nsswitch_mdns,
    "GIL302": check_cgo_dns_resolver,
    "GIL303": check_missing_nss_module,
    "GIL304": check_hosts_after_dns,
    "GIL305": check_netdns_debug,
    "GIL401": check_missing_ca_certificates,
    "GIL402": check_missing_zoneinfo,
    "GIL403": check_missing_passwd,
    "GIL501": check_gomaxprocs,
    "GIL502": check_gomemlimit,
    "GIL503": check_redundant_godebug,
    "GIL504": check_unsupported_go_version,
    "GIL505": check_instrumented_build,
}
