"""The resolver model against the real thing: each binary runs in a chroot with the image's
/etc files and ``GODEBUG=netdns=2``, and prints ``go package net: hostLookupOrder(NAME) = X``
before it resolves anything. Every name is in /etc/hosts and the only nameserver is
127.0.0.1 with a 1 s timeout, so runs need no network and stay short."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from goimglint.facts.elf import parse_elf
from goimglint.facts.gofacts import collect_dns_facts, collect_go_facts
from goimglint.facts.resolver import lookup_order
from goimglint.image.model import ImageConfig
from tests.golang.fsutil import fs_from_dir, write_tree
from tests.golang.gobuilds import Build

pytestmark = pytest.mark.root

NAMES = ("svc.example", "printer.local", "localhost")
HOSTS = "127.0.0.1 localhost\n10.0.0.7 svc.example\n10.0.0.8 printer.local\n"
RESOLV = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
LINE = re.compile(r"go package net: hostLookupOrder\((?P<name>[^)]*)\) = (?P<order>\S+)")

NSSWITCH = {
    "none": None,
    "files-dns": "hosts: files dns\n",
    "dns-files": "hosts:   dns   files\n",
    "mdns": "hosts: files mdns4_minimal [NOTFOUND=return] dns\n",
    "mdns-allow": "hosts: files mdns4_minimal [NOTFOUND=return] dns\n",
    "mymachines": "hosts: files dns mymachines\n",
    "myhostname": "hosts: files myhostname dns\n",
    "criteria": "hosts: files [SUCCESS=continue] dns\n",
    "last-return": "hosts: files dns [NOTFOUND=return]\n",
    "no-hosts": "passwd: files\ngroup: files\n",
    "broken": "hosts files dns\n",
    "comment": "# hosts: mdns4\nhosts: files dns # mdns4\n",
}
ENVS = {
    "plain": {},
    "localdomain": {"LOCALDOMAIN": ""},
    "res-options": {"RES_OPTIONS": "ndots:2"},
    "netdns-go": {"GODEBUG": "netdns=go+2"},
    "netdns-cgo": {"GODEBUG": "netdns=cgo+2"},
}
BINARIES = {
    "go1.27-cgo": Build(tags="use_net", cgo=True),
    "go1.27-nocgo": Build(tags="use_net"),
    "go1.27-netgo": Build(tags="use_net,netgo", cgo=True),
    "go1.27-netcgo": Build(tags="use_net,netcgo", cgo=True),
    "go1.24-cgo": Build(go="1.24", tags="use_net", cgo=True),
    "go1.22-cgo": Build(go="1.22", tags="use_net", cgo=True),
    "go1.21-cgo": Build(go="1.21", tags="use_net", cgo=True),
    "go1.19-cgo": Build(go="1.19", tags="use_net", cgo=True),
    "go1.19-nocgo": Build(go="1.19", tags="use_net"),
    "go1.19-netgo": Build(go="1.19", tags="use_net,netgo", cgo=True),
}


def _copy_with_libs(binary: Path, root: Path) -> None:
    """The binary as /app plus every library ldd names (host glibc), at the same paths."""
    shutil.copy2(binary, root / "app")
    elf = parse_elf(binary.read_bytes())
    if elf.interpreter is None:
        return
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True)
    for path in re.findall(r"(/\S+)", out.stdout):
        src = Path(path)
        if not src.exists():
            continue
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src.resolve(), dest)


def _run(root: Path, env: dict[str, str]) -> dict[str, str]:
    full = {"PATH": "/", "GODEBUG": "netdns=2", **env}
    chroot = shutil.which("chroot") or "chroot"
    proc = subprocess.run([chroot, str(root), "/app", *NAMES], capture_output=True,
                          text=True, env=full, timeout=60)
    assert "features done" in proc.stdout, proc.stderr
    return {m["name"]: m["order"] for m in LINE.finditer(proc.stderr)}


@pytest.mark.parametrize("label", sorted(BINARIES))
def test_model_matches_netdns_output(label: str, gobin: Callable[[str | Build], Path],
                                     tmp_path: Path) -> None:
    if shutil.which("chroot") is None:
        pytest.skip("chroot not installed")
    binary = gobin(BINARIES[label])
    data = binary.read_bytes()
    go = collect_go_facts(data, parse_elf(data))
    assert go is not None
    mismatches: list[str] = []
    checked = 0
    for nss_label, nss in NSSWITCH.items():
        for env_label, env in ENVS.items():
            if env_label != "plain" and nss_label not in ("files-dns", "mdns"):
                continue
            for resolv in (RESOLV, RESOLV + "options rotate\n", RESOLV + "options attempt:2\n"):
                if resolv != RESOLV and (nss_label != "files-dns" or env_label != "plain"):
                    continue
                root = tmp_path / f"{nss_label}-{env_label}-{len(resolv)}"
                root.mkdir()
                _copy_with_libs(binary, root)
                files: dict[str, str | bytes | None] = {"/etc/hosts": HOSTS,
                                                        "/etc/resolv.conf": resolv}
                if nss is not None:
                    files["/etc/nsswitch.conf"] = nss
                if nss_label == "mdns-allow":
                    files["/etc/mdns.allow"] = ".local\n"
                write_tree(root, files)
                dns = collect_dns_facts(fs_from_dir(root), ImageConfig())
                seen = _run(root, env)
                assert set(seen) == set(NAMES), (nss_label, env_label, seen)
                for name in NAMES:
                    model, why = lookup_order(go, dns, {"GODEBUG": "netdns=2", **env}, name)
                    checked += 1
                    if model != seen[name]:
                        mismatches.append(f"{nss_label}/{env_label}/{resolv!r}: {name}: real "
                                          f"{seen[name]}, model {model} ({why})")
                shutil.rmtree(root)
    assert not mismatches, "\n".join(mismatches)
    assert checked >= 40


def test_chroot_runs_are_as_root() -> None:
    assert os.geteuid() == 0
