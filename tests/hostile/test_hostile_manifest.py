"""Manifests and indexes that point outside the archive, at themselves, or nowhere; OCI layout
directories whose blobs are symlinks out of the layout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.hostile.craft import Config, docker_archive, member, oci_archive, sha256, tar
from tests.hostile.sandbox import assert_clean_end, run_cli

LAYER = tar([member("etc/", typeflag=b"5"), member("etc/hostname", b"h\n")])
SECRET = "/etc/hostname"  # a host file an escaping manifest could try to read


def _run(tmp_path: Path, data: bytes, name: str = "image.tar"):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(data)
    run = run_cli(["lint", str(path)])
    assert_clean_end(run, max_seconds=20)
    return run


@pytest.mark.parametrize("layers", [
    ["../../../../etc/hostname"], ["/etc/hostname"], [SECRET], ["0/../../x"], [""], ["."],
    ["blobs/sha256/../../../../etc/hostname"], [None], [{"a": 1}], ["0/layer.tar"] * 5000,
])
def test_docker_manifest_layers_outside_the_archive(tmp_path: Path, layers: list[object]
                                                    ) -> None:
    manifest = [{"Config": "config.json", "RepoTags": ["x:1"], "Layers": layers}]
    run = _run(tmp_path, docker_archive([LAYER], manifest=manifest))
    if layers[0] == "0/layer.tar":
        assert run.returncode in (0, 1), run.describe()  # the same layer 5000 times is legal
    else:
        assert run.returncode == 2, run.describe()


@pytest.mark.parametrize("config", ["../config.json", "/etc/passwd", "", "manifest.json"])
def test_docker_manifest_config_outside_the_archive(tmp_path: Path, config: str) -> None:
    manifest = [{"Config": config, "Layers": ["0/layer.tar"]}]
    run = _run(tmp_path, docker_archive([LAYER], manifest=manifest))
    assert run.returncode == 2, run.describe()


def test_archive_symlinks_leading_out(tmp_path: Path) -> None:
    """Members of the outer archive that are symlinks or hardlinks to host paths, to each
    other in a loop, or chains over 40 hops."""
    manifest = [{"Config": "cfg", "Layers": ["escape", "loop1", "chain0"]}]
    extra = [member("cfg", typeflag=b"2", linkname="/etc/passwd"),
             member("escape", typeflag=b"2", linkname="../../../../etc/hostname"),
             member("loop1", typeflag=b"2", linkname="loop2"),
             member("loop2", typeflag=b"1", linkname="loop1")]
    extra += [member(f"chain{i}", typeflag=b"2", linkname=f"chain{i + 1}") for i in range(60)]
    for variant in (manifest, [{"Config": "config.json", "Layers": ["loop1"]}],
                    [{"Config": "config.json", "Layers": ["chain0"]}],
                    [{"Config": "config.json", "Layers": ["escape"]}]):
        run = _run(tmp_path, docker_archive([LAYER], manifest=variant, extra=extra))
        assert run.returncode == 2, run.describe()


def _manifest_blob(config: bytes, layer: bytes) -> bytes:
    return json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer), "size": len(layer)}]}).encode()


def _index(*digests: str, media: str = "application/vnd.oci.image.index.v1+json") -> dict:
    return {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": media, "digest": d, "size": 1} for d in digests]}


def test_oci_index_loops_and_nesting(tmp_path: Path) -> None:
    config = json.dumps(Config().doc([LAYER])).encode()
    manifest = _manifest_blob(config, LAYER)
    blobs = {sha256(config): config, sha256(LAYER): LAYER, sha256(manifest): manifest}
    # An index that lists itself: its digest must be known before it is written, so the loop
    # goes through two indexes naming each other (a -> b -> a) via a fixed point of names.
    a_doc = _index("sha256:" + "b" * 64)
    b_doc = _index("sha256:" + "a" * 64)
    loop_blobs = {**blobs, "sha256:" + "a" * 64: json.dumps(a_doc).encode(),
                  "sha256:" + "b" * 64: json.dumps(b_doc).encode()}
    run = _run(tmp_path, oci_archive(_index("sha256:" + "a" * 64), loop_blobs))
    assert run.returncode == 2, run.describe()
    # 20 nested indexes, the innermost naming the image
    nested = dict(blobs)
    inner = sha256(manifest)
    for _ in range(20):
        doc = json.dumps(_index(inner)).encode()
        inner = sha256(doc)
        nested[inner] = doc
    run = _run(tmp_path, oci_archive(_index(inner), nested))
    assert run.returncode == 2 and "nested" in run.stderr, run.describe()
    # a wide index: the same manifest 10,000 times (legal; each is one target)
    run = _run(tmp_path, oci_archive(_index(*[sha256(manifest)] * 300,
                                            media="application/vnd.oci.image.manifest.v1+json"),
                                     blobs))
    assert run.returncode in (0, 1), run.describe()


@pytest.mark.parametrize("digest", ["sha256:../../../../etc/hostname", "sha256:", "../x",
                                    "sha256:/etc/hostname", "sha256:a/../../b", 5, None])
def test_oci_digests_that_are_paths(tmp_path: Path, digest: object) -> None:
    index = {"schemaVersion": 2, "manifests": [{"digest": digest, "size": 1}]}
    run = _run(tmp_path, oci_archive(index, {}))
    assert run.returncode == 2, run.describe()


def test_oci_layout_directory_with_escaping_symlinks(tmp_path: Path) -> None:
    """An OCI layout dir (as umoci/skopeo write) whose blobs are symlinks to host files."""
    layout = tmp_path / "layout"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    digest = "sha256:" + "c" * 64
    os.symlink("/etc/hostname", layout / "blobs" / "sha256" / ("c" * 64))
    (layout / "index.json").write_text(json.dumps(_index(
        digest, media="application/vnd.oci.image.manifest.v1+json")))
    run = run_cli(["lint", str(layout)])
    assert_clean_end(run, max_seconds=20)
    assert run.returncode == 2 and "missing" in run.stderr, run.describe()


@pytest.mark.parametrize("doc", [b"[" * 100_000, b'{"a":' * 50_000, b"\xff\xfe",
                                 b'[{"Config": "config.json", "Layers": "0/layer.tar"}]',
                                 b"{}", b"[]", b"null", b'"' + b"x" * (40 << 20) + b'"'],
                         ids=["deep-list", "deep-object", "not-utf8", "layers-string", "object",
                              "empty-list", "null", "40MB-string"])
def test_manifest_documents_that_are_not_manifests(tmp_path: Path, doc: bytes) -> None:
    data = tar([member("manifest.json", doc), member("config.json", b"{}")])
    run = _run(tmp_path, data)
    assert run.returncode == 2, run.describe()
