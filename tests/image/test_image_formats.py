"""Every layout real tools write, every layer compression, with and without a ``./`` prefix on
archive entries, read into the same merged filesystem and config.

The expected tree comes from the builder's own merge (fixtures.builder.merge_recipe), which
tests/image/test_image_builder.py checks against umoci's unpack."""

from __future__ import annotations

import gzip
import shutil
import tarfile
from pathlib import Path

import pytest

from fixtures.builder import (
    ARCHIVE_FORMATS,
    Compression,
    File,
    Layer,
    OciRef,
    Platform,
    Recipe,
    build_image,
    oci_members,
    write_dir,
    write_image,
)
from fixtures.recipes import hello_recipe, rich_recipe
from goimglint.errors import UsageError
from goimglint.image.archive import open_targets
from goimglint.image.model import EntryKind
from goimglint.image.model import Platform as GilPlatform
from tests.conftest import IS_ROOT
from tests.image.imgutil import (
    expected_snapshot,
    fs_snapshot,
    loaded,
    loaded_one,
    without_content,
)

LAYOUTS = [*ARCHIVE_FORMATS, "oci-dir"]
COMPRESSIONS: list[Compression] = ["none", "gzip", "zstd"]
# Files the reader promises to keep from compressed layers (docs/ARCHITECTURE.md):
# ELF files, #! scripts, everything under /etc.
MUST_KEEP = ["/app/server", "/usr/local/bin/hello", "/usr/local/bin/hello-again",
             "/usr/lib/x86_64-linux-gnu/libbar.so.2", "/usr/bin/tool.sh", "/etc/passwd",
             "/etc/app.conf", "/etc/nsswitch.conf"]


@pytest.fixture(scope="module")
def rich(go_hello_static: Path, go_hello_cgo: Path) -> Recipe:
    return rich_recipe(go_hello_static, go_hello_cgo)


@pytest.fixture(scope="module")
def rich_images(rich: Recipe, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The rich recipe written once in every layout x compression x prefix."""
    base = tmp_path_factory.mktemp("rich")
    out: dict[str, Path] = {}
    for fmt in LAYOUTS:
        for comp in COMPRESSIONS:
            for prefix in ("", "./"):
                if prefix and fmt == "oci-dir":
                    continue
                key = f"{fmt}-{comp}{'-dot' if prefix else ''}"
                suffix = "" if fmt == "oci-dir" else ".tar"
                out[key] = write_image(rich, base / (key + suffix), fmt, compression=comp,
                                       prefix=prefix)
    return out


def _cases() -> list[str]:
    cases = []
    for fmt in LAYOUTS:
        for comp in COMPRESSIONS:
            cases.append(f"{fmt}-{comp}")
            if fmt != "oci-dir":
                cases.append(f"{fmt}-{comp}-dot")
    return cases


@pytest.mark.parametrize("case", _cases())
def test_layout_gives_the_expected_tree(rich_images: dict[str, Path], rich: Recipe,
                                        case: str) -> None:
    expected = expected_snapshot(rich)
    with loaded_one(rich_images[case]) as image:
        got = fs_snapshot(image.fs)
        compressed = not case.split("-")[-1 if not case.endswith("-dot") else -2] == "none"
        if compressed:
            assert without_content(got) == without_content(expected)
            for path in MUST_KEEP:
                assert got[path][-1] == expected[path][-1], f"{path} not kept or wrong bytes"
            for path, value in got.items():  # whatever was kept has the right bytes
                if value[-1] is not None:
                    assert value[-1] == expected[path][-1], path
        else:
            assert got == expected


@pytest.mark.parametrize("case", ["docker-legacy-none", "docker-skopeo-gzip-dot",
                                  "docker-blobs-zstd", "oci-archive-gzip", "oci-dir-zstd"])
def test_layout_gives_the_config(rich_images: dict[str, Path], rich: Recipe, case: str) -> None:
    with loaded_one(rich_images[case]) as image:
        c = image.config
        assert c.has_config
        assert c.platform == GilPlatform("linux", "amd64", "")
        assert c.env == list(rich.env)
        assert c.user == "1000:1000"
        assert c.entrypoint == ["/app/server"]
        assert c.cmd == ["--listen", ":8080"]
        assert c.working_dir == "/app"
        assert c.labels == rich.labels
        assert [h.created_by for h in c.history] == [s.created_by for s in rich.steps]
        assert [h.layer_index for h in c.history] == [0, None, 1, None, 2, None]
        assert [h.empty_layer for h in c.history] == [False, True, False, True, False, True]
        assert [layer.created_by for layer in image.layers] == [
            layer.created_by for layer in rich.layers]
        assert [layer.files for layer in image.layers] == [len(x.ops) for x in rich.layers]
        compression = case.split("-")[2]
        assert [layer.compression for layer in image.layers] == [compression] * 3


def test_layer_digests_and_sizes(rich: Recipe, rich_images: dict[str, Path]) -> None:
    built = build_image(rich, "gzip")
    with loaded_one(rich_images["oci-archive-gzip"]) as image:
        assert [x.digest for x in image.layers] == [x.digest for x in built.layers]
        assert [x.diff_id for x in image.layers] == [x.diff_id for x in built.layers]
        assert [x.size for x in image.layers] == [len(x.blob) for x in built.layers]


def test_mixed_compressions_in_one_image(tmp_path: Path) -> None:
    """Compression is sniffed per layer from magic bytes, not from media types or names."""
    recipe = Recipe([Layer([File("/a", b"#!/bin/sh\na\n", 0o755)], compression="zstd"),
                     Layer([File("/b", b"#!/bin/sh\nb\n", 0o755)], compression="none"),
                     Layer([File("/c", b"#!/bin/sh\nc\n", 0o755)], compression="gzip")])
    for fmt in ("docker-legacy", "oci-archive"):
        with loaded_one(write_image(recipe, tmp_path / f"{fmt}.tar", fmt)) as image:
            assert [x.compression for x in image.layers] == ["zstd", "none", "gzip"]
            assert [image.fs.read(p) for p in ("/a", "/b", "/c")] == [
                b"#!/bin/sh\na\n", b"#!/bin/sh\nb\n", b"#!/bin/sh\nc\n"]


def test_gzipped_docker_save(rich_images: dict[str, Path], rich: Recipe, tmp_path: Path) -> None:
    """`docker save app | gzip > app.tar.gz` is read like the plain archive."""
    src = rich_images["docker-legacy-none"]
    gz = tmp_path / "app.tar.gz"
    with open(src, "rb") as fin, gzip.open(gz, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    with loaded_one(gz) as image:
        assert fs_snapshot(image.fs) == expected_snapshot(rich)


def test_skopeo_style_manifest_naming_the_symlinks(rich: Recipe, tmp_path: Path) -> None:
    """manifest.json names <id>/layer.tar entries that are symlinks to <hex>.tar."""
    out = write_image(rich, tmp_path / "a.tar", "docker-skopeo", compression="none",
                      manifest_names_symlink=True)
    with loaded_one(out) as image:
        assert fs_snapshot(image.fs) == expected_snapshot(rich)


def test_docker_save_dedup_symlinked_layers(tmp_path: Path) -> None:
    """docker save writes a layer that two images share once; the second image's
    <id>/layer.tar is a symlink to ../<first id>/layer.tar."""
    base = Layer([File("/etc/shared", b"shared\n")])
    a = Recipe([base, Layer([File("/etc/a", b"a\n")])], name="t/a:1")
    b = Recipe([base, Layer([File("/etc/a", b"a\n")])], name="t/b:1", user="7")
    out = write_image([a, b], tmp_path / "two.tar", "docker-legacy")
    with tarfile.open(out) as tf:
        assert any(m.issym() and m.name.endswith("/layer.tar") for m in tf.getmembers())
    with loaded(out) as images:
        assert [i.reference for i in images] == ["t/a:1", "t/b:1"]
        assert images[1].config.user == "7"
        for image in images:
            assert image.fs.read("/etc/shared") == b"shared\n"
            assert image.fs.read("/etc/a") == b"a\n"


def test_rootfs_directory(rich: Recipe, tmp_path: Path) -> None:
    if not IS_ROOT:
        pytest.skip("ownership and device nodes in a rootfs directory need root")
    root = write_image(rich, tmp_path / "rootfs", "rootfs")
    with loaded_one(root) as image:
        assert not image.config.has_config
        assert fs_snapshot(image.fs, with_layer=False) == expected_snapshot(rich,
                                                                            with_layer=False)


def test_single_elf_file(go_hello_static: Path, tmp_path: Path) -> None:
    binary = tmp_path / "hello"
    shutil.copy(go_hello_static, binary)
    with loaded_one(binary) as image:
        assert not image.config.has_config
        entry = image.fs.entry("/hello")
        assert entry is not None and entry.kind is EntryKind.FILE
        assert image.fs.read("/hello") == go_hello_static.read_bytes()


# -- several images / platforms -------------------------------------------------------------


@pytest.fixture(scope="module")
def two_images(go_hello_static: Path, go_hello_cgo: Path) -> list[Recipe]:
    return [hello_recipe(go_hello_static, name="example.com/team/static:1.0"),
            hello_recipe(go_hello_cgo, name="example.com/team/cgo:2.0", path="/app")]


@pytest.mark.parametrize("fmt", ["docker-legacy", "docker-skopeo", "docker-blobs"])
def test_multi_image_docker_archive(two_images: list[Recipe], tmp_path: Path, fmt: str) -> None:
    out = write_image(two_images, tmp_path / "multi.tar", fmt)
    with loaded(out) as images:
        assert [i.reference for i in images] == ["example.com/team/static:1.0",
                                                 "example.com/team/cgo:2.0"]
        assert images[0].fs.exists("/hello") and not images[0].fs.exists("/app")
        assert images[1].fs.exists("/app") and not images[1].fs.exists("/hello")
    with loaded(out, image="example.com/team/cgo:2.0") as images:
        assert [i.reference for i in images] == ["example.com/team/cgo:2.0"]
        assert images[0].config.entrypoint == ["/app"]


def test_unknown_image_name_is_a_usage_error(two_images: list[Recipe], tmp_path: Path) -> None:
    out = write_image(two_images, tmp_path / "multi.tar", "docker-legacy")
    with pytest.raises(UsageError, match="no-such"):
        open_targets(str(out), str(tmp_path), image="example.com/no-such:1")


def test_oci_layout_with_two_tags(two_images: list[Recipe], tmp_path: Path) -> None:
    out = write_image(two_images, tmp_path / "layout", "oci-dir")
    with loaded(out) as images:
        assert len(images) == 2
        assert sorted(i.config.entrypoint[0] for i in images if i.config.entrypoint) == [
            "/app", "/hello"]


@pytest.fixture(scope="module")
def multi_platform(go_hello_static: Path) -> list[Recipe]:
    return [
        Recipe([Layer([File("/arch", arch.encode()), File("/etc/id", arch.encode())])],
               name="example.com/multi:3", platform=Platform("linux", arch, variant),
               entrypoint=("/arch",))
        for arch, variant in (("amd64", ""), ("arm64", "v8"), ("arm", "v7"))
    ]


@pytest.mark.parametrize("fmt", ["oci-archive", "oci-dir"])
def test_multi_platform_index(multi_platform: list[Recipe], tmp_path: Path, fmt: str) -> None:
    out = write_image(multi_platform, tmp_path / fmt, fmt, multi_platform=True)
    with loaded(out) as images:
        got = {str(i.config.platform): i.fs.read("/etc/id") for i in images}
        assert got == {"linux/amd64": b"amd64", "linux/arm64/v8": b"arm64",
                       "linux/arm/v7": b"arm"}
    with loaded(out, platform=GilPlatform.parse("linux/arm64")) as images:
        assert [str(i.config.platform) for i in images] == ["linux/arm64/v8"]
    with loaded(out, platform=GilPlatform.parse("linux/arm/v7")) as images:
        assert [i.fs.read("/etc/id") for i in images] == [b"arm"]
    with pytest.raises(UsageError):
        open_targets(str(out), str(tmp_path), platform=GilPlatform.parse("linux/s390x"))


def test_nested_index_with_one_manifest(tmp_path: Path) -> None:
    recipe = Recipe([Layer([File("/etc/x", b"x")])], name="t/nested:1")
    out = write_dir(oci_members([OciRef("1", [build_image(recipe)], nested=True)]),
                    tmp_path / "layout")
    with loaded_one(out) as image:
        assert image.fs.read("/etc/x") == b"x"


@pytest.mark.parametrize("fmt", ["oci-dir", "oci-archive", "docker-blobs"])
def test_kept_bytes_of_every_layer_survive(tmp_path: Path, fmt: str) -> None:
    """Each compressed layer's kept bytes go to their own spool file: in an OCI layout every
    blob starts at offset 0 of its own file, so a spool named after the offset (or a reused
    object id) let a later layer overwrite an earlier layer's /etc files."""
    recipe = Recipe([Layer([File(f"/etc/layer{i}", f"layer {i}\n".encode() * 50)])
                     for i in range(6)])
    path = write_image(recipe, tmp_path / fmt, fmt, compression="gzip")
    for _ in range(10):
        with loaded_one(path) as image:
            assert [image.fs.read(f"/etc/layer{i}") for i in range(6)] == [
                f"layer {i}\n".encode() * 50 for i in range(6)]
