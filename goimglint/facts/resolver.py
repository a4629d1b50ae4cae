"""Which resolver a Go binary will use, modelled on ``src/net/conf.go`` of the binary's own
Go version. Three branches:

- Go >= 1.21 (``lookupOrder``): the cgo resolver is possible only with cgo and without the
  ``netgo`` tag; ``netdns=go`` forces Go, ``netcgo``/``netdns=cgo`` force cgo, then
  LOCALDOMAIN/RES_OPTIONS/HOSTALIASES, unknown resolv.conf options and the nsswitch hosts
  sources decide. Go 1.21 and 1.22 still sent every ``.local`` name to cgo before looking at
  nsswitch; from 1.23 only an ``mdns*`` source does.
- Go 1.16 - 1.20 (``hostLookupOrder``): the fallback is cgo unless netgo/``netdns=go``; the
  same triggers return the fallback, ``mdns*`` sources are skipped unless /etc/mdns.allow
  exists, any unknown source falls back. A "cgo" answer in a binary without cgo silently
  becomes the Go resolver with files,dns.
- Go < 1.16: as 1.16, except that with no nsswitch.conf (or no hosts line) Linux binaries
  query DNS before /etc/hosts (golang/go#35305).

Each lookup kind (an ordinary name, a ``.local`` name, a reverse lookup) gets the order
``hostLookupOrder`` would print under ``GODEBUG=netdns=2`` and the resolver actually used."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from goimglint.facts.gobuildinfo import parse_go_version
from goimglint.facts.nsswitch import NssLine

if TYPE_CHECKING:
    from goimglint.facts.gofacts import DnsFacts, GoFacts

CGO, FILES_DNS, DNS_FILES, FILES, DNS = "cgo", "files,dns", "dns,files", "files", "dns"
ORDINARY_NAME = "example.com"
LOCAL_NAME = "printer.local"


@dataclass(slots=True)
class LookupDecision:
    kind: str  # "ordinary", "local" or "reverse"
    name: str  # the host name the model asked about ("" for reverse lookups)
    order: str  # what net's lookup order function returns: "cgo", "files,dns", ...
    resolver: str  # resolver that really runs: "cgo" or "go"
    effective_order: str  # order the Go resolver uses ("" when cgo runs)
    reason: str  # the condition of net/conf.go that decided
    source: str = ""  # file:line of the nsswitch source that decided, if any


@dataclass(slots=True)
class ResolverDecision:
    go_version: str
    branch: str  # "go1.21+", "go1.16-1.20" or "pre-go1.16"
    cgo_available: bool  # the cgo resolver is compiled in (cgo on, no netgo tag)
    cgo_evidence: str
    dns_mode: str = ""  # "go", "cgo" or "" from GODEBUG netdns
    dns_mode_from: str = ""  # "GODEBUG" (image Env) or "DefaultGODEBUG"
    debug_level: int = 0
    godebug_netdns: str = ""  # the raw netdns value from the image Env, if any
    ordinary: LookupDecision | None = None
    local: LookupDecision | None = None
    reverse: LookupDecision | None = None
    reasons: list[str] = field(default_factory=list)  # every condition that applies
    uncertain: list[str] = field(default_factory=list)  # facts the model had to assume

    @property
    def uses_cgo(self) -> bool:
        """Ordinary names go through libc."""
        return self.ordinary is not None and self.ordinary.resolver == CGO

    @property
    def any_cgo(self) -> bool:
        return any(d is not None and d.resolver == CGO
                   for d in (self.ordinary, self.local, self.reverse))

    @property
    def hosts_after_dns(self) -> bool:
        return self.ordinary is not None and self.ordinary.effective_order == DNS_FILES


def godebug_value(text: str, key: str, last_wins: bool) -> str | None:
    """The value of ``key`` in a GODEBUG string. Go >= 1.20 lets the last setting win
    (internal/godebug scans backwards); older Go took the first."""
    found: str | None = None
    for item in text.split(","):
        k, sep, v = item.partition("=")
        if sep and k.strip() == key:
            if not last_wins:
                return v
            found = v
    return found


def parse_netdns(value: str) -> tuple[str, int]:
    """(mode, debug level) of a netdns value: "go", "cgo+1", "2", "1+go"."""
    mode, level = "", 0

    def part(s: str) -> None:
        nonlocal mode, level
        if not s:
            return
        if s[0].isdigit():
            digits = ""
            for ch in s:
                if not ch.isdigit():
                    break
                digits += ch
            level = int(digits[:6])
        else:
            mode = s

    if "+" in value:
        head, _, tail = value.partition("+")
        part(head)
        part(tail)
    else:
        part(value)
    return mode, level


def _tags(settings: dict[str, str]) -> set[str]:
    return {t.strip() for t in settings.get("-tags", "").split(",") if t.strip()}


def cgo_state(go: GoFacts) -> tuple[bool, str]:
    """Is the cgo resolver compiled in, and what says so."""
    tags = _tags(go.settings)
    cgo = go.settings.get("CGO_ENABLED")
    if "netgo" in tags:
        return False, "built with -tags netgo"
    if cgo == "0":
        return False, "built with CGO_ENABLED=0"
    if cgo == "1":
        return True, "built with CGO_ENABLED=1 and without the netgo tag"
    if go.usage is not None and go.usage.cgo_resolver:
        return True, f"the binary links the cgo resolver ({go.usage.evidence['cgo_resolver']})"
    return False, "no cgo resolver code in the binary"


def _is_localhost(h: str) -> bool:
    h = h.lower()
    return h in ("localhost", "localhost.localdomain") or h.endswith(
        (".localhost", ".localhost.localdomain"))


@dataclass(slots=True)
class _Inputs:
    minor: int
    cgo_available: bool
    net_go: bool
    net_cgo: bool
    env_forces_cgo: list[str]
    unknown_opts: list[str]
    nss: NssLine | None
    nss_present: bool
    nss_error: str
    mdns_allow: bool


def _order_121(inp: _Inputs, hostname: str) -> tuple[str, str, str]:
    """net/conf.go (*conf).lookupOrder, Go >= 1.21. Returns (order, reason, source)."""
    if not inp.cgo_available or inp.net_go:
        fallback, can_cgo = FILES_DNS, False
    elif inp.net_cgo:
        return CGO, "the cgo resolver is requested (netcgo tag or GODEBUG netdns=cgo)", ""
    elif inp.env_forces_cgo:
        return CGO, f"{', '.join(inp.env_forces_cgo)} set in the environment", ""
    else:
        if "\\" in hostname or "%" in hostname:
            return CGO, "the name contains '\\' or '%'", ""
        fallback, can_cgo = CGO, True
    if can_cgo and inp.unknown_opts:
        return CGO, _unknown_opts(inp), ""
    hostname = hostname.removesuffix(".")
    if can_cgo and inp.minor <= 22 and hostname.lower().endswith(".local"):
        return CGO, "Go 1.21-1.22 send every .local name to the cgo resolver", ""
    srcs = inp.nss.sources if inp.nss is not None else []
    if not inp.nss_present or (not inp.nss_error and not srcs):
        why = _no_hosts_line(inp)
        return FILES_DNS, f"{why}: Go assumes files then dns", ""
    if inp.nss_error:
        return fallback, f"/etc/nsswitch.conf does not parse ({inp.nss_error})", ""
    has_dns = any(s.name == "dns" for s in srcs)
    files_src = dns_src = False
    first = ""
    for src in srcs:
        if src.name in ("files", "dns"):
            if can_cgo and not src.standard_criteria():
                return CGO, f"hosts source '{src.text()}' has non-default criteria", src.location
            if src.name == "files":
                files_src = True
            else:
                dns_src = True
            first = first or src.name
            continue
        if can_cgo:
            if hostname and src.name == "myhostname":
                if _is_localhost(hostname) or hostname.lower() in ("_gateway", "_outbound"):
                    return CGO, "hosts source 'myhostname' answers this name", src.location
                continue  # assumes the name is not the container's own hostname
            if hostname and src.name.startswith("mdns"):
                if hostname.lower().endswith(".local"):
                    return CGO, f"hosts source '{src.name}' resolves .local names", src.location
                if inp.mdns_allow:
                    return (CGO, f"hosts source '{src.name}' with /etc/mdns.allow present",
                            src.location)
                continue
            what = "reverse lookups through" if not hostname else "hosts source"
            return CGO, f"{what} '{src.name}' Go cannot handle itself", src.location
        # A source Go cannot use, with no dns source anywhere: treated as DNS.
        if not has_dns:
            dns_src = True
            first = first or "dns"
    if files_src and dns_src:
        return (FILES_DNS if first == "files" else DNS_FILES), "hosts line: " + _line(inp.nss), ""
    if files_src:
        return FILES, "hosts line: " + _line(inp.nss), ""
    if dns_src:
        return DNS, "hosts line: " + _line(inp.nss), ""
    return fallback, "hosts line with neither files nor dns", ""


def _unknown_opts(inp: _Inputs) -> str:
    return f"/etc/resolv.conf has options Go does not know: {' '.join(inp.unknown_opts)}"


def _no_hosts_line(inp: _Inputs) -> str:
    if not inp.nss_present:
        return "no /etc/nsswitch.conf"
    return "no hosts line in /etc/nsswitch.conf"


def _line(nss: NssLine | None) -> str:
    return "" if nss is None else f"{nss.text()} ({nss.file}:{nss.line})"


def _order_pre121(inp: _Inputs, hostname: str) -> tuple[str, str, str]:
    """net/conf.go (*conf).hostLookupOrder, Go 1.16-1.20 (and < 1.16 for missing nsswitch)."""
    fallback = FILES_DNS if inp.net_go else CGO
    if inp.net_cgo:
        return fallback, "the cgo resolver is requested (netcgo tag or GODEBUG netdns=cgo)", ""
    if inp.env_forces_cgo:
        return fallback, f"{', '.join(inp.env_forces_cgo)} set in the environment", ""
    if inp.unknown_opts:
        return fallback, _unknown_opts(inp), ""
    if "\\" in hostname or "%" in hostname:
        return fallback, "the name contains '\\' or '%'", ""
    hostname = hostname.removesuffix(".")
    if hostname.lower().endswith(".local"):
        return fallback, "Go < 1.21 sends every .local name to the cgo resolver", ""
    srcs = inp.nss.sources if inp.nss is not None else []
    if not inp.nss_present or (not inp.nss_error and not srcs):
        why = _no_hosts_line(inp)
        if inp.minor < 16:
            return (DNS_FILES, f"{why}: Go < 1.16 assumes glibc's default "
                    "'dns [!UNAVAIL=return] files'", "")
        return FILES_DNS, f"{why}: Go assumes files then dns", ""
    if inp.nss_error:
        return fallback, f"/etc/nsswitch.conf does not parse ({inp.nss_error})", ""
    mdns_src = files_src = dns_src = False
    mdns_at = ""
    first = ""
    for src in srcs:
        if src.name == "myhostname":
            if _is_localhost(hostname) or hostname.lower() == "gateway":
                return fallback, "hosts source 'myhostname' answers this name", src.location
            continue
        if src.name in ("files", "dns"):
            if not src.standard_criteria():
                return (fallback, f"hosts source '{src.text()}' has non-default criteria",
                        src.location)
            if src.name == "files":
                files_src = True
            else:
                dns_src = True
            first = first or src.name
            continue
        if src.name.startswith("mdns"):
            mdns_src, mdns_at = True, mdns_at or src.location
            continue
        return fallback, f"hosts source '{src.name}' Go cannot handle itself", src.location
    if mdns_src and inp.mdns_allow:
        return fallback, "an mdns hosts source with /etc/mdns.allow present", mdns_at
    if files_src and dns_src:
        return (FILES_DNS if first == "files" else DNS_FILES), "hosts line: " + _line(inp.nss), ""
    if files_src:
        return FILES, "hosts line: " + _line(inp.nss), ""
    if dns_src:
        return DNS, "hosts line: " + _line(inp.nss), ""
    return fallback, "hosts line with neither files nor dns", ""


def _setup(go: GoFacts, dns: DnsFacts, env: dict[str, str]
           ) -> tuple[ResolverDecision, _Inputs, list[str], list[str]]:
    parsed = parse_go_version(go.version)
    uncertain: list[str] = []
    if parsed is None:
        minor = 99
        uncertain.append(f"unknown Go version {go.version!r}: modelled as the newest Go")
    else:
        minor = parsed[1]
    branch = "go1.21+" if minor >= 21 else ("go1.16-1.20" if minor >= 16 else "pre-go1.16")
    cgo_available, evidence = cgo_state(go)
    if "CGO_ENABLED" not in go.settings:
        uncertain.append("the build info has no CGO_ENABLED setting: " + evidence)
    tags = _tags(go.settings)
    reasons: list[str] = [evidence]

    godebug_env = env.get("GODEBUG", "")
    env_netdns = godebug_value(godebug_env, "netdns", last_wins=minor >= 20)
    default_netdns = None
    if minor >= 21:
        default_netdns = godebug_value(go.settings.get("DefaultGODEBUG", ""), "netdns", True)
    decision = ResolverDecision(go.version, branch, cgo_available, evidence,
                                godebug_netdns=env_netdns or "")
    if env_netdns is not None:
        decision.dns_mode, decision.debug_level = parse_netdns(env_netdns)
        decision.dns_mode_from = "GODEBUG"
    elif default_netdns is not None:
        decision.dns_mode, decision.debug_level = parse_netdns(default_netdns)
        decision.dns_mode_from = "DefaultGODEBUG"
    mode = decision.dns_mode if decision.dns_mode in ("go", "cgo") else ""
    if decision.dns_mode and not mode:
        reasons.append(f"GODEBUG netdns mode {decision.dns_mode!r} is not go or cgo: ignored")
    net_go = "netgo" in tags or mode == "go"
    if minor < 21 and not cgo_available:
        # Before 1.21, cgo_stub.go (built for !cgo || netgo) set netGo = true in an init.
        net_go = True
    net_cgo = "netcgo" in tags or mode == "cgo"
    if mode:
        reasons.append(f"netdns={mode} from {decision.dns_mode_from}")
    if "netcgo" in tags:
        reasons.append("built with -tags netcgo")

    env_forces: list[str] = []
    if "LOCALDOMAIN" in env:
        env_forces.append("LOCALDOMAIN")
    for key in ("RES_OPTIONS", "HOSTALIASES"):
        if env.get(key):
            env_forces.append(key)
    if minor >= 21 and not cgo_available:
        env_forces = []  # Go >= 1.21 only looks at them when cgo is possible

    main_hosts = dns.nsswitch.main_hosts()
    main = dns.nsswitch.main
    inp = _Inputs(minor, cgo_available, net_go, net_cgo, env_forces,
                  list(dns.resolv_unknown_options), main_hosts, main is not None,
                  main.error if main is not None else "", dns.mdns_allow)
    if dns.resolv_unknown_options:
        uncertain.append("/etc/resolv.conf is usually replaced by the container runtime; its "
                         "unknown options count only if the image's file is used")
    effective = dns.nsswitch.hosts()
    if effective is not None and (main_hosts is None or effective.file != main_hosts.file):
        uncertain.append(f"the hosts line of {effective.file} (a fragment) is not read by Go or "
                         "glibc; the model uses /etc/nsswitch.conf")
    return decision, inp, reasons, uncertain


def lookup_order(go: GoFacts, dns: DnsFacts, env: dict[str, str], hostname: str
                 ) -> tuple[str, str]:
    """(order, reason) that the binary's net package computes for ``hostname`` ("" for a
    reverse lookup): the value GODEBUG=netdns=2 prints as ``hostLookupOrder(NAME) = ...``."""
    _decision, inp, _r, _u = _setup(go, dns, env)
    order_fn = _order_121 if inp.minor >= 21 else _order_pre121
    order, reason, _source = order_fn(inp, hostname)
    return order, reason


def decide_resolver(go: GoFacts, dns: DnsFacts, env: dict[str, str]) -> ResolverDecision:
    """The resolver decision of one Go binary in an image with these DNS facts and Env."""
    decision, inp, reasons, uncertain = _setup(go, dns, env)
    minor, cgo_available = inp.minor, inp.cgo_available
    order_fn = _order_121 if minor >= 21 else _order_pre121
    for kind, name in (("ordinary", ORDINARY_NAME), ("local", LOCAL_NAME), ("reverse", "")):
        order, reason, source = order_fn(inp, name)
        if order == CGO and cgo_available:
            resolver, eff = CGO, ""
        elif order == CGO:
            # Go < 1.21 without cgo: the stub reports "not completed" and Go's resolver runs.
            resolver, eff = "go", FILES_DNS
            reason += "; no cgo resolver in the binary, so Go's resolver runs with files,dns"
        else:
            resolver, eff = "go", order
        if kind == "reverse" and resolver == "go" and minor < 21:
            eff = FILES_DNS  # goLookupPTR: /etc/hosts, then DNS, whatever the order
        setattr(decision, kind, LookupDecision(kind, name, order, resolver, eff, reason, source))
        if reason not in reasons:
            reasons.append(reason)
    decision.reasons = reasons
    decision.uncertain = uncertain
    return decision
