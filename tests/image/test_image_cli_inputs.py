"""The CLI on real archives: the Quick-start example, standard input, several images in one
archive, multi-platform indexes, and broken inputs (exit 2, one line naming the problem)."""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures import builder
from fixtures.builder import Compression, File, Layer, Member, Platform, Recipe, write_image
from fixtures.make_example import EXAMPLE_TAR, MAX_BYTES, build
from fixtures.recipes import hello_recipe, rich_recipe
from tests.conftest import CliResult, run_goimglint
from tests.image.imgutil import IDENTITY_KEYS, strip_keys

GLIBC_LOADER = "/lib64/ld-linux-x86-64.so.2"


def assert_input_error(res: CliResult, *any_of: str) -> str:
    """Exit 2, exactly one stderr line, no traceback, naming the problem (one of
    ``any_of``, case-insensitive). Returns the line."""
    assert res.returncode == 2, (res.returncode, res.stdout[-500:], res.stderr)
    assert "Traceback" not in res.stderr
    assert len(res.stderr_lines) == 1, res.stderr
    line = res.stderr_lines[0]
    assert "internal error" not in line, line
    if any_of:
        # Words must come from the message, not from a path in it (pytest's tmp dirs are
        # named after the test, e.g. ".../test_truncated_archive0/cut.tar").
        words = re.sub(r"\S*/\S*", " ", line).lower()
        assert any(word.lower() in words for word in any_of), (any_of, line)
    return line


# -- the Quick-start example ----------------------------------------------------------------


def test_example_is_small_and_committed() -> None:
    assert EXAMPLE_TAR.is_file(), "run python -m fixtures.make_example"
    assert EXAMPLE_TAR.stat().st_size < MAX_BYTES


def test_example_builds_deterministically(tmp_path: Path) -> None:
    a = build(tmp_path / "a.tar")
    b = build(tmp_path / "b.tar")
    assert a.read_bytes() == b.read_bytes()


def test_example_inspect_shows_the_missing_loader() -> None:
    res = run_goimglint("inspect", EXAMPLE_TAR, "--format", "json")
    assert res.returncode == 0, res.stderr
    (image,) = res.json()["images"]
    assert image["reference"] == "goimglint/example:hello-cgo-scratch"
    assert image["platform"] == "linux/amd64"
    (binary,) = image["binaries"]
    assert binary["path"] == "/app/hello"
    assert binary["elf"]["interpreter"] == GLIBC_LOADER
    assert "libc.so.6" in binary["elf"]["needed"]


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_example_lint_reports_gil101_and_exits_1(fmt: str) -> None:
    res = run_goimglint(EXAMPLE_TAR, "--format", fmt)
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "GIL101" in res.stdout
    assert GLIBC_LOADER in res.stdout
    if fmt != "text":
        json.loads(res.stdout)


# -- standard input -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rich_archives(go_hello_static: Path, go_hello_cgo: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cli")
    recipe = rich_recipe(go_hello_static, go_hello_cgo)
    cases: list[tuple[str, Compression]] = [("docker-legacy", "none"), ("docker-blobs", "gzip"),
                                            ("oci-archive", "zstd")]
    return {fmt: write_image(recipe, base / f"{fmt}.tar", fmt, compression=comp)
            for fmt, comp in cases}


@pytest.mark.parametrize("fmt", ["docker-legacy", "docker-blobs", "oci-archive"])
def test_stdin_equals_file(rich_archives: dict[str, Path], fmt: str) -> None:
    path = rich_archives[fmt]
    from_file = run_goimglint("inspect", path, "--format", "json")
    from_stdin = run_goimglint("inspect", "-", "--format", "json", stdin=path.read_bytes())
    assert from_file.returncode == 0, from_file.stderr
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert strip_keys(from_stdin.json(), IDENTITY_KEYS) == strip_keys(from_file.json(),
                                                                      IDENTITY_KEYS)
    assert len(from_file.json()["images"][0]["binaries"]) >= 2


def test_stdin_lint() -> None:
    res = run_goimglint("-", "--format", "json", stdin=EXAMPLE_TAR.read_bytes())
    assert res.returncode == 1, res.stderr
    assert "GIL101" in res.stdout


@pytest.mark.parametrize("data,words", [(b"", ("empty", "stdin")),
                                        (b"garbage\n" * 200, ("not",))])
def test_bad_stdin(data: bytes, words: tuple[str, ...]) -> None:
    assert_input_error(run_goimglint("inspect", "-", stdin=data), *words)
    assert_input_error(run_goimglint("-", stdin=data), *words)


# -- several images, several platforms ------------------------------------------------------


@pytest.fixture(scope="module")
def multi_image(go_hello_static: Path, go_hello_cgo: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_image([hello_recipe(go_hello_static, name="example.com/team/static:1.0"),
                        hello_recipe(go_hello_cgo, name="example.com/team/cgo:2.0")],
                       tmp_path_factory.mktemp("multi") / "two.tar", "docker-legacy")


def test_multi_image_archive_lints_each(multi_image: Path) -> None:
    res = run_goimglint("inspect", multi_image, "--format", "json")
    assert res.returncode == 0, res.stderr
    images = res.json()["images"]
    assert [i["reference"] for i in images] == ["example.com/team/static:1.0",
                                                "example.com/team/cgo:2.0"]
    assert [i["binaries"][0]["elf"]["interpreter"] for i in images] == [None, GLIBC_LOADER]
    lint = run_goimglint(multi_image, "--format", "json")
    assert lint.returncode == 1, lint.stderr  # the cgo image has no loader
    assert "example.com/team/cgo:2.0" in lint.stdout


def test_multi_image_archive_select(multi_image: Path) -> None:
    res = run_goimglint("inspect", multi_image, "--format", "json", "--image",
                        "example.com/team/static:1.0")
    assert res.returncode == 0, res.stderr
    assert [i["reference"] for i in res.json()["images"]] == ["example.com/team/static:1.0"]
    lint = run_goimglint(multi_image, "--image", "example.com/team/static:1.0")
    assert lint.returncode == 0, (lint.stdout, lint.stderr)
    line = assert_input_error(run_goimglint(multi_image, "--image", "example.com/nope:1"),
                              "no image")
    assert "example.com/nope:1" in line


@pytest.fixture(scope="module")
def multi_platform(go_hello_static: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    recipes = [Recipe([Layer([File("/etc/arch", arch.encode())])], name="example.com/mp:1",
                      platform=Platform("linux", arch, variant))
               for arch, variant in (("amd64", ""), ("arm64", "v8"))]
    return write_image(recipes, tmp_path_factory.mktemp("mp") / "mp.tar", "oci-archive",
                       multi_platform=True)


def test_multi_platform_without_selection(multi_platform: Path) -> None:
    res = run_goimglint("inspect", multi_platform, "--format", "json")
    assert res.returncode == 0, res.stderr
    assert sorted(i["platform"] for i in res.json()["images"]) == ["linux/amd64",
                                                                  "linux/arm64/v8"]
    lint = run_goimglint(multi_platform)  # both platforms linted (findings or not)
    assert lint.returncode in (0, 1), lint.stderr
    assert "linux/amd64" in lint.stdout and "linux/arm64/v8" in lint.stdout


@pytest.mark.parametrize("wanted,got", [("linux/arm64", "linux/arm64/v8"),
                                        ("linux/arm64/v8", "linux/arm64/v8"),
                                        ("linux/amd64", "linux/amd64")])
def test_multi_platform_with_selection(multi_platform: Path, wanted: str, got: str) -> None:
    res = run_goimglint("inspect", multi_platform, "--format", "json", "--platform", wanted)
    assert res.returncode == 0, res.stderr
    assert [i["platform"] for i in res.json()["images"]] == [got]


def test_multi_platform_missing_platform(multi_platform: Path) -> None:
    line = assert_input_error(run_goimglint(multi_platform, "--platform", "linux/s390x"),
                              "platform")
    assert "linux/s390x" in line
    assert_input_error(run_goimglint(multi_platform, "--platform", "nonsense"), "platform")


# -- broken inputs --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small() -> Recipe:
    return Recipe([Layer([File("/etc/a", b"a" * 20000)]), Layer([File("/etc/b", b"b" * 3000)])],
                  name="example.com/small:1")


def _truncate_layers(members: list[Member]) -> list[Member]:
    """Tamper: cut every layer blob (plain tar or compressed stream) in half."""
    return [Member(m.name, m.data[: len(m.data) // 2]) if m.kind == "file" and
            builder._is_layer_blob(m) else m for m in members]


BAD: dict[str, tuple[Callable[[list[Member]], list[Member]], tuple[str, ...]]] = {
    "corrupt-compressed-layer": (builder.corrupt_compressed_layers, ("corrupt",)),
    "truncated-layer": (_truncate_layers, ("truncated", "corrupt", "past the end")),
    "missing-blob": (builder.drop_layer_blobs, ("missing",)),
    "manifest-points-at-nothing": (builder.dangling_manifest, ("missing",)),
    "config-not-json": (builder.config_not_json, ("json",)),
}


def _bad_cases() -> list[tuple[str, str, str]]:
    """Layer compression matters only for damaged layers; the rest use gzip."""
    cases = []
    for fmt in ("docker-legacy", "docker-skopeo", "docker-blobs", "oci-archive", "oci-dir"):
        for kind in BAD:
            comps = {"corrupt-compressed-layer": ("gzip", "zstd"),
                     "truncated-layer": ("gzip", "zstd", "none")}.get(kind, ("gzip",))
            cases += [(fmt, comp, kind) for comp in comps]
    return cases


@pytest.mark.parametrize("fmt,comp,kind", _bad_cases())
def test_bad_archive(small: Recipe, tmp_path: Path, fmt: str, comp: str, kind: str) -> None:
    tamper, words = BAD[kind]
    path = write_image(small, tmp_path / "bad", fmt, compression=comp,  # type: ignore[arg-type]
                       tamper=tamper)
    line = assert_input_error(run_goimglint("inspect", path, "--format", "json"), *words)
    assert line == assert_input_error(run_goimglint(path), *words)
    if kind == "manifest-points-at-nothing":
        assert "0" * 12 in line


def test_not_a_tar(tmp_path: Path) -> None:
    path = builder.write_not_a_tar(tmp_path / "image.tar")
    assert_input_error(run_goimglint(path), "not")
    assert_input_error(run_goimglint("inspect", path), "not")


def test_missing_path(tmp_path: Path) -> None:
    assert_input_error(run_goimglint(tmp_path / "nope.tar"), "no such file")


def test_plain_tar_without_manifest(tmp_path: Path) -> None:
    """A tar that is a layer (or any tarball), not an image archive."""
    path = tmp_path / "layer.tar"
    with tarfile.open(path, "w") as tf:
        tf.add(__file__, arcname="etc/file")
    assert_input_error(run_goimglint(path), "manifest.json", "index.json")


def _data_end(path: Path) -> int:
    """Where the last member's data ends (the rest is end-of-archive padding)."""
    with tarfile.open(path) as tf:
        return max(m.offset_data + m.size for m in tf.getmembers())


@pytest.mark.parametrize("fmt", ["docker-legacy", "docker-blobs", "oci-archive"])
@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 0.7, 0.9, 0.999])
def test_truncated_archive(small: Recipe, tmp_path: Path, fmt: str, fraction: float) -> None:
    """Cut anywhere before the last member's data ends: the error must say the archive is
    truncated (not that it is a plain tar, or that some blob is missing)."""
    whole = write_image(small, tmp_path / "whole.tar", fmt, compression="gzip")
    cut = builder.truncate_file(whole, tmp_path / "cut.tar",
                                keep=int(_data_end(whole) * fraction))
    line = assert_input_error(run_goimglint("inspect", cut), "truncated", "end of data")
    assert line == assert_input_error(run_goimglint(cut))


def test_truncated_in_the_middle_of_a_layer_says_truncated(small: Recipe,
                                                           tmp_path: Path) -> None:
    whole = write_image(small, tmp_path / "whole.tar", "docker-legacy", compression="none")
    with tarfile.open(whole) as tf:
        layer = next(m for m in tf.getmembers() if m.name.endswith("/layer.tar"))
    cut = builder.truncate_file(whole, tmp_path / "cut.tar", keep=layer.offset_data + 1000)
    assert_input_error(run_goimglint(cut), "truncated")
