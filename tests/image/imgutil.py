"""Helpers for the image-format tests: load images through goimglint's reader, snapshot a
MergedFS, derive the expected snapshot from a recipe, and normalise `inspect` JSON."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fixtures.builder import MergedEntry, Recipe, merge_recipe
from goimglint.image.archive import Image, open_targets
from goimglint.image.fs import MergedFS
from goimglint.image.model import EntryKind, Platform

Snapshot = dict[str, tuple[Any, ...]]

# inspect keys that legitimately differ between two writers of the same image
IDENTITY_KEYS = frozenset({"reference", "repository", "format", "digest", "diff_id"})
# ... and those that also differ when one writer recompresses the layers
STORAGE_KEYS = frozenset({"size", "compression", "media_type"})


@contextmanager
def loaded(path: Path | str, image: str | None = None,
           platform: Platform | None = None) -> Iterator[list[Image]]:
    """Every target of ``path`` loaded, valid while the context lasts (file contents are
    read lazily from the temp dir)."""
    with tempfile.TemporaryDirectory(prefix="gil-test-") as tmp:
        open_dir = Path(tmp) / "open"
        open_dir.mkdir()
        targets = open_targets(str(path), str(open_dir), image=image, platform=platform)
        images = []
        for n, target in enumerate(targets):
            load_dir = Path(tmp) / f"load{n}"
            load_dir.mkdir()
            images.append(target.load(str(load_dir)))
        yield images


@contextmanager
def loaded_one(path: Path | str, **kwargs: Any) -> Iterator[Image]:
    with loaded(path, **kwargs) as images:
        assert len(images) == 1, [i.reference for i in images]
        yield images[0]


def fs_snapshot(fs: MergedFS, with_layer: bool = True, with_content: bool = True) -> Snapshot:
    """path -> (kind, mode, uid, gid, size, symlink target, layer, sha256 of kept bytes)."""
    out: Snapshot = {}
    for e in fs:
        if e.path == "/":
            continue
        digest = None
        if with_content and e.kind is EntryKind.FILE:
            data = fs.read_entry(e)
            digest = None if data is None else hashlib.sha256(data).hexdigest()[:16]
        out[e.path] = (e.kind.value, oct(e.mode), e.uid, e.gid,
                       e.size if e.kind is EntryKind.FILE else 0,
                       e.linkname if e.kind is EntryKind.SYMLINK else None,
                       e.layer if with_layer else None, digest)
    return out


def expected_snapshot(recipe: Recipe, with_layer: bool = True) -> Snapshot:
    """The snapshot the builder's independent merge predicts (all contents kept)."""
    out: Snapshot = {}
    for path, m in merge_recipe(recipe).items():
        if path == "/":
            continue
        kind = "file" if m.kind == "hardlink" else m.kind
        out[path] = (kind, oct(m.mode), m.uid, m.gid, len(m.data) if kind == "file" else 0,
                     m.target if kind == "symlink" else None, m.layer if with_layer else None,
                     hashlib.sha256(m.data).hexdigest()[:16] if kind == "file" else None)
    return out


def without_content(s: Snapshot) -> Snapshot:
    return {p: v[:-1] + (None,) for p, v in s.items()}


def assert_same_tree(got: Snapshot, expected: Snapshot) -> None:
    """Same entries and metadata; file bytes equal wherever both sides kept them (a
    compressed layer keeps only some files' bytes)."""
    assert without_content(got) == without_content(expected)
    for path, value in got.items():
        if value[-1] is not None and expected[path][-1] is not None:
            assert value[-1] == expected[path][-1], path


def expected_tree(recipe: Recipe) -> dict[str, MergedEntry]:
    return merge_recipe(recipe)


def strip_keys(doc: Any, keys: frozenset[str]) -> Any:
    """``doc`` with every dict key in ``keys`` removed, at any depth."""
    if isinstance(doc, dict):
        return {k: strip_keys(v, keys) for k, v in doc.items() if k not in keys}
    if isinstance(doc, list):
        return [strip_keys(v, keys) for v in doc]
    return doc
