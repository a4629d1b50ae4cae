"""Loader predictions for binaries built by others, placed into real roots, against the real
loaders under chroot: every library path against ``LD_TRACE_LOADED_OBJECTS=1``, every
start verdict (and every error-level loader finding) against a real start, and musl's
"Error relocating" lines against the model's unbound symbols."""

from __future__ import annotations

import platform
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from goimglint.engine import Analysis
from goimglint.facts.model import BinaryFacts
from tests.field.artefacts import ARTEFACTS, debian_package_version
from tests.field.conftest import BIN_DIR
from tests.field.oracle import ld_trace, relocation_errors, run_in_root

pytestmark = pytest.mark.root

ROOTS = ("debian", "libc6", "musl", "musl-compat", "scratch")
# Findings that say "this binary will not start".
START_ERRORS = {"GIL101", "GIL102", "GIL103", "GIL104", "GIL105"}


def _binary(analysis: Analysis, name: str) -> BinaryFacts:
    path = f"/{BIN_DIR}/{name}"
    for b in analysis.facts.binaries:
        if b.path == path:
            return b
    raise AssertionError(f"{path} is not among the binaries goimglint reports")


@pytest.mark.parametrize("root_name", ROOTS)
@pytest.mark.parametrize("name", sorted(ARTEFACTS))
def test_start_matches_reality(root_name: str, name: str, artefact: Callable[[str], Path],
                               field_roots: dict[str, Path],
                               analyses: Callable[[str], Analysis]) -> None:
    artefact(name)
    analysis = analyses(root_name)
    root = field_roots[root_name]
    b = _binary(analysis, name)
    assert b.go is not None and b.load is not None
    if not b.load.expected_machine and b.load.machine != platform.machine():
        # A root directory with neither an image config nor a C library names no platform:
        # whether a foreign binary runs depends on the host, which the model does not assume.
        pytest.skip(f"{root_name} root has no platform to compare {b.load.machine} against")
    real = run_in_root(root, [f"/{BIN_DIR}/{name}", *ARTEFACTS[name].argv])
    assert b.load.starts is not None, b.load.notes
    assert b.load.starts == (not real.loader_failed), (real.exec_error, real.stderr[:500],
                                                       b.load.failure)
    if not b.load.starts and not real.exec_error:
        # The first line the loader prints is the failure the model predicts.
        assert real.stderr.splitlines()[0] == b.load.failure or (
            b.load.failure in real.stderr.splitlines()[0]), (real.stderr[:300], b.load.failure)
    errors = {f.rule_id for f in analysis.findings
              if f.binary == b.path and f.rule_id in START_ERRORS and not f.uncertain
              and f.variant != "compat"}
    assert bool(errors) == real.loader_failed, (errors, real.stderr[:300])


@pytest.mark.parametrize("root_name", ("debian", "libc6"))
@pytest.mark.parametrize("name", sorted(ARTEFACTS))
def test_glibc_library_paths_match_ld_trace(root_name: str, name: str,
                                            artefact: Callable[[str], Path],
                                            field_roots: dict[str, Path],
                                            analyses: Callable[[str], Analysis]) -> None:
    artefact(name)
    b = _binary(analyses(root_name), name)
    assert b.load is not None
    if b.load.static:
        assert b.load.loader == "kernel" and b.load.starts == (not b.load.arch_mismatch)
        return
    trace = ld_trace(field_roots[root_name], f"/{BIN_DIR}/{name}")
    assert trace, "ld.so printed no trace"
    real_found = {n: p for n, p in trace.items()
                  if p not in (None, "not found") and n != "linux-vdso.so.1"}
    real_missing = {n for n, p in trace.items() if p == "not found"}
    model_found = {d.name: d.path for d in b.load.dependencies
                   if d.found and d.how != "interpreter"}
    assert model_found == real_found
    assert set(b.load.unresolved) == real_missing
    # The interpreter line of the trace is the PT_INTERP path the model resolved.
    assert b.load.interpreter in trace and b.load.interpreter_found


@pytest.mark.parametrize("name", sorted(ARTEFACTS))
def test_musl_relocation_errors_match(name: str, artefact: Callable[[str], Path],
                                      field_roots: dict[str, Path],
                                      analyses: Callable[[str], Analysis]) -> None:
    """A glibc binary run by musl through the glibc loader name: musl binds every symbol at
    start-up and names each one it cannot find. goimglint must name the same ones."""
    artefact(name)
    b = _binary(analyses("musl-compat"), name)
    assert b.load is not None
    real = run_in_root(field_roots["musl-compat"], [f"/{BIN_DIR}/{name}",
                                                    *ARTEFACTS[name].argv])
    model = {(m.requester, m.symbol) for m in b.load.missing_symbols}
    assert model == relocation_errors(real)


@pytest.mark.parametrize("root_name,package", [("debian", "libc6"), ("libc6", "libc6"),
                                               ("musl", "musl"), ("musl-compat", "musl")])
def test_libc_version_matches_debian_package(root_name: str, package: str,
                                             field_roots: dict[str, Path],
                                             analyses: Callable[[str], Analysis]) -> None:
    """The C library version goimglint reads from the image's own libc (glibc's Verdef,
    musl's __libc_version string) against the Debian package that installed it."""
    system = analyses(root_name).facts.system
    if root_name == "debian":
        status = (field_roots[root_name] / "var/lib/dpkg/status").read_text()
        block = status.split(f"Package: {package}\n", 1)[1].split("\n\n", 1)[0]
        version = re.search(r"^Version: (\S+)", block, re.M)
        assert version is not None
        upstream = version.group(1)
    else:
        upstream = debian_package_version(package).split("_")[1]
    upstream = re.sub(r"^\d+:", "", upstream).split("-")[0]  # epoch and Debian revision
    assert system.libc == ("musl" if package == "musl" else "glibc")
    assert system.libc_version == upstream
