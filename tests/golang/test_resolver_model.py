"""The resolver model case by case against the conditions of net/conf.go in each version
branch (>= 1.21 with the 1.21-1.22 .local rule, 1.16-1.20, < 1.16), and the nsswitch parser
(criteria, fragments, errors). The chroot test checks the same model against real runs."""

from __future__ import annotations

import pytest

from goimglint.facts.gofacts import DnsFacts, GoFacts, resolv_unknown_options
from goimglint.facts.nsswitch import Criterion, build_config, parse_nsswitch
from goimglint.facts.pclntab import GoUsage
from goimglint.facts.resolver import (
    decide_resolver,
    godebug_value,
    lookup_order,
    parse_netdns,
)


def go(version: str = "go1.27.3", cgo: bool = True, tags: str = "",
       default: str = "") -> GoFacts:
    settings = {"CGO_ENABLED": "1" if cgo else "0"}
    if tags:
        settings["-tags"] = tags
    if default:
        settings["DefaultGODEBUG"] = default
    return GoFacts(version=version, settings=settings, usage=GoUsage(net_lookup=True))


def dns(nsswitch: str | None = "hosts: files dns\n", mdns_allow: bool = False,
        resolv: str = "nameserver 10.0.0.1\n", fragments: list[tuple[str, str]] | None = None
        ) -> DnsFacts:
    return DnsFacts(nsswitch_present=nsswitch is not None,
                    nsswitch=build_config(nsswitch, fragments or []),
                    resolv_unknown_options=resolv_unknown_options(resolv),
                    mdns_allow=mdns_allow)


def order(g: GoFacts, d: DnsFacts, name: str, env: dict[str, str] | None = None) -> str:
    return lookup_order(g, d, env or {}, name)[0]


MDNS = "hosts: files mdns4_minimal [NOTFOUND=return] dns\n"


@pytest.mark.parametrize("version", ["go1.27.3", "go1.23.1", "go1.22.10", "go1.21.0",
                                     "go1.19.8", "go1.16.0", "go1.15.15", "go1.13"])
def test_branches_plain_line(version: str) -> None:
    assert order(go(version), dns(), "example.com") == "files,dns"
    assert order(go(version), dns("hosts: dns files\n"), "example.com") == "dns,files"
    assert order(go(version), dns("hosts: files\n"), "example.com") == "files"
    assert order(go(version), dns("hosts: dns\n"), "example.com") == "dns"


@pytest.mark.parametrize("version,expected", [("go1.27.3", "files,dns"), ("go1.16.0", "files,dns"),
                                              ("go1.15.15", "dns,files")])
def test_missing_nsswitch(version: str, expected: str) -> None:
    assert order(go(version), dns(None), "example.com") == expected
    assert order(go(version), dns("passwd: files\n"), "example.com") == expected
    d = decide_resolver(go(version, cgo=False), dns(None), {})
    assert d.hosts_after_dns is (expected == "dns,files")


def test_local_names_by_version() -> None:
    plain = dns()
    # 1.21 and 1.22 send .local to cgo whatever nsswitch says; 1.23+ only with an mdns source.
    assert order(go("go1.22.10"), plain, "printer.local") == "cgo"
    assert order(go("go1.21.0"), plain, "printer.local.") == "cgo"
    assert order(go("go1.23.1"), plain, "printer.local") == "files,dns"
    assert order(go("go1.27.3"), dns(MDNS), "printer.local") == "cgo"
    assert order(go("go1.19.8"), plain, "printer.local") == "cgo"
    # Without cgo, nothing goes to cgo.
    assert order(go("go1.22.10", cgo=False), plain, "printer.local") == "files,dns"
    assert order(go("go1.19.8", cgo=False), plain, "printer.local") == "files,dns"


def test_mdns_sources() -> None:
    g121, g119 = go("go1.27.3"), go("go1.19.8")
    assert order(g121, dns(MDNS), "example.com") == "files,dns"
    assert order(g119, dns(MDNS), "example.com") == "files,dns"
    assert order(g121, dns(MDNS, mdns_allow=True), "example.com") == "cgo"
    assert order(g119, dns(MDNS, mdns_allow=True), "example.com") == "cgo"
    # A Go-only binary treats the unknown source as nothing (dns is on the line).
    assert order(go(cgo=False), dns(MDNS, mdns_allow=True), "example.com") == "files,dns"


def test_reverse_lookups() -> None:
    d = decide_resolver(go("go1.27.3"), dns("hosts: files myhostname dns\n"), {})
    assert d.ordinary is not None and d.ordinary.resolver == "go"
    assert d.reverse is not None and d.reverse.resolver == "cgo"  # hostname "" -> default case
    d = decide_resolver(go("go1.19.8"), dns("hosts: files myhostname dns\n"), {})
    assert d.reverse is not None and d.reverse.resolver == "go"
    d = decide_resolver(go("go1.27.3"), dns(MDNS), {})
    assert d.reverse is not None and d.reverse.order == "cgo"


def test_myhostname() -> None:
    line = dns("hosts: files myhostname dns\n")
    for version in ("go1.27.3", "go1.19.8"):
        assert order(go(version), line, "localhost") == "cgo"
        assert order(go(version), line, "db.localhost") == "cgo"
        assert order(go(version), line, "example.com") == "files,dns"
    assert order(go("go1.27.3"), line, "_gateway") == "cgo"
    assert order(go("go1.19.8"), line, "_gateway") == "files,dns"
    assert order(go("go1.19.8"), line, "gateway") == "cgo"


def test_criteria() -> None:
    assert order(go(), dns("hosts: files [SUCCESS=continue] dns\n"), "example.com") == "cgo"
    assert order(go(), dns("hosts: files [NOTFOUND=continue] dns\n"), "example.com") == "files,dns"
    assert order(go(), dns("hosts: files dns [NOTFOUND=return]\n"), "example.com") == "files,dns"
    assert order(go(), dns("hosts: files [!UNAVAIL=return] dns\n"), "example.com") == "cgo"
    assert order(go(cgo=False), dns("hosts: files [SUCCESS=continue] dns\n"),
                 "example.com") == "files,dns"
    assert order(go("go1.19.8"), dns("hosts: dns [!UNAVAIL=return] files\n"),
                 "example.com") == "cgo"


def test_env_and_godebug() -> None:
    g = go()
    assert order(g, dns(), "example.com", {"LOCALDOMAIN": ""}) == "cgo"
    assert order(g, dns(), "example.com", {"RES_OPTIONS": ""}) == "files,dns"  # empty: unset
    assert order(g, dns(), "example.com", {"HOSTALIASES": "/h"}) == "cgo"
    env = {"GODEBUG": "netdns=go", "LOCALDOMAIN": "x"}
    assert order(g, dns(), "example.com", env) == "files,dns"
    assert order(g, dns(), "example.com", {"GODEBUG": "netdns=cgo"}) == "cgo"
    assert order(go(cgo=False), dns(), "example.com", {"GODEBUG": "netdns=cgo"}) == "files,dns"
    assert order(go(tags="netgo"), dns(), "example.com", {"LOCALDOMAIN": ""}) == "files,dns"
    assert order(go(tags="netcgo"), dns(), "example.com") == "cgo"
    assert order(g, dns(), "a%b") == "cgo"
    # DefaultGODEBUG applies unless the Env overrides it.
    assert order(go(default="netdns=cgo"), dns(), "example.com") == "cgo"
    assert order(go(default="netdns=cgo"), dns(), "example.com", {"GODEBUG": "netdns=go"}) == \
        "files,dns"
    # Go < 1.21: no DefaultGODEBUG; first GODEBUG setting wins before 1.20, last after.
    assert order(go("go1.19.8", default="netdns=cgo"), dns(), "example.com") == "files,dns"
    env = {"GODEBUG": "netdns=cgo,netdns=go"}
    assert order(go("go1.19.8"), dns(), "example.com", env) == "cgo"
    assert order(go("go1.27.3"), dns(), "example.com", env) == "files,dns"


def test_resolv_conf_options() -> None:
    assert resolv_unknown_options("options ndots:2 rotate edns0 trust-ad\nsearch a b\n") == []
    assert resolv_unknown_options("options attempt:2 inet6\nsortlist 1.2.3.4\n") == [
        "attempt:2", "inet6", "sortlist"]
    bad = dns(resolv="options inet6\n")
    assert order(go(), bad, "example.com") == "cgo"
    assert order(go("go1.19.8"), bad, "example.com") == "cgo"
    assert order(go(cgo=False), bad, "example.com") == "files,dns"


def test_unknown_sources() -> None:
    for line in ("hosts: files dns mymachines\n", "hosts: files resolve [!UNAVAIL=return] dns\n",
                 "hosts: sss files dns\n"):
        assert order(go(), dns(line), "example.com") == "cgo"
        assert order(go("go1.19.8"), dns(line), "example.com") == "cgo"
    # Without cgo an unknown source with no dns anywhere counts as dns.
    assert order(go(cgo=False), dns("hosts: files resolve\n"), "example.com") == "files,dns"
    assert order(go(cgo=False), dns("hosts: resolve files\n"), "example.com") == "dns,files"
    # Go < 1.21 without cgo: "cgo" is printed, Go's resolver runs with files,dns.
    d = decide_resolver(go("go1.19.8", cgo=False), dns("hosts: files mymachines\n"), {})
    assert d.ordinary is not None and d.ordinary.resolver == "go"


def test_unparsable_nsswitch() -> None:
    assert order(go(), dns("hosts files dns\n"), "example.com") == "cgo"
    assert order(go(cgo=False), dns("hosts files dns\n"), "example.com") == "files,dns"
    assert order(go(), dns("hosts: files [NOTFOUND=return dns\n"), "example.com") == "cgo"


def test_decision_reasons() -> None:
    d = decide_resolver(go(), dns("hosts: files dns mymachines\n"), {"LOCALDOMAIN": ""})
    assert d.uses_cgo and d.branch == "go1.21+"
    assert any("LOCALDOMAIN" in r for r in d.reasons)
    d = decide_resolver(GoFacts(version="", usage=GoUsage(net_lookup=True, cgo_resolver=True,
                                                          evidence={"cgo_resolver": "x"})),
                        dns(), {})
    assert d.cgo_available and d.uncertain


@pytest.mark.parametrize("value,expected", [("go", ("go", 0)), ("cgo+1", ("cgo", 1)),
                                            ("2+go", ("go", 2)), ("1", ("", 1)), ("", ("", 0))])
def test_parse_netdns(value: str, expected: tuple[str, int]) -> None:
    assert parse_netdns(value) == expected


def test_godebug_value() -> None:
    assert godebug_value("a=1,netdns=go,netdns=cgo", "netdns", True) == "cgo"
    assert godebug_value("a=1,netdns=go,netdns=cgo", "netdns", False) == "go"
    assert godebug_value("xnetdns=go", "netdns", True) is None


# -- nsswitch -------------------------------------------------------------------------------


def test_nsswitch_parse() -> None:
    f = parse_nsswitch("# c\npasswd:   files\nhosts:  files [NOTFOUND=return !UNAVAIL=Continue] "
                       "dns # trailing\n")
    hosts = f.databases["hosts"]
    assert [s.name for s in hosts.sources] == ["files", "dns"]
    assert hosts.sources[0].criteria == (Criterion("notfound", "return"),
                                         Criterion("unavail", "continue", True))
    assert hosts.sources[0].line == 3 and hosts.line == 3 and not f.error
    assert hosts.text() == "files [NOTFOUND=return !UNAVAIL=continue] dns"


def test_nsswitch_repeated_line_appends_like_go() -> None:
    f = parse_nsswitch("hosts: files\nhosts: dns\n")
    assert [(s.name, s.line) for s in f.databases["hosts"].sources] == [("files", 1), ("dns", 2)]


@pytest.mark.parametrize("text,error", [("hosts files\n", "no colon on line"),
                                        ("hosts: files [x=y\n", "unclosed criterion bracket"),
                                        ("hosts: files [xy]\n", "invalid criteria: xy")])
def test_nsswitch_errors(text: str, error: str) -> None:
    f = parse_nsswitch(text)
    assert f.error == error and f.error_line == 1


def test_nsswitch_fragments() -> None:
    cfg = build_config("passwd: files\nhosts: files dns\n", [
        ("/etc/nsswitch.conf.d/20-b.conf", "hosts: files mdns4 dns\n"),
        ("/etc/nsswitch.conf.d/10-a.conf", "hosts: dns\ngroup: files\n"),
    ])
    hosts = cfg.hosts()
    assert hosts is not None and hosts.file == "/etc/nsswitch.conf.d/20-b.conf"
    assert [s.name for s in hosts.sources] == ["files", "mdns4", "dns"]
    assert cfg.effective["group"].file == "/etc/nsswitch.conf.d/10-a.conf"
    main = cfg.main_hosts()
    assert main is not None and main.file == "/etc/nsswitch.conf"
    # Only fragments, no main file.
    cfg = build_config(None, [("/etc/nsswitch.conf.d/x.conf", "hosts: files\n")])
    assert not cfg.main_present and cfg.hosts() is not None and cfg.main_hosts() is None
    # The resolver model follows what Go reads (the main file) and says so.
    d = decide_resolver(go(), dns("hosts: files dns\n", fragments=[
        ("/etc/nsswitch.conf.d/x.conf", "hosts: files mymachines\n")]), {})
    assert not d.uses_cgo and any("fragment" in u for u in d.uncertain)
