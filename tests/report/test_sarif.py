"""SARIF output: valid against the 2.1.0 schema, clean under Microsoft's SARIF Multitool with
GitHub's rules (zero errors, zero warnings), GitHub-shaped locations and fingerprints."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from reporthelp import (
    context_for,
    history_from_created_by,
    multitool_path,
    run_multitool,
    sample_findings,
    sample_results,
    validate_schema,
    write_catalog,
)

from goimglint.catalog import Catalog, load_catalog
from goimglint.findings import Finding
from goimglint.present import TargetResult, present_findings
from goimglint.report.sarif import build_sarif, image_path_uri, render_sarif, to_sarif_dict

DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM golang:1.23 AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \\
    CGO_ENABLED=1 go build -o /out/app ./cmd/app

FROM alpine:3.20
COPY --from=build /out/app /app
ENV GODEBUG=netdns=go+1
ENTRYPOINT ["/app"]
"""


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return load_catalog(write_catalog(tmp_path / "rules"))


@pytest.fixture(scope="module")
def multitool() -> Path:
    exe = multitool_path()
    if exe is None:
        pytest.skip("SARIF multitool not installed (npm install @microsoft/sarif-multitool-linux)")
    return exe


def _check(text: str, tmp_path: Path, multitool: Path, name: str) -> dict[str, Any]:
    doc = json.loads(text)
    validate_schema(doc)
    out = tmp_path / f"{name}.sarif"
    out.write_text(text)
    problems = run_multitool(multitool, out)
    assert problems == [], json.dumps(problems, indent=1)
    return doc


def _multi_results(catalog: Catalog) -> list[TargetResult]:
    """Two images, one of them on two platforms, with suppressed findings and odd paths."""
    results = sample_results(catalog)
    history = history_from_created_by([("COPY dir:0a1b in / ", False),
                                       ("/bin/sh -c #(nop)  ENV GODEBUG=netdns=go+1", True)])
    for platform in ("linux/amd64", "linux/arm/v7"):
        ctx = context_for("registry:5000/team/svc@sha256:" + "ab" * 32, "registry:5000/team/svc",
                          history, platform=platform)
        findings = [
            Finding("GIL901", path="/opt/my app/bin:x", binary="/opt/my app/bin:x", layer=0,
                    args={"interpreter": "/lib/ld-musl-aarch64.so.1"}),
            Finding("GIL903", config_key="Env", args={"netdns": "go+1"}),
        ]
        reported = present_findings(findings, catalog, ctx)
        reported[0].suppressed = "config: vendor binary (OPS-12)"
        results.append(TargetResult(ctx, reported, ["a note"]))
    return results


def test_sarif_without_dockerfile_is_clean(catalog: Catalog, tmp_path: Path,
                                           multitool: Path) -> None:
    doc = _check(render_sarif(_multi_results(catalog), catalog), tmp_path, multitool, "plain")
    runs = doc["runs"]
    assert len(runs) == 3
    categories = [run["automationDetails"]["id"] for run in runs]
    assert len(set(categories)) == 3
    assert all(c.startswith("goimglint/") and c.endswith("/") for c in categories)
    for run in runs:
        rules = run["tool"]["driver"]["rules"]
        assert [r["id"] for r in rules] == ["GIL901", "GIL902", "GIL903"]
        for rule in rules:
            assert rule["name"] and rule["shortDescription"]["text"]
            assert rule["help"]["text"] and rule["help"]["markdown"]
            assert len(rule["fullDescription"]["text"]) <= 1024
            assert 0 < len(rule["properties"]["tags"]) < 10
            assert rule["properties"]["precision"]
            assert ("security-severity" in rule["properties"]) == \
                ("security" in rule["properties"]["tags"])
        for result in run["results"]:
            assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
            assert result["level"] in ("error", "warning", "note")
            assert len(result["locations"]) == 1
            loc = result["locations"][0]["physicalLocation"]
            uri = loc["artifactLocation"]["uri"]
            assert urllib.parse.urlsplit(uri).scheme == "" and not uri.startswith("/")
            assert loc["region"]["startLine"] == 1
            assert len(result["partialFingerprints"]["goimglint/v1"]) == 32
            assert result["properties"]["image"] and result["properties"]["platform"]
            assert "fixes" not in result  # no Dockerfile: no certain edit
    suppressed = [r for run in runs for r in run["results"] if "suppressions" in r]
    assert len(suppressed) == 2
    assert suppressed[0]["suppressions"] == [
        {"kind": "external", "justification": "config: vendor binary (OPS-12)"}]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for run in runs for r in run["results"]}
    assert "opt/my%20app/bin%3Ax" in uris and "app" in uris and "image-config" in uris


def test_sarif_with_dockerfile_points_at_lines(catalog: Catalog, tmp_path: Path,
                                               multitool: Path, monkeypatch: Any) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "deploy").mkdir()
    dockerfile = repo / "deploy" / "Dockerfile"
    dockerfile.write_text(DOCKERFILE)
    monkeypatch.chdir(repo / "deploy")
    results = sample_results(catalog)
    doc = _check(render_sarif(results, catalog, dockerfile), tmp_path, multitool, "dockerfile")
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for result in doc["runs"][0]["results"]:
        by_rule.setdefault(result["ruleId"], []).append(result)
        loc = result["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == "deploy/Dockerfile"
    # /app came from COPY --from=build: its go build RUN (lines 5-6) is the cause
    app = next(r for r in by_rule["GIL901"] if r["properties"]["path"] == "/app")
    assert app["locations"][0]["physicalLocation"]["region"] == {"startLine": 5, "endLine": 6}
    # a file of the alpine base layer points at the final stage's FROM
    base = next(r for r in by_rule["GIL901"] if r["properties"]["path"] != "/app")
    assert base["locations"][0]["physicalLocation"]["region"]["startLine"] == 8
    # the Env finding lands on its ENV line, with a certain edit
    env = by_rule["GIL903"][0]
    assert env["locations"][0]["physicalLocation"]["region"]["startLine"] == 10
    change = env["fixes"][0]["artifactChanges"][0]
    assert change["artifactLocation"]["uri"] == "deploy/Dockerfile"
    assert change["replacements"][0]["deletedRegion"] == {"startLine": 10, "endLine": 10}
    assert change["replacements"][0]["insertedContent"]["text"] == "ENV GODEBUG=netdns=go"


def test_no_edit_when_the_instruction_is_not_certain(catalog: Catalog, tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    # history says ENV GODEBUG but this Dockerfile sets something else: keyword-only match
    dockerfile.write_text(DOCKERFILE.replace("ENV GODEBUG=netdns=go+1", "ENV OTHER=1"))
    doc = json.loads(render_sarif(sample_results(catalog), catalog, dockerfile))
    env = next(r for r in doc["runs"][0]["results"] if r["ruleId"] == "GIL903")
    assert "fixes" not in env
    assert env["properties"]["suggestedFixes"][0]["dockerfile"] == "ENV GODEBUG=netdns=go"


def test_serializer_uses_schema_names_and_drops_unset(catalog: Catalog) -> None:
    doc = to_sarif_dict(build_sarif(sample_results(catalog), catalog))
    text = json.dumps(doc)
    assert '"ruleIndex"' in text and '"rule_index"' not in text
    assert '"partialFingerprints"' in text and "null" not in text
    assert '"rank"' not in text and '"kind": "fail"' not in text
    result = doc["runs"][0]["results"][0]
    assert result["level"] == "error"  # kept although GitHub's default would differ
    assert "$schema" in doc and doc["version"] == "2.1.0"


def test_empty_run_still_has_results_and_rules(tmp_path: Path, multitool: Path) -> None:
    catalog = load_catalog(write_catalog(tmp_path / "rules"))
    ctx = context_for("alpine:3.20", "alpine", [])
    doc = _check(render_sarif([TargetResult(ctx)], catalog), tmp_path, multitool, "empty")
    assert doc["runs"][0]["results"] == []
    assert len(doc["runs"][0]["tool"]["driver"]["rules"]) == 3


def test_image_path_uri_never_has_a_scheme() -> None:
    assert image_path_uri("/usr/bin/app") == "usr/bin/app"
    assert image_path_uri("docker://x") == "docker%3A/x"
    assert image_path_uri("alpine:3/../../etc") == "alpine%3A3/etc"
    assert image_path_uri("", fallback="image-config") == "image-config"
    for path in ("C:/x", "a b/%c", "/a#b?c"):
        assert urllib.parse.urlsplit(image_path_uri(path)).scheme == ""


def test_fingerprints_survive_new_tag_and_digest(catalog: Catalog) -> None:
    first = sample_results(catalog, reference="ghcr.io/acme/app:1.0", salt="a")
    second = sample_results(catalog, reference="ghcr.io/acme/app:1.1@sha256:" + "cd" * 32,
                            salt="b")
    assert first[0].context.layers[0].digest != second[0].context.layers[0].digest
    prints_a = [f.fingerprint for f in first[0].findings]
    prints_b = [f.fingerprint for f in second[0].findings]
    assert prints_a == prints_b
    assert len(set(prints_a)) == len(prints_a)
    other = sample_results(catalog, reference="ghcr.io/acme/other:1.0")
    ctx = other[0].context
    ctx.repository = "ghcr.io/acme/other"
    again = present_findings(sample_findings(), catalog, ctx)
    assert {f.fingerprint for f in again}.isdisjoint(prints_a)
