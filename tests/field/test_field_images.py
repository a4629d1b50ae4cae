"""Real images (buildah) of the field roots through the CLI: no crash with
GOIMGLINT_DEBUG=1 (a bug raises instead of being reported), bounded time, SARIF that the
schema and Microsoft's SARIF Multitool accept, and the same start/resolver verdicts as the
analysis of the unpacked root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from goimglint.engine import Analysis
from tests.field.artefacts import Unavailable, debian_package
from tests.field.conftest import BIN_DIR
from tests.field.images import ImageRecipe, build_image
from tests.report.reporthelp import multitool_path, run_multitool, validate_schema

REPO_ROOT = Path(__file__).resolve().parents[2]
LINT_SECONDS = 60
# Rules whose verdicts depend only on files, so the image and its unpacked root must agree
# (GIL104 depends on the config's architecture, which a root directory does not have).
FILE_RULES = ("GIL101", "GIL102", "GIL103", "GIL105", "GIL110", "GIL30", "GIL40")

pytestmark = pytest.mark.root


def _recipes(field_artefacts: dict[str, Path], bookworm_tar: Path, work: Path
             ) -> dict[str, ImageRecipe]:
    def files(*names: str) -> dict[str, Path]:
        return {f"/{BIN_DIR}/{n}": p for n, p in field_artefacts.items()
                if not names or n in names}

    recipes = {
        "debian": ImageRecipe("debian", "oci-archive", base_tar=bookworm_tar, files=files(),
                              entrypoint=[f"/{BIN_DIR}/fzf", "--version"]),
        "scratch": ImageRecipe("scratch", "docker-archive",
                               files=files("dive", "dive-arm64", "fzf", "age"),
                               entrypoint=[f"/{BIN_DIR}/dive"]),
    }
    try:
        musl = debian_package("musl")
    except Unavailable:
        return recipes
    # The glibc loader name pointing at musl, as in the musl-compat root.
    compat = work / "compat"
    (compat / "lib64").mkdir(parents=True)
    (compat / "lib64/ld-linux-x86-64.so.2").symlink_to("/lib/ld-musl-x86_64.so.1")
    recipes["musl-compat"] = ImageRecipe("musl-compat", "docker-archive",
                                         trees=[musl, compat],
                                         files=files("fzf", "age", "runc", "hugo-deb"),
                                         entrypoint=[f"/{BIN_DIR}/fzf"])
    return recipes


@pytest.fixture(scope="module")
def field_images(field_artefacts: dict[str, Path], bookworm_tar: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out: dict[str, Path] = {}
    reasons = []
    work = tmp_path_factory.mktemp("field-images")
    for name, recipe in _recipes(field_artefacts, bookworm_tar, work).items():
        try:
            out[name] = build_image(recipe)
        except Unavailable as exc:
            reasons.append(f"{name}: {exc}")
    if not out:
        pytest.skip("no image could be built: " + "; ".join(reasons))
    return out


def _cli(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = dict(os.environ, GOIMGLINT_DEBUG="1",
               PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "goimglint", *args], capture_output=True,
                          text=True, cwd=REPO_ROOT, env=env, timeout=600)
    return proc, time.monotonic() - start


@pytest.mark.parametrize("image_name", ("debian", "scratch", "musl-compat"))
def test_image_lints_and_agrees_with_its_root(image_name: str, field_images: dict[str, Path],
                                              analyses: Callable[[str], Analysis]) -> None:
    if image_name not in field_images:
        pytest.skip(f"image {image_name} could not be built")
    image = field_images[image_name]
    proc, seconds = _cli("lint", "--format", "json", "--fail-on", "never", "--today",
                         "2026-11-28", "--no-progress", str(image))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert seconds < LINT_SECONDS, f"lint took {seconds:.1f} s"
    (target,) = json.loads(proc.stdout)["targets"]
    from_image = {(f["rule"], f["path"], f["level"]) for f in target["findings"]
                  if f["rule"].startswith(FILE_RULES)}
    proc, _ = _cli("inspect", "--format", "json", "--no-progress", str(image))
    assert proc.returncode == 0, proc.stderr[-2000:]
    binaries = {b["path"]: b for b in json.loads(proc.stdout)["images"][0]["binaries"]}
    root_analysis = analyses(image_name)  # the root has every artefact, the image a few
    from_root = set()
    for f in root_analysis.findings:
        if f.rule_id.startswith(FILE_RULES) and (f.binary is None or f.binary in binaries):
            from_root.add((f.rule_id, f.path, f.uncertain))
    assert {(r, p) for r, p, _lvl in from_image} == {(r, p) for r, p, _u in from_root}
    for b in root_analysis.facts.binaries:
        if b.path in binaries and b.load is not None and b.load.expected_machine:
            assert binaries[b.path]["load"]["starts"] == b.load.starts, b.path


def test_sarif_passes_schema_and_multitool(field_images: dict[str, Path],
                                           tmp_path: Path) -> None:
    sarif = tmp_path / "all.sarif"
    proc, seconds = _cli("lint", "--format", "sarif", "-o", str(sarif), "--fail-on", "never",
                         "--today", "2026-11-28", "--no-progress",
                         *map(str, field_images.values()))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert seconds < LINT_SECONDS * len(field_images), f"lint took {seconds:.1f} s"
    doc = json.loads(sarif.read_text())
    validate_schema(doc)
    assert sum(len(run["results"]) for run in doc["runs"]) > 0
    exe = multitool_path()
    if exe is None:
        pytest.skip("SARIF Multitool not installed (scripts/install-test-deps)")
    problems = run_multitool(exe, sarif)
    assert not problems, json.dumps(problems, indent=1)[:3000]
