"""Layer merge semantics (domain.md section 1): whiteouts, opaque directories, replacements.

Each scenario states its expected merged tree explicitly. Scenarios a real runtime applies
the same way are also checked against umoci's unpack of the same OCI layout (umoci applies
the layers onto a real directory, as containerd's or docker's layer appliers do)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fixtures.builder import (
    Dir,
    File,
    Layer,
    Opaque,
    RawMember,
    Recipe,
    Symlink,
    Whiteout,
    write_image,
)
from goimglint.image.model import EntryKind
from tests.conftest import require_tool
from tests.image.imgutil import expected_snapshot, fs_snapshot, loaded_one

BASE = Layer([
    Dir("/etc"), File("/etc/passwd", b"root\n"), File("/etc/group", b"root\n"),
    Dir("/etc/ssl"), Dir("/etc/ssl/certs"), File("/etc/ssl/certs/ca.pem", b"pem\n"),
    Dir("/opt"), Dir("/opt/app"), Dir("/opt/app/lib"), File("/opt/app/lib/x.so", b"\x7fELFx"),
    File("/opt/app/run", b"#!/bin/sh\n", 0o755),
    Dir("/usr"), Dir("/usr/lib"), File("/usr/lib/libz.so.1", b"\x7fELFz"),
    Symlink("/lib", "usr/lib"),
])


def r(*layers: Layer) -> Recipe:
    return Recipe([BASE, *layers])


def plain_tar(recipe: Recipe, tmp_path: Path) -> Path:
    """An OCI archive with uncompressed layers, so every file's bytes can be read back."""
    return write_image(recipe, tmp_path / "i.tar", "oci-archive", compression="none")


# name -> (recipe, paths that must exist, paths that must not exist, real runtimes agree)
SCENARIOS: dict[str, tuple[Recipe, list[str], list[str], bool]] = {
    "deleted file": (
        r(Layer([Dir("/etc"), Whiteout("/etc/passwd")])),
        ["/etc/group"], ["/etc/passwd"], True),
    "deleted directory": (
        r(Layer([Dir("/opt"), Whiteout("/opt/app")])),
        ["/opt"], ["/opt/app", "/opt/app/lib", "/opt/app/lib/x.so", "/opt/app/run"], True),
    "deleted then re-created in a later layer": (
        r(Layer([Dir("/etc"), Whiteout("/etc/passwd")]),
          Layer([Dir("/etc"), File("/etc/passwd", b"new\n")])),
        ["/etc/passwd"], [], True),
    "opaque directory": (
        r(Layer([Dir("/etc"), Dir("/etc/ssl"), Opaque("/etc/ssl"),
                 File("/etc/ssl/new.pem", b"n")])),
        ["/etc/ssl", "/etc/ssl/new.pem", "/etc/passwd"], ["/etc/ssl/certs",
                                                         "/etc/ssl/certs/ca.pem"], True),
    "opaque directory, marker after the new entries": (
        r(Layer([Dir("/etc"), Dir("/etc/ssl"), File("/etc/ssl/new.pem", b"n"),
                 Opaque("/etc/ssl")])),
        ["/etc/ssl/new.pem"], ["/etc/ssl/certs"], False),  # umoci applies in tar order
    "whiteout and re-add in the same layer, whiteout listed last": (
        r(Layer([Dir("/etc"), File("/etc/passwd", b"mine\n"), Whiteout("/etc/passwd")])),
        ["/etc/passwd"], [], False),
    "directory replaced by a file": (
        r(Layer([Dir("/opt"), File("/opt/app", b"now a file\n")])),
        ["/opt/app"], ["/opt/app/lib", "/opt/app/lib/x.so", "/opt/app/run"], True),
    "directory replaced by a symlink": (
        r(Layer([Dir("/opt"), Symlink("/opt/app", "/usr/lib")])),
        ["/opt/app"], ["/opt/app/run"], True),
    "directory whited out and replaced by a file (docker style)": (
        r(Layer([Dir("/opt"), Whiteout("/opt/app"), File("/opt/app", b"file\n")])),
        ["/opt/app"], ["/opt/app/lib"], True),
    "file replaced by a directory": (
        r(Layer([Dir("/opt"), Dir("/opt/app"), Dir("/opt/app/run"),
                 File("/opt/app/run/inner", b"i")])),
        ["/opt/app/run/inner", "/opt/app/lib/x.so"], [], True),
    "symlink replaced by a directory": (
        r(Layer([Dir("/lib"), File("/lib/own.so", b"\x7fELFo")])),
        ["/lib/own.so", "/usr/lib/libz.so.1"], ["/lib/libz.so.1"], True),
    "whiteout of a symlink deletes the link, not its target": (
        r(Layer([Whiteout("/lib")])),
        ["/usr/lib/libz.so.1"], ["/lib"], True),
}


def _check(recipe: Recipe, present: list[str], absent: list[str], path: Path) -> None:
    with loaded_one(write_image(recipe, path, "oci-archive", compression="none")) as image:
        for p in present:
            assert image.fs.entry(p) is not None, f"{p} should exist"
        for p in absent:
            assert image.fs.entry(p) is None, f"{p} should be gone"
        assert fs_snapshot(image.fs) == expected_snapshot(recipe)
        # No marker ever shows up as a file.
        assert not [e.path for e in image.fs if e.path.rsplit("/", 1)[-1].startswith(".wh.")]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_merge(name: str, tmp_path: Path) -> None:
    recipe, present, absent, _ = SCENARIOS[name]
    _check(recipe, present, absent, tmp_path / "img.tar")


def test_deleted_file_content_and_listing(tmp_path: Path) -> None:
    recipe, _, _, _ = SCENARIOS["opaque directory"]
    with loaded_one(write_image(recipe, tmp_path / "i.tar", "docker-legacy")) as image:
        assert image.fs.listdir("/etc/ssl") == ["new.pem"]
        assert image.fs.read("/etc/ssl/new.pem") == b"n"
        ssl = image.fs.entry("/etc/ssl")
        assert ssl is not None and ssl.kind is EntryKind.DIR and ssl.layer == 1


def test_replacing_directory_by_file_keeps_no_orphans(tmp_path: Path) -> None:
    recipe = r(Layer([Dir("/opt"), File("/opt/app", b"f")]),
               Layer([Dir("/opt"), Dir("/opt/app"), File("/opt/app/new", b"n")]))
    with loaded_one(plain_tar(recipe, tmp_path)) as image:
        assert image.fs.listdir("/opt/app") == ["new"]
        assert image.fs.entry("/opt/app/lib/x.so") is None


def test_whiteout_markers_in_the_first_layer_are_ignored(tmp_path: Path) -> None:
    recipe = Recipe([Layer([Dir("/etc"), File("/etc/passwd", b"root\n"), Whiteout("/etc/passwd"),
                            Dir("/var"), Opaque("/var"), File("/var/keep", b"k")])])
    with loaded_one(write_image(recipe, tmp_path / "i.tar", "oci-archive",
                                compression="none")) as image:
        assert image.fs.read("/etc/passwd") == b"root\n"
        assert image.fs.read("/var/keep") == b"k"
        assert image.fs.listdir("/etc") == ["passwd"]


def test_opaque_marker_is_matched_exactly(tmp_path: Path) -> None:
    """A whiteout whose name merely starts like the opaque marker (".wh..wh..opqX") deletes
    the one entry it names, never the whole directory (stereoscope PR 694)."""
    recipe = r(Layer([Dir("/etc"), RawMember("etc/.wh..wh..opq.bak", b"", mode=0),
                      RawMember("etc/.wh..wh..plnk", b"", mode=0)]))
    with loaded_one(plain_tar(recipe, tmp_path)) as image:
        assert image.fs.listdir("/etc") == ["group", "passwd", "ssl"]


def test_whiteout_does_not_follow_a_symlinked_parent(tmp_path: Path) -> None:
    """/etc -> /real; a later layer's etc/.wh.passwd must not delete /real/passwd
    (stereoscope PR 696)."""
    recipe = Recipe([
        Layer([Dir("/real"), File("/real/passwd", b"root\n"), Symlink("/etc", "/real")]),
        Layer([RawMember("etc/.wh.passwd", b"", mode=0)]),
    ])
    with loaded_one(plain_tar(recipe, tmp_path)) as image:
        assert image.fs.read("/real/passwd") == b"root\n"


def test_whiteout_of_a_path_through_a_symlinked_dir_deletes_nothing_else(tmp_path: Path) -> None:
    """lib/.wh.libz.so.1 names /lib/libz.so.1, reached through /lib -> usr/lib only by
    following the link; the real file /usr/lib/libz.so.1 stays."""
    recipe = r(Layer([RawMember("lib/.wh.libz.so.1", b"", mode=0)]))
    with loaded_one(plain_tar(recipe, tmp_path)) as image:
        assert image.fs.entry("/usr/lib/libz.so.1") is not None


def test_whiteout_of_root_or_dotdot_is_harmless(tmp_path: Path) -> None:
    recipe = r(Layer([RawMember(".wh..", b"", mode=0), RawMember("etc/.wh..", b"", mode=0),
                      RawMember("etc/.wh...", b"", mode=0), RawMember(".wh.", b"", mode=0)]))
    with loaded_one(plain_tar(recipe, tmp_path)) as image:
        assert image.fs.listdir("/etc") == ["group", "passwd", "ssl"]
        assert image.fs.entry("/opt/app/run") is not None


def _umoci_tree(layout: Path, bundle: Path) -> dict[str, tuple[object, ...]]:
    umoci = require_tool("umoci")
    proc = subprocess.run([umoci, "unpack", "--image", f"{layout}:latest", str(bundle)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    root = bundle / "rootfs"
    out: dict[str, tuple[object, ...]] = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        kind = "symlink" if p.is_symlink() else "dir" if p.is_dir() else "file"
        out["/" + str(p.relative_to(root))] = (
            kind, oct(st.st_mode & 0o7777), st.st_uid, st.st_gid,
            st.st_size if kind == "file" else 0, str(p.readlink()) if kind == "symlink" else None)
    return out


@pytest.mark.root
@pytest.mark.parametrize("name", [n for n, s in SCENARIOS.items() if s[3]])
def test_merge_matches_umoci_unpack(name: str, tmp_path: Path) -> None:
    recipe = SCENARIOS[name][0]
    layout = write_image(recipe.with_name("t/w:latest"), tmp_path / "layout", "oci-dir")
    truth = _umoci_tree(layout, tmp_path / "bundle")
    with loaded_one(layout) as image:
        ours = {p: v[:6] for p, v in fs_snapshot(image.fs, with_content=False).items()}
    assert ours == truth
