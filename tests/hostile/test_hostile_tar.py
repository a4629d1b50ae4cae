"""Hostile layer and archive tars, run through the real CLI: each ends with findings or one
error line (exit 2), in bounded time and memory, leaving nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile.craft import (
    Config,
    docker_archive,
    gnu_long,
    gzip_bytes,
    header,
    member,
    pad,
    pax,
    tar,
)
from tests.hostile.sandbox import assert_clean_end, run_cli

HELLO = b"#!/bin/sh\necho hi\n"


def _write(tmp_path: Path, data: bytes, name: str = "image.tar") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _lint(path: Path, *extra: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    return run_cli(["lint", "--format", "json", *extra, str(path)], timeout=timeout)


def _findings(run) -> list[dict]:  # type: ignore[no-untyped-def]
    doc = json.loads(run.stdout)
    return [f for target in doc["targets"] for f in target["findings"]]


def _rules(run) -> set[str]:  # type: ignore[no-untyped-def]
    return {f["rule"] for f in _findings(run)}


# -- symlinks ---------------------------------------------------------------------------------


def test_symlink_loop_and_long_chain(tmp_path: Path, go_hello_static: Path) -> None:
    binary = go_hello_static.read_bytes()
    chain = [member(f"l{i}", typeflag=b"2", linkname=f"/l{i + 1}") for i in range(50)]
    layer = tar([
        member("bin/", typeflag=b"5", mode=0o755),
        member("bin/app", binary, mode=0o755),
        member("loop-a", typeflag=b"2", linkname="loop-b"),
        member("loop-b", typeflag=b"2", linkname="./loop-a"),
        member("self", typeflag=b"2", linkname="self/x"),
        member("l50", typeflag=b"2", linkname="/bin/app"),
        *chain,
        member("etc/", typeflag=b"5", mode=0o755),
        member("etc/nsswitch.conf", typeflag=b"2", linkname="nsswitch.conf"),
        member("etc/ld.so.conf", typeflag=b"2", linkname="/etc/ld.so.conf.d/../ld.so.conf"),
        member("etc/resolv.conf", typeflag=b"2", linkname="/loop-a"),
        member("lib", typeflag=b"2", linkname="lib"),
        member("lib64", typeflag=b"2", linkname="/lib64/.."),
    ])
    for entry in (["/l0"], ["/loop-a"], ["/self"], ["/l10"]):
        path = _write(tmp_path, docker_archive([layer], Config(entrypoint=entry)))
        run = _lint(path)
        assert_clean_end(run, max_seconds=30)
        # /l10 reaches the binary in 41 hops: over Linux's 40, so the runtime fails too.
        assert run.returncode == 1, run.describe()
        assert "GIL106" in _rules(run), run.describe()


# -- deep trees and strange names -----------------------------------------------------------


def test_ten_thousand_deep_directories(tmp_path: Path, go_hello_static: Path) -> None:
    """10,000 levels (some as directory entries, the rest implied by the file at the bottom),
    a symlink at the bottom climbing far above the root, a whiteout of the whole tree in the
    next layer: findings, in bounded time and memory (the tree's path names are ~100 MB)."""
    depth = 10_000
    deep = "/".join(["d"] * depth)
    entries = []
    for k in range(1, depth + 1, 97):
        entries += [pax({b"path": "/".join(["d"] * k).encode() + b"/"}),
                    member("placeholder/", typeflag=b"5", mode=0o755)]
    layer1 = tar([
        *entries,
        pax({b"path": deep.encode() + b"/f"}), member("placeholder", b"x"),
        pax({b"path": deep.encode() + b"/up", b"linkpath": b"../" * (depth + 5) + b"app"}),
        member("placeholder", typeflag=b"2"),
    ])
    layer2 = tar([member(".wh.d"), member("app", go_hello_static.read_bytes(), mode=0o755)])
    for entrypoint in (["/" + deep + "/up"], ["/app"]):
        path = _write(tmp_path, docker_archive([gzip_bytes(layer1), gzip_bytes(layer2)],
                                               Config(entrypoint=entrypoint)))
        run = _lint(path)
        assert_clean_end(run, max_seconds=40, max_rss_mb=600)
        assert run.returncode in (0, 1), run.describe()


@pytest.mark.parametrize("shape", ["two-deep-trees", "one-huge-path", "many-roots"])
def test_path_name_budget(tmp_path: Path, shape: str) -> None:
    """Inputs whose implied directories would need gigabytes of path names: a 1 MiB PAX path
    (500,000 levels), two 10,000-deep trees, thousands of 4 KiB paths under distinct roots.
    One clear error, quickly, before memory grows."""
    if shape == "one-huge-path":
        layers = [tar([pax({b"path": b"a/" * 500_000 + b"f"}), member("x", b"x")])]
    elif shape == "two-deep-trees":
        tree = [pax({b"path": b"d/" * 10_000 + b"f"}), member("x", b"x")]
        layers = [tar(tree), tar([pax({b"path": b"e/" * 10_000 + b"f"}), member("x", b"x")])]
    else:
        layers = [tar([item for i in range(5000) for item in (
            pax({b"path": b"r%d/" % i + b"a/" * 2000 + b"f"}), member("x", b"x"))])]
    path = _write(tmp_path, docker_archive([gzip_bytes(layer) for layer in layers]))
    run = _lint(path)
    # two-deep-trees: the first tree (~100 MB of names) is under the limit and merged first
    assert_clean_end(run, max_seconds=30, max_rss_mb=700)
    assert run.returncode == 2 and "MiB of path names" in run.stderr, run.describe()


@pytest.mark.parametrize("name", [
    b"../../../../tmp/escaped", b"/abs/olute", b"./../x/../../y", b"bad\xff\xfename",
    b"nul\x00hidden", b"..", b"/", b"./", b"a/./b/../../../c", b"\xc3\x28/\xa0\xa1",
])
def test_hostile_member_names(tmp_path: Path, name: bytes, go_hello_static: Path) -> None:
    """Names that climb, are absolute, carry NUL or are not UTF-8, as plain ustar names, PAX
    paths and GNU long names, for files, symlinks, hardlinks and a Go binary: the run ends
    with findings and writes nothing (the layer is never extracted)."""
    binary = go_hello_static.read_bytes()
    layer = tar([
        member(name, b"plain"),
        pax({b"path": name + b"/pax", b"linkpath": name}), member("x", typeflag=b"2"),
        gnu_long(name + b"/" + b"long" * 40), member("x", b"gnu"),
        gnu_long(name + b"/hl"), gnu_long(name, typeflag=b"K"), member("x", typeflag=b"1"),
        pax({b"path": name + b"/gobin"}), member("x", binary, mode=0o755),
    ])
    for fmt in ("json", "sarif", "text"):
        path = _write(tmp_path, docker_archive([layer], Config(entrypoint=[
            "/" + name.decode("utf-8", "surrogateescape") + "/gobin"])))
        run = run_cli(["lint", "--format", fmt, str(path)])
        assert_clean_end(run, max_seconds=30)
        assert run.returncode in (0, 1), run.describe()
    assert not Path("/tmp/escaped").exists()


def test_whiteouts_outside_the_root(tmp_path: Path) -> None:
    base = tar([member("etc/", typeflag=b"5", mode=0o755), member("etc/passwd", b"root:x:0:0::/:"),
                member("keep", b"k"), member("bin/", typeflag=b"5"), member("bin/sh", HELLO)])
    upper = tar([
        member("../.wh.etc"), member("../../.wh..."), member("/.wh.."), member(".wh."),
        member(".wh..wh..opq"), member("../../.wh..wh..opq"), member("bin/../../.wh.bin"),
        pax({b"path": b"../" * 50 + b".wh.keep"}), member("x"),
        member(".wh.\xff".encode("latin-1")), member("nul/.wh..wh..opq"),
        gnu_long(b"/" * 600 + b".wh.etc"), member("x"),
    ])
    path = _write(tmp_path, docker_archive([base, upper], Config(entrypoint=["/bin/sh"])))
    run = run_cli(["inspect", "--format", "json", str(path)])
    assert_clean_end(run, max_seconds=30)
    assert run.returncode == 0, run.describe()
    # "../.wh.etc" is clamped at the root: it removes /etc, as `/.wh.etc` would.
    for args in (["lint", "--format", "json", str(path)],):
        assert_clean_end(run_cli(args), max_seconds=30)


def test_hardlinks_to_missing_later_and_odd_targets(tmp_path: Path, go_hello_static: Path
                                                    ) -> None:
    binary = go_hello_static.read_bytes()
    layer = tar([
        member("bin/", typeflag=b"5", mode=0o755),
        member("bin/early", typeflag=b"1", linkname="bin/app", mode=0o755),  # before its target
        member("bin/app", binary, mode=0o755),
        member("bin/missing", typeflag=b"1", linkname="nowhere/at/all", mode=0o755),
        member("bin/self", typeflag=b"1", linkname="bin/self", mode=0o755),
        member("bin/dir", typeflag=b"1", linkname="bin", mode=0o755),
        member("bin/up", typeflag=b"1", linkname="../../../etc/shadow", mode=0o755),
        member("bin/chain1", typeflag=b"1", linkname="bin/chain2", mode=0o755),
        member("bin/chain2", typeflag=b"1", linkname="bin/chain1", mode=0o755),
        member("bin/later", typeflag=b"1", linkname="bin/app", mode=0o755),
        # a hardlink carrying data bytes (allowed by POSIX; GNU tar skips them)
        header("bin/withdata", 4, b"1", "bin/app", 0o755) + pad(b"data"),
    ])
    for entry in ("/bin/early", "/bin/missing", "/bin/self", "/bin/dir", "/bin/chain1",
                  "/bin/later"):
        path = _write(tmp_path, docker_archive([layer], Config(entrypoint=[entry])))
        run = _lint(path)
        assert_clean_end(run, max_seconds=30)


# -- sizes and headers ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [1 << 20, 1 << 40, (1 << 62) + 7])
@pytest.mark.parametrize("compressed", [False, True])
def test_declared_size_larger_than_the_archive(tmp_path: Path, size: int, compressed: bool
                                               ) -> None:
    layer = member("etc/", typeflag=b"5") + header("etc/big", size) + b"abc" * 100
    blob = gzip_bytes(layer) if compressed else layer
    path = _write(tmp_path, docker_archive([blob]))
    run = _lint(path)
    assert_clean_end(run, max_seconds=20)
    assert run.returncode == 2, run.describe()
    assert "layer 1" in run.stderr, run.describe()
    assert "truncated" in run.stderr or "past the end" in run.stderr, run.describe()


def test_outer_member_larger_than_the_archive(tmp_path: Path) -> None:
    data = docker_archive([tar([member("a", b"a")])])
    lying = header("zzz", 1 << 45) + b"x" * 1000
    path = _write(tmp_path, data[:-1024] + lying)
    run = _lint(path)
    assert_clean_end(run, max_seconds=20)
    assert run.returncode == 2 and "truncated" in run.stderr, run.describe()


def test_negative_and_garbage_numeric_fields(tmp_path: Path) -> None:
    for size_field in (b"\xff" * 12, b"-0000000001\x00", b"99999999999\x00", b"0x10\x00       "):
        layer = header("f", size_field=size_field) + EOF_BLOCKS
        path = _write(tmp_path, docker_archive([layer]))
        run = _lint(path)
        assert_clean_end(run, max_seconds=20)
        assert run.returncode == 2, run.describe()


EOF_BLOCKS = b"\x00" * 1024


def _old_gnu_sparse(name: bytes, real_size: int, chunks: list[tuple[int, int]],
                    extension_blocks: int) -> bytes:
    """An old GNU sparse header ('S'): 4 map entries in the header, isextended set, then
    ``extension_blocks`` blocks of 21 more entries each, then the stored data."""
    stored = sum(n for _, n in chunks)
    entries = b"".join(b"%011o\x00%011o\x00" % (off, n) for off, n in chunks[:4])
    extra = {386: entries.ljust(96, b"\x00"), 482: b"\x01" if extension_blocks else b"\x00",
             483: b"%011o\x00" % real_size}
    out = header(name, stored, b"S", extra=extra)
    for i in range(extension_blocks):
        blk = bytearray(BLOCK_SIZE)
        blk[504] = 1 if i < extension_blocks - 1 else 0
        out += bytes(blk)
    return out + pad(b"s" * stored)


BLOCK_SIZE = 512


def test_sparse_and_long_name_headers(tmp_path: Path) -> None:
    long_path = b"etc/" + b"x" * 5000 + b"/conf"
    layer = tar([
        member("etc/", typeflag=b"5"),
        _old_gnu_sparse(b"etc/sparse-old", 1 << 40, [(0, 10), (1 << 30, 5)], 3),
        # GNU sparse 0.1 / 1.0 through PAX records: the real size is a PAX key.
        pax({b"GNU.sparse.major": b"1", b"GNU.sparse.minor": b"0",
             b"GNU.sparse.name": b"etc/sparse-pax", b"GNU.sparse.realsize": b"1099511627776"}),
        member("etc/GNUSparseFile.0/sparse-pax", b"1\n0\n4\n".ljust(512, b"\x00") + b"data"),
        pax({b"path": long_path, b"size": b"3", b"uid": b"99999999999", b"gid": b"-1",
             b"mtime": b"not-a-number", b"hdrcharset": b"BINARY"}),
        member("short", b"abc"),
        gnu_long(long_path + b"2"), gnu_long(b"/" + b"../" * 3000 + b"target", typeflag=b"K"),
        member("short", typeflag=b"2"),
        pax({b"path": b"x" * 900_000}), member("short", b"q"),
        pax({b"comment": b"y" * 100}, typeflag=b"g"), member("etc/after-global", b"g"),
    ])
    path = _write(tmp_path, docker_archive([layer]))
    run = run_cli(["inspect", "--format", "json", str(path)])
    assert_clean_end(run, max_seconds=30)
    assert run.returncode == 0, run.describe()


@pytest.mark.parametrize("record", [
    pax({b"path": b"x" * (2 << 20)}),  # over the 1 MiB metadata limit
    header("PaxHeaders/x", 100, b"x") + pad(b"99999 path=x\n"),  # record longer than its header
    header("PaxHeaders/x", 20, b"x") + pad(b"abc path=x\n"),  # length not a number
    header("././@LongLink", 1 << 40, b"L") + b"x" * 512,  # long name claims a terabyte
    _old_gnu_sparse(b"s", 10, [(0, 1)], 1)[:1024],  # sparse map cut short
])
def test_bad_metadata_records_are_errors(tmp_path: Path, record: bytes) -> None:
    path = _write(tmp_path, docker_archive([record + member("f", b"f") + EOF_BLOCKS]))
    run = _lint(path)
    assert_clean_end(run, max_seconds=20)
    assert run.returncode == 2, run.describe()
