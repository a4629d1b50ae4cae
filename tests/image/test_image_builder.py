"""The fixture builder itself, checked against real tools: skopeo must read every archive it
writes with the config we asked for, and umoci's unpack of its OCI layout must equal the
builder's own merged tree (so the builder's rootfs output and whiteouts are right)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from fixtures.builder import (
    ARCHIVE_FORMATS,
    Dir,
    File,
    Layer,
    Platform,
    Recipe,
    merge_recipe,
    write_image,
    write_rootfs,
)
from fixtures.recipes import rich_recipe
from tests.conftest import require_tool


def tree_listing(root: Path) -> dict[str, tuple[object, ...]]:
    """path -> (type, mode, uid, gid, size, link target, link count) of a host directory."""
    out: dict[str, tuple[object, ...]] = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        rel = "/" + str(p.relative_to(root))
        link = str(p.readlink()) if p.is_symlink() else ""
        kind = "l" if p.is_symlink() else "d" if p.is_dir() else "f" if p.is_file() else "o"
        size = st.st_size if kind == "f" else 0
        out[rel] = (kind, oct(st.st_mode & 0o7777), st.st_uid, st.st_gid, size, link,
                    st.st_nlink if kind == "f" else 1)
    return out


@pytest.fixture(scope="module")
def rich(go_hello_static: Path, go_hello_cgo: Path) -> Recipe:
    return rich_recipe(go_hello_static, go_hello_cgo)


@pytest.mark.parametrize("fmt", [*ARCHIVE_FORMATS, "oci-dir"])
@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_same_recipe_same_bytes(tmp_path: Path, fmt: str, compression: str) -> None:
    recipe = Recipe([Layer([Dir("/etc"), File("/etc/a", b"a" * 5000)]),
                     Layer([File("/etc/b", b"b")])])
    a = write_image(recipe, tmp_path / "a", fmt, compression=compression)  # type: ignore[arg-type]
    b = write_image(recipe, tmp_path / "b", fmt, compression=compression)  # type: ignore[arg-type]

    def digest(p: Path) -> str:
        files = [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file())
        h = hashlib.sha256()
        for f in files:
            h.update(str(f.relative_to(p)).encode() if f != p else b"")
            h.update(f.read_bytes())
        return h.hexdigest()

    assert digest(a) == digest(b)


@pytest.mark.parametrize("fmt", ["docker-legacy", "docker-skopeo", "docker-blobs", "oci-archive",
                                 "oci-dir"])
def test_skopeo_reads_builder_output(tmp_path: Path, rich: Recipe, fmt: str) -> None:
    skopeo = require_tool("skopeo")
    out = write_image(rich, tmp_path / fmt, fmt, compression="gzip")
    transport = {"oci-archive": f"oci-archive:{out}:1.0", "oci-dir": f"oci:{out}:1.0"}.get(
        fmt, f"docker-archive:{out}")
    proc = subprocess.run([skopeo, "inspect", "--config", transport], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    config = json.loads(proc.stdout)
    assert config["config"]["Entrypoint"] == ["/app/server"]
    assert config["config"]["User"] == "1000:1000"
    assert config["architecture"] == "amd64"
    assert len(config["rootfs"]["diff_ids"]) == 3
    assert [h.get("empty_layer", False) for h in config["history"]] == [
        False, True, False, True, False, True]


def test_skopeo_selects_platform_of_builder_index(tmp_path: Path) -> None:
    skopeo = require_tool("skopeo")
    recipes = [Recipe([Layer([File("/arch", arch.encode())])], name="t/multi:1",
                      platform=Platform("linux", arch, variant))
               for arch, variant in (("amd64", ""), ("arm64", "v8"))]
    out = write_image(recipes, tmp_path / "multi", "oci-dir", multi_platform=True)
    proc = subprocess.run([skopeo, "--override-arch", "arm64", "inspect", "--config",
                           f"oci:{out}:1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["architecture"] == "arm64"


@pytest.mark.root
def test_umoci_unpack_equals_builder_rootfs(tmp_path: Path, rich: Recipe) -> None:
    """umoci applies the layers (whiteouts, opaque dir, hardlink, setuid, devices) as a real
    runtime would; the builder's independent merge must agree exactly."""
    umoci = require_tool("umoci")
    layout = write_image(rich, tmp_path / "oci", "oci-dir", compression="gzip")
    proc = subprocess.run([umoci, "unpack", "--image", f"{layout}:1.0", str(tmp_path / "b")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ours = write_rootfs(rich, tmp_path / "rootfs")
    assert tree_listing(ours) == tree_listing(tmp_path / "b" / "rootfs")


def test_merge_recipe_basics(rich: Recipe) -> None:
    tree = merge_recipe(rich)
    assert "/etc/os-release" not in tree
    assert "/opt/old" not in tree and "/opt/old/readme.txt" not in tree
    assert "/usr/lib/x86_64-linux-gnu/libfoo.so.1" not in tree  # opaque directory
    assert tree["/usr/lib/x86_64-linux-gnu/libbar.so.2"].layer == 2
    assert tree["/app/server"].mode == 0o4755
