"""Build info read by goimglint equals ``go version -m -json`` field for field, on real
binaries from several toolchains and targets, crafted pointer-format blobs and binaries
without section headers."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goimglint.facts.elf import parse_elf
from goimglint.facts.gobuildinfo import (
    BuildInfo,
    BuildInfoError,
    Module,
    parse_go_version,
    read_buildinfo,
)
from goimglint.facts.gofacts import collect_go_facts
from tests.golang.gobuilds import MATRIX, Build, go_version_m_json
from tests.golang.gocraft import drop_section_headers, inline_strings, to_pointer_format


def _prune(value: Any) -> Any:
    """Drop empty values the way Go's omitempty JSON does, recursively."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ("", None, [], {})}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _module_json(m: Module | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {"Path": m.path, "Version": m.version, "Sum": m.sum,
            "Replace": _module_json(m.replace)}


def as_go_json(info: BuildInfo) -> dict[str, Any]:
    return _prune({
        "GoVersion": info.go_version,
        "Path": info.path,
        "Main": _module_json(info.main),
        "Deps": [_module_json(d) for d in info.deps],
        "Settings": [{"Key": k, "Value": v} for k, v in info.settings],
    })


def _read(data: bytes) -> BuildInfo:
    info = read_buildinfo(data, parse_elf(data))
    assert info is not None
    return info


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_matches_go_version_m(name: str, gobin: Callable[[str | Build], Path]) -> None:
    binary = gobin(name)
    expected = _prune(go_version_m_json(binary))
    info = _read(binary.read_bytes())
    assert as_go_json(info) == expected
    # The go.mod of the binary's own toolchain wrote these; cross-check the target's shape.
    elf = parse_elf(binary.read_bytes())
    assert info.ptr_size == elf.elf_class // 8
    assert info.big_endian == (not elf.little_endian)
    assert info.inline


@pytest.mark.parametrize("name", ["net-cgo", "386", "mips", "s390x", "deps", "go119-cgo",
                                  "pie-cgo-external"])
def test_without_section_headers(name: str, gobin: Callable[[str | Build], Path]) -> None:
    """No section headers: the blob is found in the first writable non-exec PT_LOAD."""
    binary = gobin(name)
    stripped = drop_section_headers(binary.read_bytes())
    assert parse_elf(stripped).sections == []
    assert as_go_json(_read(stripped)) == _prune(go_version_m_json(binary))


@pytest.mark.parametrize("name", ["plain", "386", "arm", "mips", "s390x", "deps"])
def test_pointer_format(name: str, gobin: Callable[[str | Build], Path], tmp_path: Path) -> None:
    """Pre-1.18 layout, crafted from a real binary: goimglint and `go version -m` agree."""
    binary = gobin(name)
    crafted = to_pointer_format(binary.read_bytes(), version=b"go1.16.15")
    path = tmp_path / "crafted"
    path.write_bytes(crafted)
    expected = _prune(go_version_m_json(path))
    assert expected["GoVersion"] == "go1.16.15"
    info = _read(crafted)
    assert not info.inline
    assert as_go_json(info) == expected
    # The modinfo itself is the original one.
    original = _prune(go_version_m_json(binary))
    assert {k: v for k, v in expected.items() if k != "GoVersion"} == {
        k: v for k, v in original.items() if k != "GoVersion"}


def test_pointer_format_without_sections(gobin: Callable[[str | Build], Path]) -> None:
    binary = gobin("mips")
    crafted = drop_section_headers(to_pointer_format(binary.read_bytes()))
    expected = _prune(go_version_m_json(binary))
    assert as_go_json(_read(crafted)) == expected


def test_non_go_elf_is_not_go() -> None:
    for tool in ("ls", "gcc", "python3"):
        path = shutil.which(tool)
        if path is None:
            continue
        data = Path(path).resolve().read_bytes()
        elf = parse_elf(data)
        assert read_buildinfo(data, elf) is None
        assert collect_go_facts(data, elf) is None


def test_go_facts_fields(gobin: Callable[[str | Build], Path]) -> None:
    data = gobin("deps").read_bytes()
    go = collect_go_facts(data, parse_elf(data))
    assert go is not None
    assert go.version.startswith("go1.27")
    assert (go.path, go.main, go.main_version) == ("example.com/deps", "example.com/deps",
                                                  "(devel)")
    assert go.settings["CGO_ENABLED"] == "0"
    assert go.has_dep("go.uber.org/automaxprocs")
    dep = next(d for d in go.deps if d["path"] == "go.uber.org/automaxprocs")
    assert dep["version"] == "v1.6.0"
    assert dep["replace"]["path"] == "./third_party/automaxprocs"
    assert go.detected_by == ["buildinfo", "pclntab"]


@pytest.mark.parametrize("text,expected", [
    ("go1.27.3", (1, 27, 3)), ("go1.21rc2", (1, 21, 0)), ("go1.22.10 X:boringcrypto", (1, 22, 10)),
    ("devel go1.24-abcdef", (1, 24, 0)), ("go1.13", (1, 13, 0)), ("gccgo", None), ("", None),
])
def test_parse_go_version(text: str, expected: tuple[int, int, int] | None) -> None:
    assert parse_go_version(text) == expected


def test_quoted_settings() -> None:
    """Quoted keys and values, as BuildInfo.String writes them for spaces and quotes."""
    info = BuildInfo("go1.27.0")
    from goimglint.facts.gobuildinfo import parse_modinfo

    parse_modinfo('path\tx\nbuild\t-ldflags="-s -w -X \\"main.v=1\\""\n'
                  'build\t"we ird"=`raw value`\nbuild\tCGO_ENABLED=1\n', info)
    assert info.settings == [("-ldflags", '-s -w -X "main.v=1"'), ("we ird", "raw value"),
                             ("CGO_ENABLED", "1")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_blob_only_raises_buildinfo_error(data: st.DataObject,
                                                   gobin: Callable[[str | Build], Path]) -> None:
    """Random bytes over the blob (header, lengths, pointers, text) never raise anything but
    BuildInfoError, in both formats."""
    raw = gobin("plain").read_bytes()
    if data.draw(st.booleans()):
        raw = to_pointer_format(raw)
    at, _vaddr, _v, _m = inline_strings(gobin("plain").read_bytes())
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = at + data.draw(st.integers(14, 96))
        buf[pos] = data.draw(st.integers(0, 255))
    elf = parse_elf(raw)
    try:
        read_buildinfo(bytes(buf), elf)
    except BuildInfoError:
        pass
