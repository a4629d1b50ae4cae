"""Package usage from the Go function table: pairs of real binaries that differ only in one
feature, stripped and section-less variants, Go 1.19 (1.18 layout) and 1.21+ (1.20 layout)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from goimglint.facts.elf import parse_elf
from goimglint.facts.gofacts import collect_go_facts
from goimglint.facts.pclntab import (
    PclntabError,
    find_pclntab,
    parse_pclntab,
    usage_from_names,
)
from tests.golang.gobuilds import Build
from tests.golang.gocraft import drop_section_headers

# feature flag -> build tag that adds the feature to fixtures/gosrc/features
PAIRS = {
    "net_lookup": "use_net",
    "x509_system_roots": "use_x509",
    "os_user": "use_user",
    "load_location": "use_tz",
    "tzdata": "use_tzdata",
    "tls": "use_tls",
    "http": "use_http",
}
# Features a tag brings in besides its own (TLS verification loads the system roots, and
# dialing resolves names).
IMPLIED = {"use_tls": {"x509_system_roots", "net_lookup"},
           "use_http": {"x509_system_roots", "net_lookup", "tls"}}


def _usage(path: Path, sectionless: bool = False):  # type: ignore[no-untyped-def]
    data = path.read_bytes()
    if sectionless:
        data = drop_section_headers(data)
    table = find_pclntab(data, parse_elf(data))
    assert table is not None
    return table, usage_from_names(table.names)


@pytest.mark.parametrize("go", ["1.27", "1.19"])
@pytest.mark.parametrize("ldflags", ["", "-s -w"])
@pytest.mark.parametrize("feature", sorted(PAIRS))
def test_pairs_differ_only_in_feature(feature: str, ldflags: str, go: str,
                                      gobin: Callable[[str | Build], Path]) -> None:
    tag = PAIRS[feature]
    without = gobin(Build(go=go, ldflags=ldflags))
    with_it = gobin(Build(go=go, tags=tag, ldflags=ldflags))
    t0, u0 = _usage(without)
    t1, u1 = _usage(with_it)
    assert t0.layout == t1.layout == ("1.18" if go == "1.19" else "1.20")
    expected = {feature} | IMPLIED.get(tag, set())
    for name in ("net_lookup", "x509_system_roots", "os_user", "load_location", "tzdata",
                 "tls", "http"):
        assert getattr(u0, name) is False, name
        assert getattr(u1, name) is (name in expected), name


def test_tags_timetzdata_and_osusergo(gobin: Callable[[str | Build], Path]) -> None:
    _, u = _usage(gobin("tz-timetzdata"))
    assert u.tzdata and u.load_location
    _, pure = _usage(gobin("user-osusergo-cgo"))
    _, cgo = _usage(gobin(Build(tags="use_user", cgo=True)))
    assert pure.os_user_pure and not pure.os_user_cgo
    assert cgo.os_user_cgo and not cgo.os_user_pure
    # osusergo leaves no C in the program: runtime/cgo is not linked even with cgo on.
    assert not pure.runtime_cgo and cgo.runtime_cgo


@pytest.mark.parametrize("name,cgo_resolver", [
    ("net-nocgo", False), ("net-cgo", True), ("net-netgo-cgo", False), ("net-netcgo-cgo", True),
    ("go119-cgo", True), ("go119-nocgo", False), ("go121-cgo", True), ("race", True),
])
def test_cgo_resolver_linked(name: str, cgo_resolver: bool,
                             gobin: Callable[[str | Build], Path]) -> None:
    _, u = _usage(gobin(name))
    assert u.net_lookup
    assert u.cgo_resolver is cgo_resolver


@pytest.mark.parametrize("name", ["stripped", "386", "mips", "s390x", "arm", "go119-cgo",
                                  "pie-cgo-external"])
def test_found_without_sections(name: str, gobin: Callable[[str | Build], Path]) -> None:
    """With no section headers the table is found by its magic and gives the same names."""
    by_section, _ = _usage(gobin(name))
    by_scan, _ = _usage(gobin(name), sectionless=True)
    assert by_scan.found_by == "scan"
    assert by_scan.names == by_section.names
    assert by_scan.big_endian == (name in ("mips", "s390x"))


def test_stripped_binary_still_detected_as_go(gobin: Callable[[str | Build], Path]) -> None:
    data = drop_section_headers(gobin("stripped").read_bytes())
    go = collect_go_facts(data, parse_elf(data))
    assert go is not None and "pclntab" in go.detected_by
    assert go.usage is not None and go.usage.os_user and go.usage.tls


def test_x509_fallback_roots_from_deps(gobin: Callable[[str | Build], Path]) -> None:
    _, u = _usage(gobin("deps"))
    assert u.x509_fallback_roots and u.x509_system_roots
    _, plain = _usage(gobin(Build(tags="use_x509")))
    assert not plain.x509_fallback_roots


def _go12_table(names: list[str], big: bool = False, ps: int = 8) -> bytes:
    """A Go 1.2-layout table with one func record per name (written from the format)."""
    order = ">" if big else "<"
    word = "I" if ps == 4 else "Q"
    head = struct.pack(order + "I", 0xFFFFFFFB) + bytes([0, 0, 1, ps])
    n = len(names)
    functab_end = 8 + ps + (2 * n + 1) * ps + 4  # + end pc + file table offset
    records_at = functab_end
    record_size = ps + 4 * 9
    names_at = records_at + n * record_size
    out = bytearray(head + struct.pack(order + word, n))
    name_offsets = []
    pos = names_at
    for name in names:
        name_offsets.append(pos)
        pos += len(name) + 1
    for i in range(n):
        out += struct.pack(order + word * 2, 0x1000 + 16 * i, records_at + i * record_size)
    out += struct.pack(order + word, 0x1000 + 16 * n) + b"\x00" * 4
    for i in range(n):
        out += struct.pack(order + word, 0x1000 + 16 * i) + struct.pack(order + "i",
                                                                        name_offsets[i])
        out += b"\x00" * 32
    for name in names:
        out += name.encode() + b"\x00"
    return bytes(out)


@pytest.mark.parametrize("big,ps", [(False, 8), (True, 4)])
def test_go12_layout(big: bool, ps: int) -> None:
    names = ["runtime.main", "net.(*Resolver).lookupIPAddr", "time.LoadLocation"]
    table = parse_pclntab(_go12_table(names, big, ps))
    assert table.layout == "1.2" and table.names == set(names)
    u = usage_from_names(table.names)
    assert u.net_lookup and u.load_location and not u.os_user


def _go116_table(names: list[str]) -> bytes:
    ps = 8
    head = struct.pack("<I", 0xFFFFFFFA) + bytes([0, 0, 1, ps])
    nametab = b"".join(n.encode() + b"\x00" for n in names)
    start = 8 + 7 * ps
    words = [len(names), 0, start, start + len(nametab), start + len(nametab),
             start + len(nametab), start + len(nametab)]
    return head + struct.pack("<7Q", *words) + nametab


def test_go116_layout() -> None:
    names = ["runtime.main", "os/user.Current", "os/user.readColonFile"]
    table = parse_pclntab(_go116_table(names))
    assert table.layout == "1.16" and table.names == set(names)
    u = usage_from_names(table.names)
    assert u.os_user and u.os_user_pure and not u.os_user_cgo


@pytest.mark.parametrize("raw", [
    b"", b"\xfb\xff\xff\xff\x00\x00\x01\x08", b"\xfb\xff\xff\xff\x00\x00\x01\x08" + b"\xff" * 8,
    b"\xf1\xff\xff\xff\x00\x00\x01\x08" + b"\xff" * 64,
    b"\xf1\xff\xff\xff\x00\x00\x03\x08" + b"\x00" * 64,
])
def test_bad_tables_raise_pclntab_error(raw: bytes) -> None:
    with pytest.raises(PclntabError):
        parse_pclntab(raw)
