"""Fuzz the image stage: the tar header parser, the archive and layer readers end to end
(docker-archive and OCI, plain and gzip), and the whiteout merge of MergedFS.

Only the readers' own errors may come out (TarFormatError from the tar parser, InputError /
UsageError from the archive reader; PathLoopError from path resolution); the merged tree must
stay consistent whatever the layers say."""

from __future__ import annotations

import json
import tempfile

from hypothesis import strategies as st

from goimglint.errors import InputError, PathLoopError, UsageError
from goimglint.image.archive import open_targets
from goimglint.image.fs import LayerMember, MergedFS, normalize_member_name
from goimglint.image.model import EntryKind
from goimglint.image.tarstream import ByteStream, TarFormatError, iter_tar
from tests.fuzz.harness import fuzz
from tests.hostile.craft import (
    Config,
    docker_archive,
    gnu_long,
    gzip_bytes,
    header,
    member,
    oci_archive,
    pad,
    pax,
    sha256,
)

COMPONENTS = ["a", "b", "..", ".", "", ".wh.a", ".wh..wh..opq", ".wh.", "\x00x", "\udcff",
              "etc", "bin", "lib", ".wh.etc", "ld.so.conf"]
path_text = st.lists(st.sampled_from(COMPONENTS), min_size=0, max_size=5).map("/".join)
lead = st.sampled_from(["", "/", "./", "../"])
names = st.builds(lambda a, b: a + b, lead, path_text)
TYPES = [b"0", b"\x00", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"x", b"g", b"L", b"K", b"S",
         b"V", b"Z"]


@st.composite
def raw_members(draw: st.DrawFn) -> bytes:
    name = draw(names).encode("utf-8", "surrogateescape")
    typeflag = draw(st.sampled_from(TYPES))
    data = draw(st.binary(max_size=600))
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return member(name, data, typeflag=typeflag,
                      linkname=draw(names).encode("utf-8", "surrogateescape"))
    if kind == 1:  # a lying size field
        size = draw(st.one_of(st.integers(0, 5000), st.integers(0, 1 << 70)))
        return header(name, size, typeflag) + pad(data)
    if kind == 2:
        keys = st.sampled_from([b"path", b"linkpath", b"size", b"uid", b"gid", b"mtime",
                                b"GNU.sparse.size", b"x"])
        recs = draw(st.dictionaries(keys, names.map(lambda t: t.encode("utf-8", "replace")),
                                    max_size=3))
        return pax(recs, typeflag=draw(st.sampled_from([b"x", b"g"]))) + member(name, data)
    if kind == 3:
        return gnu_long(name * draw(st.integers(1, 60)), draw(st.sampled_from([b"L", b"K"])))
    if kind == 4:  # raw garbage block (bad checksum most of the time)
        return pad(draw(st.binary(min_size=1, max_size=1024)))
    return header(name, len(data), typeflag, checksum=draw(st.booleans())) + pad(data)


@st.composite
def tar_streams(draw: st.DrawFn) -> bytes:
    data = b"".join(draw(st.lists(raw_members(), max_size=8)))
    ending = draw(st.sampled_from([b"\x00" * 1024, b"\x00" * 512, b"", b"\x00" * 100]))
    data += ending
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    flips = draw(st.lists(st.tuples(st.integers(0, max(0, len(data) - 1)), st.integers(0, 255)),
                          max_size=3))
    buf = bytearray(data)
    for pos, value in flips:
        if pos < len(buf):
            buf[pos] = value
    return bytes(buf)


@fuzz("tar-headers", 400, tar_streams())
def test_fuzz_tar_parser(data: bytes) -> None:
    chunks = [data[i:i + 700] for i in range(0, len(data), 700)]
    stream = ByteStream(iter(chunks))
    try:
        for m in iter_tar(stream):
            if m.size and m.type == ord("0"):
                stream.read(min(m.size, 3))
            normalize_member_name(m.name)
    except TarFormatError:
        pass


@st.composite
def archives(draw: st.DrawFn) -> bytes:
    layers = draw(st.lists(tar_streams(), min_size=1, max_size=3))
    layers = [gzip_bytes(layer) if draw(st.booleans()) else layer for layer in layers]
    entry = draw(st.one_of(st.none(), st.lists(names, min_size=1, max_size=2)))
    if draw(st.booleans()):
        return docker_archive(layers, Config(entrypoint=entry))
    config = json.dumps(Config(entrypoint=entry).doc(layers)).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "config": {"digest": sha256(config), "size": len(config)},
        "layers": [{"digest": sha256(b), "size": len(b)} for b in layers]}).encode()
    blobs = {sha256(b): b for b in [config, manifest, *layers]}
    index = {"schemaVersion": 2, "manifests": [{"digest": sha256(manifest), "size": 1}]}
    return oci_archive(index, blobs)


@fuzz("archive+layers", 120, archives())
def test_fuzz_archive_and_layer_readers(data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="gil-fuzz-") as tmp:
        path = f"{tmp}/image.tar"
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            for target in open_targets(path, tmp):
                image = target.load(tmp)
                for entry in image.fs:
                    try:
                        image.fs.lookup(entry.path)
                    except PathLoopError:
                        pass
        except (InputError, UsageError):
            pass


# -- whiteout merge -------------------------------------------------------------------------

KINDS = [EntryKind.FILE, EntryKind.DIR, EntryKind.SYMLINK, EntryKind.FIFO]


@st.composite
def layer_members(draw: st.DrawFn) -> list[LayerMember]:
    out = []
    for _ in range(draw(st.integers(0, 10))):
        path = normalize_member_name(draw(path_text))
        if path is None:
            continue
        kind = draw(st.sampled_from(KINDS))
        link = draw(names) if kind is EntryKind.SYMLINK else None
        hard = normalize_member_name(draw(path_text)) if kind is EntryKind.FILE and \
            draw(st.booleans()) else None
        out.append(LayerMember(path, kind, 0o755, 0, 0, draw(st.integers(0, 100)),
                               linkname=link, hardlink=hard))
    return out


def _check_tree(fs: MergedFS) -> None:
    entries = {e.path: e for e in fs}
    assert "/" in entries
    for path in entries:
        if path == "/":
            continue
        parent, name = path.rsplit("/", 1)
        parent = parent or "/"
        assert parent in entries and entries[parent].kind is EntryKind.DIR, path
        assert name in fs.listdir(parent) or entries[parent].kind is not EntryKind.DIR


@fuzz("whiteout-merge", 600, st.lists(layer_members(), min_size=1, max_size=4),
      st.lists(names, max_size=6))
def test_fuzz_whiteout_merge(layers: list[list[LayerMember]], probes: list[str]) -> None:
    fs = MergedFS()
    for index, members in enumerate(layers):
        fs.apply_layer(index, members)
        _check_tree(fs)
    for probe in probes:
        for follow in (True, False):
            try:
                resolved = fs.resolve(probe, follow_last=follow, cwd="/a")
            except PathLoopError:
                continue
            assert resolved is None or fs.entry(resolved) is not None
        fs.exists(probe)
        try:
            fs.listdir(probe)
        except PathLoopError:
            pass
    fs.efficiency.top_paths(5)
