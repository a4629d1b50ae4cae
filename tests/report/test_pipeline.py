"""End to end through the lint pipeline on real images: every bundled fixture image and images
built by buildah from Dockerfiles produce SARIF that passes the schema and the multitool,
findings land on the right Dockerfile lines, labels and config suppress, fingerprints survive
a rebuild under a new tag with new digests, and --fail-on picks the exit code."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from reporthelp import multitool_path, run_multitool, validate_schema

from goimglint.lint import LintOptions, run_lint

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "fixtures" / "example").glob("*.tar"))

GO_SHIM = """#!/bin/sh
# Stands in for the Go toolchain in a FROM scratch builder stage: copies the real prebuilt
# cgo Go binary to the -o path, so the RUN line reads like the go build it stands for.
while [ $# -gt 0 ]; do
  if [ "$1" = "-o" ]; then out="$2"; fi
  shift
done
/bin/busybox mkdir -p "$(/bin/busybox dirname "$out")"
/bin/busybox cp /prebuilt/hello "$out"
"""

DOCKERFILE = """\
FROM scratch AS builder
COPY busybox /bin/sh
COPY busybox /bin/busybox
COPY go /usr/local/bin/go
COPY hello /prebuilt/hello
RUN /bin/busybox mkdir -p /src && \\
    cd /src && \\
    CGO_ENABLED=1 go build \\
      -o /out/app .

FROM scratch
LABEL io.goimglint.ignore=GIL110
COPY version.txt /etc/version
COPY --from=builder /out/app /app
ENTRYPOINT ["/app"]
"""


def _lint(tmp_path: Path, images: list[str], fmt: str, **kw: Any) -> tuple[int, str]:
    out = tmp_path / f"out.{fmt}"
    code = run_lint(LintOptions(images=images, format=fmt, output=out, **kw))
    return code, out.read_text()


@pytest.fixture(scope="module")
def multitool() -> Path:
    exe = multitool_path()
    if exe is None:
        pytest.skip("SARIF multitool not installed (npm install @microsoft/sarif-multitool-linux)")
    return exe


@pytest.mark.parametrize("image", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_fixture_images_sarif_is_clean(image: Path, tmp_path: Path, multitool: Path) -> None:
    _code, text = _lint(tmp_path, [str(image)], "sarif", fail_on="never")
    doc = json.loads(text)
    validate_schema(doc)
    assert doc["runs"] and all("results" in run for run in doc["runs"])
    assert run_multitool(multitool, tmp_path / "out.sarif") == []


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, go_hello_cgo: Path) -> dict[str, Path]:
    """The same Dockerfile built twice by buildah: tags 1 and 2, different /etc/version
    content (so different layer digests), exported as docker-archive tars."""
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed (apt-get install buildah)")
    busybox = shutil.which("busybox")
    if busybox is None or "static" not in subprocess.run(
            ["file", "-L", busybox], capture_output=True, text=True).stdout:
        pytest.skip("a static busybox is needed (apt-get install busybox-static)")
    ctx = tmp_path_factory.mktemp("pipeline")
    shutil.copy(busybox, ctx / "busybox")
    shutil.copy(go_hello_cgo, ctx / "hello")
    (ctx / "go").write_text(GO_SHIM)
    (ctx / "go").chmod(0o755)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    out: dict[str, Path] = {"Dockerfile": ctx / "Dockerfile"}
    common = ["buildah", "--storage-driver", "vfs"]
    for tag in ("1", "2"):
        (ctx / "version.txt").write_text(f"version {tag}\n")
        ref = f"localhost/goimglint-test-pipeline:{tag}"
        subprocess.run([*common, "bud", "--layers", "--isolation", "chroot", "-f",
                        str(ctx / "Dockerfile"), "-t", ref, str(ctx)],
                       check=True, capture_output=True, timeout=300)
        tar = ctx / f"image-{tag}.tar"
        tar.unlink(missing_ok=True)
        subprocess.run([*common, "push", ref, f"docker-archive:{tar}:{ref}"], check=True,
                       capture_output=True, timeout=300)
        out[tag] = tar
    return out


@pytest.mark.root
def test_dockerfile_lines_labels_and_exit_codes(built: dict[str, Path], tmp_path: Path,
                                                multitool: Path) -> None:
    code, text = _lint(tmp_path, [str(built["1"])], "sarif", fail_on="warning",
                       dockerfile=built["Dockerfile"])
    doc = json.loads(text)
    validate_schema(doc)
    assert run_multitool(multitool, tmp_path / "out.sarif") == []
    results = doc["runs"][0]["results"]
    by_rule = {r["ruleId"]: r for r in results}
    assert "GIL101" in by_rule, [r["ruleId"] for r in results]
    missing = by_rule["GIL101"]
    region = missing["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["endLine"]) == (6, 9)  # the go build RUN
    assert "suppressions" not in missing
    # the image label suppresses GIL110, which stays in the SARIF as suppressed
    assert by_rule["GIL110"]["suppressions"][0]["justification"].startswith("image label")
    assert code == 1  # GIL101 is an error
    code, _ = _lint(tmp_path, [str(built["1"])], "json", fail_on="never")
    assert code == 0


def _config_digest(archive: Path) -> str:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        return str(json.loads(member.read())[0]["Config"])


@pytest.mark.root
def test_fingerprints_equal_across_tags_and_digests(built: dict[str, Path],
                                                    tmp_path: Path) -> None:
    docs = []
    for tag in ("1", "2"):
        _code, text = _lint(tmp_path, [str(built[tag])], "json", fail_on="never")
        docs.append(json.loads(text))
    one, two = (d["targets"][0] for d in docs)
    assert one["image"] != two["image"]
    assert one["repository"] == two["repository"]
    assert _config_digest(built["1"]) != _config_digest(built["2"])  # a different image
    assert sorted(f["fingerprint"] for f in one["findings"]) == \
        sorted(f["fingerprint"] for f in two["findings"])
    # baseline from build 1 -> build 2 reports nothing new
    baseline = tmp_path / "baseline.json"
    _lint(tmp_path, [str(built["1"])], "json", fail_on="never", write_baseline=baseline)
    code, text = _lint(tmp_path, [str(built["2"])], "json", fail_on="note", baseline=baseline)
    assert code == 0
    assert json.loads(text)["summary"]["error"] == 0


@pytest.mark.root
def test_config_ignore_with_expiry(built: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "goimglint.toml"
    config.write_text('fail-on = "error"\n[[ignores]]\nrules = ["GIL101"]\npaths = ["/app"]\n'
                      'reason = "tracked in OPS-1"\nexpires = 2030-01-01\n')
    code, text = _lint(tmp_path, [str(built["1"])], "json", config=config, today="2029-12-31")
    assert code == 0
    doc = json.loads(text)
    assert any(f["suppressed"] == "config: tracked in OPS-1" for f in doc["targets"][0]["findings"])
    code, text = _lint(tmp_path, [str(built["1"])], "json", config=config, today="2030-01-02")
    assert code == 1
    assert any("expired on 2030-01-01" in n for n in json.loads(text)["targets"][0]["notes"])
