"""Hostile configuration files inside an image: nsswitch.conf and ld.so.conf with megabyte
lines and include loops, an ld.so.cache claiming billions of entries. Parsers first (linear
time, own errors only), then the same files through the CLI."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest

from goimglint.facts.ldcache import LdCacheError, parse_ld_cache
from goimglint.facts.ldconf import read_ld_so_conf
from goimglint.facts.nsswitch import build_config, parse_nsswitch
from goimglint.image.fs import LayerMember, MergedFS
from goimglint.image.model import ContentRef, EntryKind
from tests.hostile.craft import Config, docker_archive, gzip_bytes, ld_cache_new, member, tar
from tests.hostile.sandbox import assert_clean_end, run_cli

MB = 1 << 20


def _fs(tmp_path: Path, files: dict[str, bytes], links: dict[str, str] | None = None
        ) -> MergedFS:
    members = []
    for n, (path, data) in enumerate(sorted(files.items())):
        host = tmp_path / f"f{n}"
        host.write_bytes(data)
        members.append(LayerMember(path, EntryKind.FILE, 0o644, 0, 0, len(data),
                                   content=ContentRef(str(host), 0, len(data)), magic=data[:4]))
    for path, target in (links or {}).items():
        members.append(LayerMember(path, EntryKind.SYMLINK, 0o777, 0, 0, 0, linkname=target))
    fs = MergedFS()
    fs.apply_layer(0, members)
    return fs


class Clock:
    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __enter__(self) -> Clock:
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self.start
        assert self.seconds < self.limit, f"took {self.seconds:.1f}s (limit {self.limit}s)"


# -- nsswitch.conf ------------------------------------------------------------------------


@pytest.mark.parametrize("line", [
    "hosts: " + "files " * 170_000,  # a megabyte of sources
    "hosts: files " + "[NOTFOUND=return] " * 55_000,  # a megabyte of criteria blocks
    "hosts: files [" + "a=b " * 250_000 + "]",  # one megabyte criterion block
    "hosts: files" + " " * MB + "dns",  # a megabyte of spaces
    "hosts:" + "x" * MB,  # one megabyte source name
    "x" * MB,  # no colon
    "hosts: files [" + "NOTFOUND=return " * 60_000,  # unclosed bracket
])
def test_nsswitch_megabyte_lines_are_linear(line: str) -> None:
    with Clock(2.0):
        parsed = parse_nsswitch(line + "\n")
    hosts = parsed.databases.get("hosts")
    assert parsed.error or (hosts is not None and 0 < len(hosts.sources) <= 256)


def test_nsswitch_many_lines_and_fragments() -> None:
    text = "".join(f"db{i}: files dns\n" for i in range(50_000))
    frags = [(f"/etc/nsswitch.conf.d/{i}.conf", "hosts: dns files\n" * 1000) for i in range(100)]
    with Clock(5.0):
        config = build_config(text, frags)
    assert config.hosts() is not None


# -- ld.so.conf ------------------------------------------------------------------------------


def test_ld_so_conf_megabyte_line(tmp_path: Path) -> None:
    fs = _fs(tmp_path, {"/etc/ld.so.conf": b"/usr/lib/" + b"x" * MB + b"\ninclude " +
                        b"/etc/*" * 100_000 + b"\n"})
    with Clock(5.0):
        conf = read_ld_so_conf(fs)
    assert conf.present and len(conf.dirs) == 1


def test_ld_so_conf_include_loops(tmp_path: Path) -> None:
    fs = _fs(tmp_path, {
        "/etc/ld.so.conf": b"include /etc/ld.so.conf\ninclude ld.so.conf.d/*.conf\n/lib/a\n",
        "/etc/ld.so.conf.d/a.conf": b"include /etc/ld.so.conf.d/b.conf\n/lib/b\n",
        "/etc/ld.so.conf.d/b.conf": b"include a.conf\ninclude /etc/loop\n/lib/c\n",
    }, links={"/etc/loop": "/etc/loop2", "/etc/loop2": "/etc/loop"})
    with Clock(2.0):
        conf = read_ld_so_conf(fs)
    # depth first, as ldconfig: b.conf (via a.conf) before a.conf's own line
    assert conf.dirs == ["/lib/c", "/lib/b", "/lib/a"]
    assert any("loop" in p for p in conf.problems), conf.problems


def test_ld_so_conf_include_fan_out_is_bounded(tmp_path: Path) -> None:
    """Every include line matches 1,000 files: ldconfig would read 1,000 x 1,000 files (and
    more through nesting). The reader must stop after its file limit, in time and memory
    proportional to the input, with a bounded list of problems."""
    files = {"/etc/ld.so.conf": b"include /etc/d/*.conf\n" * 2_000}
    for i in range(1000):
        files[f"/etc/d/{i:04}.conf"] = b"include /etc/d/*.conf\n/lib\n"
    fs = _fs(tmp_path, files)
    with Clock(5.0):
        conf = read_ld_so_conf(fs)
    assert conf.dirs == ["/lib"]
    assert 0 < len(conf.problems) <= 1000, len(conf.problems)


# -- ld.so.cache -----------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    ld_cache_new(0xFFFFFFFF),
    ld_cache_new(3_000_000_000, b"\x00" * 240),
    ld_cache_new(10, b"\x01" * 240),  # string offsets far outside
    b"ld.so-1.7.0\x00" + struct.pack("<I", 0xFFFFFFFF) + b"\x00" * 64,
    b"ld.so-1.7.0\x00" + struct.pack("<I", 2) + struct.pack("<iII", 3, 0xFFFFFF00, 5) * 2,
    ld_cache_new(1, struct.pack("<iIIIQ", 0x303, 0, 0, 0, (1 << 62) | 0xFFFFFFFF), b"x"),
    ld_cache_new(1)[:40],
], ids=["new-4G", "new-3G", "strings-out", "old-4G", "old-strings-out", "hwcaps-index",
        "truncated"])
def test_ld_cache_claiming_billions(data: bytes) -> None:
    with Clock(1.0):
        try:
            parse_ld_cache(data)
        except LdCacheError:
            pass


def test_ld_cache_extension_loops() -> None:
    """The extension directory claims 64 sections, each pointing back at itself."""
    strings = b"libc.so.6\x00/lib/libc.so.6\x00"
    entry = struct.pack("<iIIIQ", 0x303, 48 + 24, 48 + 24 + 10, 0, 0)
    body = entry + strings
    ext_off = 48 + len(body)
    ext_off += -ext_off % 4
    head = bytearray(ld_cache_new(1, body))
    head[32:36] = struct.pack("<I", ext_off)
    ext = struct.pack("<II", 0xEAA42174, 64) + struct.pack("<IIII", 1, 0, ext_off, 0xFFFF) * 64
    data = bytes(head) + b"\x00" * (ext_off - len(head)) + ext
    with Clock(1.0):
        cache = parse_ld_cache(data)
    assert cache.entries and cache.entries[0].soname == "libc.so.6"


# -- through the CLI -------------------------------------------------------------------------


def test_hostile_config_files_in_an_image(tmp_path: Path, go_hello_cgo: Path) -> None:
    """All of the above in one image whose entrypoint is a dynamic (cgo) Go binary, so the
    loader model, the resolver model and the size rules all read them."""
    conf_d = [member(f"etc/ld.so.conf.d/{i:03}.conf", b"include /etc/ld.so.conf.d/*.conf\n"
                     b"/usr/lib/x\n") for i in range(300)]
    layer = tar([
        member("etc/", typeflag=b"5"),
        member("etc/nsswitch.conf", b"hosts: " + b"files " * 170_000 + b"\npasswd: [\n"),
        member("etc/ld.so.conf", b"include /etc/ld.so.conf\n" + b"include ld.so.conf.d/*\n"
               * 1000 + b"/" + b"y" * MB + b"\n"),
        member("etc/ld.so.conf.d/", typeflag=b"5"), *conf_d,
        member("etc/ld.so.cache", ld_cache_new(0xFFFFFFFF, b"\x00" * 4096)),
        member("etc/resolv.conf", b"options " + b"ndots:99999999999999999999 " * 40_000 + b"\n"),
        member("etc/hosts", b"127.0.0.1 " + b"h" * MB + b"\n"),
        member("etc/passwd", b"root:x:0:0:" + b"r" * MB + b"\n" + b":::::\n" * 10_000),
        member("etc/group", b"\xff\xfe:x:\n" * 10_000),
        member("app", go_hello_cgo.read_bytes(), mode=0o755),
    ])
    path = tmp_path / "image.tar"
    path.write_bytes(docker_archive([gzip_bytes(layer)], Config(entrypoint=["/app"],
                                                                user="root:root")))
    for fmt in ("json", "sarif", "text"):
        run = run_cli(["lint", "--format", fmt, str(path)])
        assert_clean_end(run, max_seconds=30)
        assert run.returncode in (0, 1), run.describe()
    run = run_cli(["inspect", "--format", "json", str(path)])
    assert_clean_end(run, max_seconds=30)


def test_config_file_past_the_read_limit_gives_a_note(tmp_path: Path) -> None:
    """A hosts line after 2 MiB of comments is past what goimglint reads: a note says the DNS
    facts are uncertain instead of reporting "no hosts line" as a fact."""
    layer = tar([member("etc/", typeflag=b"5"),
                 member("etc/nsswitch.conf", b"#" * (2 * MB) + b"\nhosts: files dns\n")])
    path = tmp_path / "image.tar"
    path.write_bytes(docker_archive([gzip_bytes(layer)]))
    run = run_cli(["lint", "--format", "json", str(path)])
    assert_clean_end(run, max_seconds=30)
    notes = json.loads(run.stdout)["targets"][0]["notes"]
    assert any(n.startswith("/etc/nsswitch.conf:") and "uncertain" in n for n in notes), notes
