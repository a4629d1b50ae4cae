"""Real images of the field roots, written by buildah (``from scratch``, ``add`` of the
debootstrap tarball, ``copy`` of the artefacts, ``config``, ``commit``, ``push``) into a
private storage, cached under <goimglint cache>/field/images by a key of their inputs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.field.artefacts import Unavailable, field_dir, locked

RECIPE_VERSION = "1"
BUILD_TIMEOUT = 900


@dataclass
class ImageRecipe:
    name: str
    transport: str  # "docker-archive" or "oci-archive"
    base_tar: Path | None = None  # a root filesystem tarball added at /
    trees: list[Path] = field(default_factory=list)  # directories copied onto /
    files: dict[str, Path] = field(default_factory=dict)  # image path -> host file
    entrypoint: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)

    def key(self) -> str:
        h = hashlib.sha256(RECIPE_VERSION.encode())
        parts: list[object] = [self.name, self.transport, self.entrypoint, self.env]
        if self.base_tar is not None:
            st = self.base_tar.stat()
            parts.append((self.base_tar.name, st.st_size))
        for tree in self.trees:
            for p in sorted(tree.rglob("*")):
                parts.append((str(p.relative_to(tree)), p.is_symlink() and os.readlink(p)
                              or (p.is_file() and p.stat().st_size)))
        for dest, src in sorted(self.files.items()):
            parts.append((dest, src.stat().st_size, _digest(src)))
        h.update(json.dumps(parts, default=str).encode())
        return h.hexdigest()[:16]


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def build_image(recipe: ImageRecipe) -> Path:
    buildah = shutil.which("buildah")
    if buildah is None:
        raise Unavailable("buildah is not installed (apt-get install buildah)")
    images = field_dir() / "images"
    images.mkdir(exist_ok=True)
    suffix = "docker.tar" if recipe.transport == "docker-archive" else "oci.tar"
    out = images / f"{recipe.name}-{recipe.key()}.{suffix}"
    if out.exists():
        return out
    with locked(f"image-{recipe.name}"):
        if out.exists():
            return out
        for stale in images.glob(f"{recipe.name}-*.{suffix}"):
            stale.unlink()  # an older build of the same recipe
        work = Path(tempfile.mkdtemp(prefix="buildah-", dir=field_dir()))
        try:
            base = [buildah, "--root", str(work / "storage"), "--runroot", str(work / "run"),
                    "--storage-driver", "vfs"]

            def run(*args: str) -> str:
                proc = subprocess.run([*base, *args], capture_output=True, text=True,
                                      timeout=BUILD_TIMEOUT)
                if proc.returncode != 0:
                    raise Unavailable(f"buildah {args[0]} failed: {proc.stderr[-400:]}")
                return proc.stdout.strip()

            ctr = run("from", "--isolation", "chroot", "scratch")
            if recipe.base_tar is not None:
                run("add", ctr, str(recipe.base_tar), "/")
            for tree in recipe.trees:
                run("copy", ctr, str(tree) + "/", "/")
            for dest, src in sorted(recipe.files.items()):
                run("copy", "--chmod", "0755", ctr, str(src), dest)
            config = []
            if recipe.entrypoint:
                config += ["--entrypoint", json.dumps(recipe.entrypoint)]
            for e in recipe.env:
                config += ["--env", e]
            if config:
                run("config", *config, ctr)
            run("commit", "-q", ctr, f"goimglint-field/{recipe.name}:latest")
            partial = work / "image.tar"
            run("push", "-q", f"goimglint-field/{recipe.name}:latest",
                f"{recipe.transport}:{partial}")
            os.replace(partial, out)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return out
