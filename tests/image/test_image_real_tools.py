"""The same image written by real tools and by the project's builder must read the same.

- skopeo converts the builder's OCI layout to a docker-archive, an OCI archive and an OCI
  layout of its own: `inspect` output must be identical apart from references and digests
  (and, when skopeo recompresses, layer sizes and compression).
- umoci builds the image from scratch (new, config, unpack/repack per layer, so its layers
  and whiteouts are its own diffs): config, history, binaries and the merged filesystem must
  be identical; per-layer entry counts differ because umoci lists only changed directories.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fixtures.builder import Recipe, write_image
from fixtures.realtools import skopeo_copy, umoci_image
from fixtures.recipes import rich_recipe
from tests.conftest import require_tool, run_goimglint
from tests.image.imgutil import (
    IDENTITY_KEYS,
    STORAGE_KEYS,
    assert_same_tree,
    fs_snapshot,
    loaded_one,
    strip_keys,
)

NAME = "example.com/rich:1.0"


def inspect_json(path: Path, *extra: str) -> Any:
    res = run_goimglint("inspect", path, "--format", "json", *extra)
    assert res.returncode == 0, res.stderr
    return res.json()


@pytest.fixture(scope="module")
def rich(go_hello_static: Path, go_hello_cgo: Path) -> Recipe:
    return rich_recipe(go_hello_static, go_hello_cgo, name=NAME)


@dataclass
class Written:
    compression: str  # of the builder's layers
    paths: dict[str, Path]


@pytest.fixture(scope="module", params=["none", "gzip"])
def written(request: pytest.FixtureRequest, rich: Recipe,
            tmp_path_factory: pytest.TempPathFactory) -> Written:
    """The rich image from the builder (OCI layout, docker-archive, OCI archive) and from
    skopeo copies of the builder's layout."""
    require_tool("skopeo")
    comp = request.param
    base = tmp_path_factory.mktemp(f"real-{comp}")
    layout = write_image(rich, base / "builder-layout", "oci-dir", compression=comp)
    paths = {
        "builder-layout": layout,
        "builder-docker": write_image(rich, base / "builder-docker.tar", "docker-legacy",
                                      compression=comp),
        "builder-oci": write_image(rich, base / "builder-oci.tar", "oci-archive",
                                   compression=comp),
        "skopeo-docker": base / "skopeo-docker.tar",
        "skopeo-oci": base / "skopeo-oci.tar",
        "skopeo-layout": base / "skopeo-layout",
    }
    skopeo_copy(f"oci:{layout}:1.0", f"docker-archive:{paths['skopeo-docker']}:{NAME}")
    skopeo_copy(f"oci:{layout}:1.0", f"oci-archive:{paths['skopeo-oci']}:1.0")
    skopeo_copy(f"oci:{layout}:1.0", f"oci:{paths['skopeo-layout']}:1.0")
    return Written(comp, paths)


@pytest.mark.parametrize("tool", ["skopeo-docker", "skopeo-oci", "skopeo-layout"])
@pytest.mark.parametrize("ours", ["builder-layout", "builder-docker", "builder-oci"])
def test_skopeo_output_inspects_the_same(written: Written, tool: str, ours: str) -> None:
    # skopeo stores docker-archive layers uncompressed and gzips uncompressed layers it
    # writes to OCI destinations; then layer sizes and compressions legitimately differ.
    recompressed = (written.compression == "none") != (tool == "skopeo-docker")
    keys = IDENTITY_KEYS | STORAGE_KEYS if recompressed else IDENTITY_KEYS
    expected = strip_keys(inspect_json(written.paths[ours]), keys)
    got = strip_keys(inspect_json(written.paths[tool]), keys)
    assert got == expected
    assert len(got["images"][0]["binaries"]) >= 2


def test_skopeo_docker_archive_keeps_the_reference(written: Written) -> None:
    doc = inspect_json(written.paths["skopeo-docker"])
    assert [i["reference"] for i in doc["images"]] in ([f"docker.io/{NAME}"], [NAME])


def test_skopeo_output_gives_the_same_tree(written: Written) -> None:
    with loaded_one(written.paths["builder-oci"]) as ours:
        expected = fs_snapshot(ours.fs)
    for tool in ("skopeo-docker", "skopeo-oci", "skopeo-layout"):
        with loaded_one(written.paths[tool]) as theirs:
            assert_same_tree(fs_snapshot(theirs.fs), expected)


@pytest.fixture(scope="module")
def umoci_layout(rich: Recipe, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("umoci")
    base = tmp_path_factory.mktemp("umoci")
    return umoci_image(rich, base / "layout", base / "work", tag="1.0")


@pytest.mark.root
def test_umoci_layout_inspects_the_same(rich: Recipe, umoci_layout: Path,
                                        tmp_path: Path) -> None:
    ours = write_image(rich, tmp_path / "ours", "oci-dir")
    keys = IDENTITY_KEYS | STORAGE_KEYS | {"files"}
    expected = strip_keys(inspect_json(ours), keys)
    got = strip_keys(inspect_json(umoci_layout), keys)
    assert got == expected
    assert [b["path"] for b in got["images"][0]["binaries"]] == [
        "/app/server", "/usr/local/bin/hello", "/usr/local/bin/hello-again"]


@pytest.mark.root
def test_umoci_layout_gives_the_same_tree(rich: Recipe, umoci_layout: Path,
                                          tmp_path: Path) -> None:
    """umoci wrote its own whiteouts for the deleted file, the deleted directory and the
    opaque directory's old contents: the merged trees must match (layer indices aside:
    umoci does not repeat unchanged parent directories)."""
    ours = write_image(rich, tmp_path / "ours.tar", "oci-archive")
    with loaded_one(ours) as a, loaded_one(umoci_layout) as b:
        assert_same_tree(fs_snapshot(b.fs, with_layer=False),
                         fs_snapshot(a.fs, with_layer=False))
        assert [x.created_by for x in b.layers] == [x.created_by for x in a.layers]
        server = b.fs.entry("/app/server")
        assert server is not None and server.layer == 2 and server.mode == 0o4755
