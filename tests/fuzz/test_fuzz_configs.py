"""Fuzz the configuration parsers: ld.so.cache (and lookups in what it accepts), ld.so.conf
with includes over a merged filesystem, nsswitch.conf, and the Dockerfile parser with the
mapping of image history onto its instructions."""

from __future__ import annotations

import os
import struct
import tempfile
from functools import lru_cache

from hypothesis import strategies as st

from goimglint.dockerfile import DockerfileError, locate, map_history, parse_dockerfile
from goimglint.facts.ldcache import LdCacheError, libcmp, parse_ld_cache
from goimglint.facts.ldconf import read_ld_so_conf
from goimglint.facts.nsswitch import MAX_SOURCES, build_config, parse_nsswitch
from goimglint.image.fs import LayerMember, MergedFS
from goimglint.image.model import ContentRef, EntryKind
from tests.fuzz.harness import fuzz

# -- ld.so.cache ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def host_cache() -> bytes:
    try:
        with open("/etc/ld.so.cache", "rb") as fh:
            return fh.read(1 << 20)
    except OSError:
        return b"glibc-ld.so.cache1.1" + b"\x00" * 28


@st.composite
def caches(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 2))
    if kind == 0:  # the host's real cache, mutated
        buf = bytearray(host_cache())
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.one_of(st.integers(0, 80), st.integers(0, len(buf) - 1)))
            buf[at] = draw(st.integers(0, 255))
        return bytes(buf[: draw(st.integers(0, len(buf)))] if draw(st.booleans()) else buf)
    nlibs = draw(st.one_of(st.integers(0, 6), st.integers(0, (1 << 32) - 1)))
    if kind == 1:
        head = b"glibc-ld.so.cache1.1" + struct.pack("<II", nlibs, draw(st.integers(0, 999)))
        head += bytes([draw(st.sampled_from([0, 2, 3, 7]))]) + b"\x00" * 3
        head += struct.pack("<I", draw(st.sampled_from([0, 48, 96, 120, 4, 0xFFFFFFF0])))
        head += b"\x00" * 12
        entry = st.builds(lambda f, k, v, o, h: struct.pack("<iIIIQ", f, k, v, o, h),
                          st.sampled_from([0x303, 1, 3, 0x903, -1]), st.integers(0, 300),
                          st.integers(0, 300), st.integers(0, 9),
                          st.sampled_from([0, 1 << 62, (1 << 62) | 1, 0xFFFFFFFF, (1 << 64) - 1]))
        body = b"".join(draw(st.lists(entry, max_size=6)))
    else:
        head = b"ld.so-1.7.0\x00" + struct.pack("<I", nlibs)
        entry = st.builds(lambda f, k, v: struct.pack("<iII", f, k, v),
                          st.sampled_from([1, 3, 0x303]), st.integers(0, 200),
                          st.integers(0, 200))
        body = b"".join(draw(st.lists(entry, max_size=6)))
        if draw(st.booleans()):
            body += b"\x00" * draw(st.integers(0, 8)) + b"glibc-ld.so.cache1.1"
    strings = b"\x00".join(draw(st.lists(st.sampled_from(
        [b"libc.so.6", b"/lib/libc.so.6", b"libm.so.6", b"x86-64-v3", b"\xff", b""]),
        max_size=8)))
    ext = struct.pack("<II", 0xEAA42174, draw(st.integers(0, 70)))
    ext += struct.pack("<IIII", draw(st.integers(0, 2)), 0, draw(st.integers(0, 300)),
                       draw(st.integers(0, 64)))
    return head + body + strings + (ext if draw(st.booleans()) else b"")


@fuzz("ld.so.cache", 800, caches(), st.lists(st.sampled_from(
    ["libc.so.6", "libm.so.6", "libc.so.10", "", "lib", "libz.so.1"]), max_size=3))
def test_fuzz_ld_cache(data: bytes, names: list[str]) -> None:
    try:
        cache = parse_ld_cache(data)
    except LdCacheError:
        return
    for name in names:
        cache.lookup(name, (0x303, 3, 1), ("x86-64-v3", "x86-64-v2"))
        for e in cache.entries[:20]:
            libcmp(name, e.soname)
            _ = e.arch


# -- ld.so.conf -------------------------------------------------------------------------------

conf_lines = st.sampled_from([
    "include /etc/ld.so.conf", "include ld.so.conf.d/*.conf", "include /etc/ld.so.conf.d/*",
    "include /etc/[", "include /etc/*/*/*", "include", "hwcap 0 nosegneg", "/usr/lib",
    "/lib/x86_64-linux-gnu", "/opt/lib=libc6", "# comment", "  /usr/local/lib  # x",
    "include /etc/loop", "include ../../../etc/ld.so.conf", "/usr/lib/////", "=",
])
conf_files = st.lists(conf_lines, max_size=6).map(lambda ls: ("\n".join(ls) + "\n").encode())
conf_paths = st.sampled_from(["/etc/ld.so.conf", "/etc/ld.so.conf.d/a.conf",
                              "/etc/ld.so.conf.d/b.conf", "/etc/ld.so.conf.d/.hidden.conf",
                              "/etc/other/x.conf"])


@fuzz("ld.so.conf", 300, st.dictionaries(conf_paths, conf_files, max_size=5),
      st.dictionaries(st.sampled_from(["/etc/loop", "/etc/ld.so.conf.d", "/etc/ld.so.conf",
                                       "/etc/other"]),
                      st.sampled_from(["/etc/loop", "ld.so.conf.d", "/etc/other/x.conf",
                                       "../etc/ld.so.conf", "/"]), max_size=2))
def test_fuzz_ld_so_conf(files: dict[str, bytes], links: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="gil-fuzz-") as tmp:
        members = []
        for n, (path, data) in enumerate(sorted(files.items())):
            host = os.path.join(tmp, str(n))
            with open(host, "wb") as fh:
                fh.write(data)
            members.append(LayerMember(path, EntryKind.FILE, 0o644, 0, 0, len(data),
                                       content=ContentRef(host, 0, len(data)), magic=data[:4]))
        members += [LayerMember(p, EntryKind.SYMLINK, 0o777, 0, 0, 0, linkname=t)
                    for p, t in links.items()]
        fs = MergedFS()
        fs.apply_layer(0, members)
        conf = read_ld_so_conf(fs)
        assert len(conf.dirs) == len(set(conf.dirs))


# -- nsswitch.conf ----------------------------------------------------------------------------

nss_text = st.lists(st.one_of(
    st.sampled_from(["hosts: files dns", "hosts: files [NOTFOUND=return] dns",
                     "hosts: files mdns4_minimal [!UNAVAIL=return] dns", "hosts:", "hosts",
                     "passwd: files", "hosts: dns [", "hosts: dns [x]", "# c", "hosts: a # b",
                     "  hosts  :  files\tdns  ", "hosts: [SUCCESS=continue]"]),
    st.text(alphabet=" \t\r[]!=:#abcfilesdnsNOTFOUNDreturn\x00\u00e9", max_size=60)),
    max_size=8).map("\n".join)


@fuzz("nsswitch", 1500, nss_text, st.lists(st.tuples(
    st.sampled_from(["/etc/nsswitch.conf.d/a.conf", "/etc/nsswitch.conf.d/b.conf"]), nss_text),
    max_size=2))
def test_fuzz_nsswitch(text: str, fragments: list[tuple[str, str]]) -> None:
    parsed = parse_nsswitch(text)
    for line in parsed.databases.values():
        assert len(line.sources) <= MAX_SOURCES
        for src in line.sources:
            src.standard_criteria()
            src.text()
    config = build_config(text, fragments)
    config.hosts()
    config.main_hosts()


# -- Dockerfile mapping -----------------------------------------------------------------------

df_lines = st.sampled_from([
    "FROM golang:1.22 AS build", "FROM scratch", "FROM build", "FROM ${BASE:-alpine}",
    "ARG BASE=debian", "ARG X", "ENV A=1 B=\"two words\"", "ENV A 1", "WORKDIR /src",
    "WORKDIR $A/x", "COPY . .", "COPY --from=build /out/app /app", "COPY [\"a\", \"b\"]",
    "RUN go build -o /out/app ./cmd/app", "RUN <<EOF\necho hi\nEOF", "RUN <<-'X'\n\tls\nX",
    "RUN a \\\n  && b", "RUN a \\", "CMD [\"/app\"]", "ENTRYPOINT /app --x", "USER 1000:1000",
    "LABEL a=b", "# escape=`", "# syntax=docker/dockerfile:1", "RUN a `\n b", "ONBUILD RUN x",
    "HEALTHCHECK NONE", "SHELL [\"/bin/sh\", \"-c\"]", "EXPOSE 80", "VOLUME [\"/d\"]",
    "RUN [\"unterminated", "ENV ${A}=${B:+x}", "ADD http://x /y", "COPY <<EOF /f\nx\nEOF",
])
dockerfiles = st.lists(st.one_of(df_lines, st.text(max_size=30)), max_size=12).map(
    "\n".join)
created_by = st.lists(st.one_of(st.sampled_from([
    "/bin/sh -c #(nop)  CMD [\"/app\"]", "RUN /bin/sh -c go build -o /out/app ./cmd/app # "
    "buildkit", "COPY /out/app /app # buildkit", "WORKDIR /src", "ENV A=1 B=two words",
    "/bin/sh -c #(nop) ADD file:abc in / ", "USER 1000:1000", "|1 BASE=x /bin/sh -c ls", "",
    "RUN |2 A=1 B=2 /bin/sh -c echo", "ENTRYPOINT [\"/app\"]"]), st.text(max_size=30)),
    max_size=10)


@fuzz("dockerfile", 500, dockerfiles, created_by, st.sampled_from(["", "/app", "/out/app"]))
def test_fuzz_dockerfile_mapping(text: str, history: list[str], path: str) -> None:
    try:
        dockerfile = parse_dockerfile(text.encode("utf-8", "surrogatepass"))
    except DockerfileError:
        return
    hmap = map_history(dockerfile, history)
    for index in [None, *range(len(history) + 1)]:
        locate(hmap, index, path)
