"""Shared pytest fixtures: real Go binaries (built once per session, cached across runs), the
image builder's output directory, the goimglint CLI as a subprocess, and skip helpers for
tests that need root or a real tool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # `fixtures` is a top-level package of the checkout
    sys.path.insert(0, str(REPO_ROOT))

from fixtures.gobuild import go_build  # noqa: E402

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
CLI_TIMEOUT = 120


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``root`` skip with a reason when not running as root."""
    if IS_ROOT:
        return
    skip = pytest.mark.skip(reason="needs root (chroot / ownership); run the suite as root")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


def require_tool(name: str) -> str:
    """The path of a host tool, or skip the test naming the Debian package to install."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return path


# -- Go binaries ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def go_hello_static() -> Path:
    """fixtures/gosrc/hello with CGO_ENABLED=0: static, no PT_INTERP."""
    return go_build("hello", ldflags="-s -w", flags=("-trimpath", "-buildvcs=false"))


@pytest.fixture(scope="session")
def go_hello_cgo() -> Path:
    """fixtures/gosrc/hello with CGO_ENABLED=1: dynamic, PT_INTERP /lib64/ld-linux-x86-64.so.2."""
    return go_build("hello", env={"CGO_ENABLED": "1"}, ldflags="-s -w",
                    flags=("-trimpath", "-buildvcs=false"))


# -- built images ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def images_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide directory for images that several tests read."""
    return tmp_path_factory.mktemp("images")


# -- the CLI --------------------------------------------------------------------------------


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_goimglint(*args: str | os.PathLike[str], stdin: bytes | None = None,
                  timeout: float = CLI_TIMEOUT) -> CliResult:
    """``python -m goimglint ARGS`` from the repository root, stderr not a terminal."""
    env = dict(os.environ)
    env.pop("GOIMGLINT_DEBUG", None)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "goimglint", *[str(a) for a in args]],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout.decode(errors="replace"),
                     proc.stderr.decode(errors="replace"))


@pytest.fixture(scope="session")
def goimglint() -> Callable[..., CliResult]:
    return run_goimglint
