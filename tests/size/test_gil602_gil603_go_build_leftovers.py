"""GIL602 (Go toolchain / caches in the image) and GIL603 (symbol and DWARF bytes)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from fixtures.builder import Dir, File, HostFile, Layer, Op
from fixtures.gobuild import cache_dir, go_executable
from goimglint.catalog import load_catalog, render_template
from tests.size.sizeutil import analysis_of, findings, recipe, write


def _goroot() -> Path:
    out = subprocess.run([go_executable(), "env", "GOROOT"], capture_output=True, text=True,
                         check=True)
    return Path(out.stdout.strip())


def _tree_ops(files: dict[str, Path | bytes]) -> tuple[list[Op], int]:
    """Dirs + files for ``files`` (image path -> host file or bytes), and their total bytes."""
    ops: list[Op] = []
    dirs: set[str] = set()
    total = 0
    for path in sorted(files):
        parent = os.path.dirname(path)
        chain = []
        while parent != "/" and parent not in dirs:
            dirs.add(parent)
            chain.append(parent)
            parent = os.path.dirname(parent)
        ops += [Dir(d) for d in reversed(chain)]
        src = files[path]
        if isinstance(src, Path):
            ops.append(HostFile(path, src))
            total += src.stat().st_size
        else:
            ops.append(File(path, src))
            total += len(src)
    return ops, total


def test_toolchain_and_caches_are_found_with_their_bytes(tmp_path: Path,
                                                         hello_static_stripped: Path) -> None:
    goroot = _goroot()
    toolchain, toolchain_bytes = _tree_ops({
        "/usr/local/go/bin/go": goroot / "bin" / "go",
        "/usr/local/go/pkg/tool/linux_amd64/preprofile":
            goroot / "pkg" / "tool" / "linux_amd64" / "preprofile",
        "/usr/local/go/VERSION": goroot / "VERSION",
    })
    modcache, modcache_bytes = _tree_ops({
        "/go/pkg/mod/cache/download/example.com/lib/@v/v1.0.0.zip": b"PK\x05\x06" + b"\0" * 18,
        "/go/pkg/mod/cache/download/example.com/lib/@v/v1.0.0.mod": b"module example.com/lib\n",
        "/go/pkg/mod/example.com/lib@v1.0.0/lib.go": b"package lib\n" * 100,
    })
    gocache = cache_dir() / "gocache"
    cache_files: dict[str, Path | bytes] = {
        "/root/.cache/go-build/README": gocache / "README",
        "/root/.cache/go-build/trim.txt": gocache / "trim.txt",
    }
    for name in sorted(os.listdir(gocache / "00"))[:3]:
        cache_files[f"/root/.cache/go-build/00/{name}"] = gocache / "00" / name
    buildcache, buildcache_bytes = _tree_ops(cache_files)
    r = recipe([Layer(toolchain, created_by="COPY --from=golang /usr/local/go /usr/local/go"),
                Layer(modcache, created_by="RUN go mod download"),
                Layer(buildcache + [HostFile("/app", hello_static_stripped)],
                      created_by="RUN go build -o /app .")],
               entrypoint=["/app"], compression="none")
    a = analysis_of(write(r, tmp_path / "img.tar"))
    s = a.facts.size
    assert [(x.path, x.size, x.layer) for x in s.go_toolchains] == [
        ("/usr/local/go", toolchain_bytes, 0)]
    assert s.go_toolchains[0].version == (goroot / "VERSION").read_text().splitlines()[0]
    assert [(x.path, x.size, x.layer) for x in s.module_caches] == [
        ("/go/pkg/mod", modcache_bytes, 1)]
    assert [(x.path, x.size, x.layer) for x in s.build_caches] == [
        ("/root/.cache/go-build", buildcache_bytes, 2)]
    got = sorted((f.variant, f.path, f.args["bytes"], f.layer) for f in findings(a, "GIL602"))
    assert got == [("", "/usr/local/go", toolchain_bytes, 0),
                   ("build-cache", "/root/.cache/go-build", buildcache_bytes, 2),
                   ("module-cache", "/go/pkg/mod", modcache_bytes, 1)]
    # The toolchain's own Go binaries are GIL602's, not GIL603's.
    assert all(not f.path.startswith("/usr/local/go/") for f in findings(a, "GIL603"))
    meta = load_catalog()["GIL602"]
    text = render_template(meta.message, findings(a, "GIL602")[0].args)
    assert "COPY --from=golang" in text


def test_no_toolchain_finding_for_a_lone_go_binary_named_go(tmp_path: Path,
                                                            hello_static_stripped: Path) -> None:
    # bin/go without pkg/tool is not a GOROOT (e.g. a CLI called "go" in /usr/local/bin).
    r = recipe([Layer([HostFile("/usr/local/bin/go", hello_static_stripped)])],
               entrypoint=["/usr/local/bin/go"])
    a = analysis_of(write(r, tmp_path / "img.tar"))
    assert a.facts.size.go_toolchains == [] and findings(a, "GIL602") == []


def _section_bytes(path: Path) -> tuple[int, int]:
    """(symbol, DWARF) bytes by pyelftools: an independent reading of the section headers."""
    symbols = dwarf = 0
    with open(path, "rb") as fh:
        for sec in ELFFile(fh).iter_sections():
            if sec["sh_type"] == "SHT_NOBITS":
                continue
            if sec.name in (".symtab", ".strtab"):
                symbols += sec["sh_size"]
            elif sec.name.startswith((".debug_", ".zdebug_")):
                dwarf += sec["sh_size"]
    return symbols, dwarf


@pytest.mark.parametrize("fixture,trimpath", [("hello_static_unstripped", False),
                                              ("hello_static_trimpath", True)])
def test_unstripped_binary_bytes_equal_the_sections(tmp_path: Path, request: pytest.FixtureRequest,
                                                    fixture: str, trimpath: bool) -> None:
    binary: Path = request.getfixturevalue(fixture)
    symbols, dwarf = _section_bytes(binary)
    assert symbols > 0 and dwarf > 0
    r = recipe([Layer([HostFile("/app", binary)])], entrypoint=["/app"], user="65534")
    a = analysis_of(write(r, tmp_path / "img.tar"))
    (b,) = a.facts.size.binaries
    assert (b.symbol_bytes, b.dwarf_bytes) == (symbols, dwarf)
    assert b.trimpath is trimpath
    (f,) = findings(a, "GIL603")
    assert f.args["bytes"] == symbols + dwarf
    assert f.variant == ("" if trimpath else "no_trimpath")
    meta = load_catalog()["GIL603"]
    message = render_template(
        meta.variants[f.variant].message or meta.message if f.variant else meta.message, f.args)
    assert ("-trimpath" in message) is (not trimpath)


def test_stripped_binary_has_no_finding(tmp_path: Path, hello_static_stripped: Path) -> None:
    assert _section_bytes(hello_static_stripped) == (0, 0)
    r = recipe([Layer([HostFile("/app", hello_static_stripped)])], entrypoint=["/app"])
    a = analysis_of(write(r, tmp_path / "img.tar"))
    (b,) = a.facts.size.binaries
    assert (b.symbol_bytes, b.dwarf_bytes, b.go) == (0, 0, True)
    assert findings(a, "GIL603") == []


def test_stripping_removes_at_least_the_counted_bytes(hello_static_unstripped: Path,
                                                      hello_static_trimpath: Path,
                                                      hello_static_stripped: Path) -> None:
    # -s -w drops the counted sections (and their section headers): the stripped build is
    # smaller by at least roughly that much (the rest of the layout may shift a little).
    symbols, dwarf = _section_bytes(hello_static_trimpath)
    saved = hello_static_trimpath.stat().st_size - hello_static_stripped.stat().st_size
    assert saved >= 0.9 * (symbols + dwarf)
