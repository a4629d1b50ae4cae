"""Path resolution inside the image root (domain.md section 1, "Paths"): absolute and relative
symlinks, usrmerge, `..` escapes that must stay inside the root, loops that must stop with a
clear error, hardlinks, hostile member names. Nothing is ever resolved on the host."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.builder import (
    Dir,
    File,
    Hardlink,
    Layer,
    RawMember,
    Recipe,
    Symlink,
    write_image,
)
from goimglint.errors import PathLoopError
from goimglint.image.archive import Image
from goimglint.image.model import EntryKind
from tests.conftest import run_goimglint
from tests.image.imgutil import loaded_one

LOADER = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
ELF = b"\x7fELF" + b"\x00" * 60

# A Debian 12 style usrmerge tree plus every kind of odd link.
DEBIAN_LIKE = Recipe([
    Layer([
        Dir("/usr"), Dir("/usr/bin"), Dir("/usr/lib"), Dir("/usr/lib/x86_64-linux-gnu"),
        Dir("/usr/lib64"), Dir("/etc"),
        Symlink("/bin", "usr/bin"), Symlink("/lib", "usr/lib"), Symlink("/lib64", "usr/lib64"),
        Symlink("/sbin", "usr/sbin"),
        File(LOADER, ELF, 0o755),
        Symlink("/usr/lib64/ld-linux-x86-64.so.2", "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
        File("/usr/lib/x86_64-linux-gnu/libc.so.6", ELF, 0o755),
        File("/usr/bin/python3.11", ELF, 0o755),
        Symlink("/usr/bin/python3", "python3.11"),
        Symlink("/usr/bin/python", "/usr/bin/python3"),
        File("/etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
        # escapes: every one of these must land inside the root
        Symlink("/etc/up", "../../../../../../etc/passwd"),
        Symlink("/etc/abs-up", "/../../../etc/passwd"),
        Symlink("/usr/bin/to-root", "/"),
        Symlink("/usr/bin/dotdot", ".."),
        Symlink("/etc/host-shadow", "/etc/shadow"),  # exists on the host, not in the image
        # loops
        Symlink("/loop/a", "b"), Symlink("/loop/b", "a"),
        Symlink("/loop/self", "self"),
        Symlink("/loop/dir", "/loop"),
        Symlink("/loop/abs", "/loop/abs"),
        # dangling
        Symlink("/usr/bin/dangling", "/nowhere/at/all"),
        # hardlinks
        Hardlink("/usr/bin/python-hard", "/usr/bin/python3.11", mode=0o755),
    ], created_by="debian"),
    Layer([
        Dir("/app"),
        Hardlink("/app/libc-copy", "/usr/lib/x86_64-linux-gnu/libc.so.6", mode=0o755),
        Symlink("/app/lib", "../lib/x86_64-linux-gnu"),
    ], created_by="app"),
])


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    path = write_image(DEBIAN_LIKE, tmp_path_factory.mktemp("sym") / "i.tar", "oci-archive",
                       compression="none")
    with loaded_one(path) as img:
        yield img


def test_absolute_and_relative_chain(image: Image) -> None:
    assert image.fs.resolve("/usr/bin/python") == "/usr/bin/python3.11"
    assert image.fs.resolve("/bin/python") == "/usr/bin/python3.11"
    assert image.fs.resolve("/usr/bin/python", follow_last=False) == "/usr/bin/python"
    link = image.fs.entry("/usr/bin/python")
    assert link is not None and link.kind is EntryKind.SYMLINK
    assert link.linkname == "/usr/bin/python3"


def test_usrmerge(image: Image) -> None:
    assert image.fs.resolve("/lib64/ld-linux-x86-64.so.2") == LOADER
    assert image.fs.resolve("/lib/x86_64-linux-gnu/libc.so.6") == \
        "/usr/lib/x86_64-linux-gnu/libc.so.6"
    assert image.fs.listdir("/lib") == image.fs.listdir("/usr/lib")
    assert image.fs.read("/lib64/ld-linux-x86-64.so.2") == ELF
    assert image.fs.exists("/bin/python3")
    assert not image.fs.exists("/sbin/init")  # /sbin -> usr/sbin, which is missing


def test_every_component_is_resolved(image: Image) -> None:
    """A symlink in the middle of a path is followed too, relative to its own directory."""
    assert image.fs.resolve("/app/lib/libc.so.6") == "/usr/lib/x86_64-linux-gnu/libc.so.6"
    assert image.fs.resolve("/usr/bin/dotdot/lib64/ld-linux-x86-64.so.2") == LOADER
    assert image.fs.resolve("/usr/bin/to-root/usr/bin/to-root/etc/passwd") == "/etc/passwd"
    # a non-directory in the middle ends the walk
    assert image.fs.resolve("/etc/passwd/x") is None


@pytest.mark.parametrize("path", ["/etc/up", "/etc/abs-up", "/../../etc/passwd",
                                  "/usr/bin/to-root/../../../etc/passwd"])
def test_dotdot_never_leaves_the_root(image: Image, path: str) -> None:
    assert image.fs.resolve(path) == "/etc/passwd"
    assert image.fs.read(path) == b"root:x:0:0::/root:/bin/sh\n"


def test_relative_to_working_directory(image: Image) -> None:
    assert image.fs.resolve("python3", cwd="/usr/bin") == "/usr/bin/python3.11"
    assert image.fs.resolve("../../../../etc/passwd", cwd="/usr/bin") == "/etc/passwd"


def test_host_paths_are_never_consulted(image: Image) -> None:
    assert os.path.exists("/etc/passwd")  # the host has it; the image's is a different file
    assert image.fs.resolve("/etc/host-shadow") is None
    assert image.fs.read("/etc/host-shadow") is None
    assert image.fs.resolve("/usr/bin/dangling") is None
    assert image.fs.resolve("/usr/bin/dangling", follow_last=False) == "/usr/bin/dangling"


@pytest.mark.parametrize("path", ["/loop/a", "/loop/self", "/loop/abs",
                                  "/loop/dir/" + "dir/" * 45 + "a"])
def test_loops_stop_with_a_clear_error(image: Image, path: str) -> None:
    start = time.monotonic()
    with pytest.raises(PathLoopError, match="symbolic links"):
        image.fs.resolve(path)
    assert not image.fs.exists(path)
    assert time.monotonic() - start < 1.0


def test_forty_hops_are_allowed_forty_one_are_not(tmp_path: Path) -> None:
    """Linux allows 40 symlinks in one resolution (MAXSYMLINKS) and fails with ELOOP after."""
    ops: list[File | Symlink] = [File("/target", b"t")]
    ops += [Symlink(f"/l{i}", f"/l{i + 1}" if i < 41 else "/target") for i in range(1, 42)]
    path = write_image(Recipe([Layer(ops)]), tmp_path / "i.tar", "oci-archive",
                       compression="none")
    with loaded_one(path) as img:
        assert img.fs.resolve("/l2") == "/target"  # l2..l41: 40 links
        with pytest.raises(PathLoopError):
            img.fs.resolve("/l1")  # 41 links


def test_directory_loop_depth_matches_linux(image: Image) -> None:
    """/loop/dir -> /loop: every "dir" component is one hop, 40 are allowed."""
    assert image.fs.resolve("/loop" + "/dir" * 40) == "/loop"
    assert image.fs.resolve("/loop" + "/dir" * 41, follow_last=False) == "/loop/dir"
    with pytest.raises(PathLoopError):
        image.fs.resolve("/loop" + "/dir" * 41)


def test_hardlinks_share_content(image: Image) -> None:
    hard = image.fs.entry("/usr/bin/python-hard")
    assert hard is not None and hard.kind is EntryKind.FILE
    assert hard.hardlink_to == "/usr/bin/python3.11"
    assert image.fs.read("/usr/bin/python-hard") == ELF
    cross = image.fs.entry("/app/libc-copy")  # target in a lower layer
    assert cross is not None and cross.layer == 1 and cross.size == len(ELF)
    assert image.fs.read("/app/libc-copy") == ELF


def test_hostile_member_names_stay_inside(tmp_path: Path) -> None:
    recipe = Recipe([Layer([
        RawMember("../../../../evil", b"e"),
        RawMember("/abs/evil", b"a"),
        RawMember("./dot/./slash//evil", b"d"),
        RawMember("x/../../y", b"y"),
    ])])
    with loaded_one(write_image(recipe, tmp_path / "i.tar", "oci-archive",
                                compression="none")) as img:
        assert img.fs.read("/evil") == b"e"
        assert img.fs.read("/abs/evil") == b"a"
        assert img.fs.read("/dot/slash/evil") == b"d"
        assert img.fs.read("/y") == b"y"
        assert all(e.path.startswith("/") and ".." not in e.path.split("/") for e in img.fs)
    assert not (tmp_path.parent / "evil").exists()


def test_cli_on_an_image_full_of_loops_finishes(tmp_path: Path, go_hello_static: Path) -> None:
    """Loops everywhere, including the entrypoint and PATH: inspect and lint finish quickly
    and do not crash (a loop inside an image is a fact about it, not a bad input)."""
    from fixtures.builder import HostFile

    recipe = Recipe([Layer([
        Dir("/usr"), Dir("/usr/bin"), HostFile("/usr/bin/real", go_hello_static),
        Symlink("/usr/bin/app", "app"), Symlink("/bin", "bin"), Symlink("/lib64", "lib64"),
        Symlink("/etc", "/etc"), Symlink("/usr/local", "/usr/local/.."),
    ])], entrypoint=("app",), env=("PATH=/bin:/usr/local/bin:/usr/bin",))
    path = write_image(recipe, tmp_path / "loops.tar", "docker-legacy")
    runs: list[list[str | Path]] = [["inspect", path, "--format", "json"],
                                    [path, "--format", "json"]]
    for args in runs:
        start = time.monotonic()
        res = run_goimglint(*args, timeout=60)
        assert "Traceback" not in res.stderr
        assert res.returncode in (0, 1), res.stderr
        assert time.monotonic() - start < 60
