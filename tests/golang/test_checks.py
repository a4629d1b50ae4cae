"""Each Go rule fires exactly on its conditions: real binaries (their GoFacts read from the
bytes) in images whose files and Env are varied one condition at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from goimglint.catalog import load_catalog, render_template
from goimglint.checks.golang import CHECKS, support_status
from goimglint.facts.elf import parse_elf
from goimglint.facts.gofacts import collect_dns_facts, collect_go_facts, complete_go_facts
from goimglint.facts.model import BinaryFacts, ImageFacts
from goimglint.findings import Finding
from goimglint.image.model import ImageConfig
from tests.golang.fsutil import fs_from_dir, write_tree
from tests.golang.gobuilds import Build

BASE_FILES: dict[str, str | bytes | None] = {
    "/etc/passwd": "root:x:0:0::/root:/bin/sh\n",
    "/etc/ssl/certs/ca-certificates.crt": "-----BEGIN CERTIFICATE-----\n",
    "/usr/share/zoneinfo/UTC": b"TZif",
    "/etc/hosts": "127.0.0.1 localhost\n",
}


def image(tmp_path: Path, binaries: list[Path], files: dict[str, str | bytes | None],
          env: dict[str, str] | None = None, today: str = "2026-11-28",
          base: bool = True) -> ImageFacts:
    root = tmp_path / f"root{len(list(tmp_path.iterdir()))}"
    root.mkdir()
    write_tree(root, {**(BASE_FILES if base else {}), **files})
    config = ImageConfig(env=[f"{k}={v}" for k, v in (env or {}).items()])
    facts = ImageFacts("test:1", "test", "linux/amd64", config, [], today=today)
    facts.dns = collect_dns_facts(fs_from_dir(root), config)
    for i, path in enumerate(binaries):
        data = path.read_bytes()
        elf = parse_elf(data)
        go = collect_go_facts(data, elf)
        assert go is not None
        complete_go_facts(go, facts.dns, config)
        facts.binaries.append(BinaryFacts(f"/app{i}", len(data), 0o755, 0, 0, 0, elf, go=go))
    return facts


def run(rule: str, facts: ImageFacts) -> list[Finding]:
    findings = list(CHECKS[rule](facts))
    catalog = load_catalog()
    for f in findings:  # every finding renders without leftover placeholders
        meta = catalog[rule]
        template = meta.variants[f.variant].message if f.variant else meta.message
        text = render_template(template or meta.message, f.args)
        assert "{" not in text, text
    return findings


G = Callable[[str | Build], Path]
MDNS = "hosts: files mdns4_minimal [NOTFOUND=return] dns\n"


def test_gil301_level_follows_cgo(gobin: G, tmp_path: Path) -> None:
    cgo, nocgo = gobin("net-cgo"), gobin("net-nocgo")
    # nss-mdns installed (glibc finds libnss_mdns4_minimal.so.2).
    module = {"/usr/lib/x86_64-linux-gnu/libnss_mdns4_minimal.so.2": b"\x7fELF"}
    # mdns on the line, ordinary names stay on Go's resolver: note.
    f = run("GIL301", image(tmp_path, [cgo, nocgo], {"/etc/nsswitch.conf": MDNS, **module}))
    assert [x.variant for x in f] == ["go-resolver"]
    assert f[0].args["line"] == 1 and f[0].path == "/etc/nsswitch.conf"
    # mdns.allow sends ordinary names to cgo: warning naming the cgo binary only.
    f = run("GIL301", image(tmp_path, [cgo, nocgo], {"/etc/nsswitch.conf": MDNS,
                                                     "/etc/mdns.allow": ".local\n", **module}))
    assert [x.variant for x in f] == [""] and f[0].args["binaries"] == ["/app0"]
    # The same without nss-mdns installed: glibc skips the source (UNAVAIL), nothing waits.
    f = run("GIL301", image(tmp_path, [cgo, nocgo], {"/etc/nsswitch.conf": MDNS,
                                                     "/etc/mdns.allow": ".local\n"}))
    assert [x.variant for x in f] == ["module-missing"]
    assert f[0].args["module"] == "libnss_mdns4_minimal.so.2"
    # From a fragment, with the line number of the fragment.
    f = run("GIL301", image(tmp_path, [nocgo], {
        "/etc/nsswitch.conf": "passwd: files\nhosts: files dns\n",
        "/etc/nsswitch.conf.d/10-mdns.conf": "# added\n" + MDNS}))
    assert f[0].path == "/etc/nsswitch.conf.d/10-mdns.conf" and f[0].args["line"] == 2
    assert "no mdns source" in f[0].args["origin"]
    # A later fragment replaces the hosts line: no finding.
    assert not run("GIL301", image(tmp_path, [nocgo], {
        "/etc/nsswitch.conf.d/10-mdns.conf": MDNS,
        "/etc/nsswitch.conf.d/20-plain.conf": "hosts: files dns\n"}))
    assert not run("GIL301", image(tmp_path, [cgo], {"/etc/nsswitch.conf": "hosts: files dns\n"}))


def test_gil302_cgo_resolver(gobin: G, tmp_path: Path) -> None:
    cgo, nocgo, netgo = gobin("net-cgo"), gobin("net-nocgo"), gobin("net-netgo-cgo")
    plain = {"/etc/nsswitch.conf": "hosts: files dns\n"}
    assert not run("GIL302", image(tmp_path, [cgo, nocgo, netgo], plain))
    f = run("GIL302", image(tmp_path, [cgo, nocgo, netgo],
                            {"/etc/nsswitch.conf": "hosts: files dns mymachines\n"}))
    assert [x.binary for x in f] == ["/app0"]
    assert "mymachines" in f[0].args["decision"]
    f = run("GIL302", image(tmp_path, [cgo, nocgo], plain, env={"LOCALDOMAIN": ""}))
    assert [x.binary for x in f] == ["/app0"] and "LOCALDOMAIN" in f[0].args["reasons"]
    assert not run("GIL302", image(tmp_path, [cgo], plain,
                                   env={"LOCALDOMAIN": "", "GODEBUG": "netdns=go"}))
    f = run("GIL302", image(tmp_path, [gobin("net-netcgo-cgo")], plain))
    assert len(f) == 1 and "netcgo" in f[0].args["reasons"]
    # A binary that never resolves names is not reported.
    assert not run("GIL302", image(tmp_path, [gobin(Build(cgo=True))], plain,
                                   env={"LOCALDOMAIN": ""}))


def test_gil303_missing_nss_module(gobin: G, tmp_path: Path) -> None:
    cgo, nocgo = gobin("net-cgo"), gobin("net-nocgo")
    line = {"/etc/nsswitch.conf": "hosts: files myhostname dns mymachines\n"}
    f = run("GIL303", image(tmp_path, [cgo], line))
    assert sorted(x.args["module"] for x in f) == ["libnss_myhostname.so.2",
                                                   "libnss_mymachines.so.2"]
    f = run("GIL303", image(tmp_path, [cgo], {
        **line, "/usr/lib/x86_64-linux-gnu/libnss_mymachines.so.2": b"\x7fELF"}))
    assert [x.args["source"] for x in f] == ["myhostname"]
    assert not run("GIL303", image(tmp_path, [nocgo], line))


def test_gil304_hosts_after_dns(gobin: G, tmp_path: Path) -> None:
    nocgo, cgo = gobin("net-nocgo"), gobin("net-cgo")
    assert not run("GIL304", image(tmp_path, [nocgo, cgo], {}))  # Go >= 1.16: files first
    f = run("GIL304", image(tmp_path, [nocgo, cgo], {"/etc/nsswitch.conf": "hosts: dns files\n"}))
    assert [x.binary for x in f] == ["/app0", "/app1"]
    # A Go < 1.16 binary (pointer-format build info, as old toolchains wrote it).
    from tests.golang.gocraft import to_pointer_format

    old = tmp_path / "old"
    old.write_bytes(to_pointer_format(nocgo.read_bytes(), version=b"go1.15.15"))
    f = run("GIL304", image(tmp_path, [old], {}))
    assert len(f) == 1 and "Go < 1.16" in f[0].args["reason"]
    assert not run("GIL304", image(tmp_path, [old], {"/etc/nsswitch.conf": "hosts: files dns\n"}))


@pytest.mark.parametrize("godebug,fires", [("netdns=go+1", True), ("netdns=2", True),
                                           ("netdns=go", False), ("madvdontneed=1", False),
                                           ("netdns=cgo+1,netdns=go", False)])
def test_gil305_netdns_debug(godebug: str, fires: bool, gobin: G, tmp_path: Path) -> None:
    f = run("GIL305", image(tmp_path, [gobin("net-nocgo")], {}, env={"GODEBUG": godebug}))
    assert bool(f) is fires


def test_gil401_ca_certificates(gobin: G, tmp_path: Path) -> None:
    tls, plain, deps = gobin(Build(tags="use_tls")), gobin("plain"), gobin("deps")
    f = run("GIL401", image(tmp_path, [tls, plain, deps], {}, base=False))
    assert [x.binary for x in f] == ["/app0"] and f[0].args["via"] == "crypto/tls"
    assert not run("GIL401", image(tmp_path, [tls], {}))  # base has the bundle
    assert not run("GIL401", image(tmp_path, [tls], {}, base=False,
                                   env={"SSL_CERT_FILE": "/certs/ca.pem"}))
    assert not run("GIL401", image(tmp_path, [tls], {"/etc/pki/tls/certs/a.pem": "x"},
                                   base=False))
    assert run("GIL401", image(tmp_path, [tls], {"/etc/ssl/certs": None}, base=False))


def test_gil402_zoneinfo(gobin: G, tmp_path: Path) -> None:
    tz, tzdata = gobin(Build(tags="use_tz")), gobin("tz-timetzdata")
    f = run("GIL402", image(tmp_path, [tz, tzdata, gobin("plain")], {}, base=False))
    assert [x.binary for x in f] == ["/app0"]
    assert not run("GIL402", image(tmp_path, [tz], {}, base=False, env={"ZONEINFO": "/z.zip"}))
    assert not run("GIL402", image(tmp_path, [tz], {}))


def test_gil403_passwd(gobin: G, tmp_path: Path) -> None:
    pure, cgo = gobin(Build(tags="use_user")), gobin(Build(tags="use_user", cgo=True))
    f = run("GIL403", image(tmp_path, [pure, cgo, gobin("user-osusergo-cgo")], {}, base=False))
    assert [x.binary for x in f] == ["/app0", "/app2"]
    assert not run("GIL403", image(tmp_path, [pure], {}))


def test_gil501_gomaxprocs(gobin: G, tmp_path: Path) -> None:
    mod122, mod125 = gobin("mod122"), gobin("mod125")
    old = gobin(Build(go="1.24", src="mod122"))
    f = run("GIL501", image(tmp_path, [mod122, mod125, old, gobin("deps")], {}))
    assert [(x.binary, x.variant) for x in f] == [("/app0", "godebug"), ("/app2", "old-go")]
    assert "go line" in f[0].args["why"]
    assert not run("GIL501", image(tmp_path, [mod122, old], {}, env={"GOMAXPROCS": "2"}))
    f = run("GIL501", image(tmp_path, [mod122, mod125], {},
                            env={"GODEBUG": "containermaxprocs=1"}))
    assert not f
    f = run("GIL501", image(tmp_path, [mod125], {}, env={"GODEBUG": "containermaxprocs=0"}))
    assert len(f) == 1 and "image Env" in f[0].args["why"]


def test_gil502_gomemlimit(gobin: G, tmp_path: Path) -> None:
    f = run("GIL502", image(tmp_path, [gobin("plain"), gobin("deps")], {}))
    assert [x.binary for x in f] == ["/app0"]
    assert not run("GIL502", image(tmp_path, [gobin("plain")], {}, env={"GOMEMLIMIT": "1GiB"}))


def test_gil503_redundant_godebug(gobin: G, tmp_path: Path) -> None:
    nocgo, cgo = gobin("net-nocgo"), gobin("net-cgo")
    f = run("GIL503", image(tmp_path, [nocgo, cgo], {},
                            env={"GODEBUG": "netdns=go,madvdontneed=1,nosuchkey=1,gctrace=0"}))
    by = {x.binary: x.args["settings"] for x in f}
    assert len(by["/app0"]) == 3 and len(by["/app1"]) == 2
    assert not any("gctrace" in s for s in by["/app0"])
    assert not run("GIL503", image(tmp_path, [cgo], {}, env={"GODEBUG": "netdns=go"}))


def test_gil504_support_window(gobin: G, tmp_path: Path) -> None:
    b125, b127 = gobin("go125-stripped"), gobin("plain")
    f = run("GIL504", image(tmp_path, [b125, b127], {}, today="2026-11-28"))
    assert [x.binary for x in f] == ["/app0"]
    assert f[0].args["current"] == ["go1.27.3", "go1.26.6"] and f[0].args["eol"] == "2026-08-19"
    # The day before Go 1.27.0, Go 1.25 is still supported.
    assert not run("GIL504", image(tmp_path, [b125], {}, today="2026-08-18"))
    status = support_status(21, "2024-08-13")
    assert status is not None and not status.supported
    assert support_status(99, "2026-11-28") is None


def test_gil505_instrumented(gobin: G, tmp_path: Path) -> None:
    f = run("GIL505", image(tmp_path, [gobin("race"), gobin("plain")], {}))
    assert [(x.binary, x.args["flags"]) for x in f] == [("/app0", ["-race"])]
