"""SARIF 2.1.0 report for GitHub code scanning, built from sarif-om objects.

One run per image and platform, each with its own ``automationDetails.id`` category (GitHub
rejects several runs of one tool under one category). Every rule of the catalog is in
``tool.driver.rules`` (``ruleIndex`` points into it). Each result has exactly one location:
with ``--dockerfile``, the Dockerfile lines of the instruction behind the finding; without, a
repository-relative path derived from the in-image path (never a URI scheme: GitHub rejects
``docker://`` and ``alpine:3`` URIs), always with ``region.startLine``.

sarif-om has no serializer of its own; :func:`to_sarif_dict` writes its attrs objects using
each field's ``schema_property_name`` metadata, dropping unset (None/empty) fields and fields
equal to their schema default."""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

import attr
from sarif_om import (
    ArtifactChange,
    ArtifactContent,
    ArtifactLocation,
    Fix,
    Location,
    Message,
    MultiformatMessageString,
    PhysicalLocation,
    Region,
    Replacement,
    ReportingConfiguration,
    ReportingDescriptor,
    Result,
    Run,
    RunAutomationDetails,
    SarifLog,
    Suppression,
    Tool,
    ToolComponent,
)

from goimglint import __version__
from goimglint.catalog import Catalog, RuleMeta
from goimglint.findings import ReportedFinding
from goimglint.present import FINGERPRINT_KEY, TargetResult, attach_dockerfile
from goimglint.report.json import jsonable

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
DEFAULT_CATEGORY = "goimglint"
# The project page of the PyPI package this tool is published as (pyproject name).
INFORMATION_URI = "https://pypi.org/project/goimglint/"
# Fields written even when equal to their sarif-om default: GitHub reads result.level.
_ALWAYS_WRITE = {"level"}
# Written even when empty: GitHub wants a results array in every run (GH1014) and rules in
# every driver.
_KEEP_EMPTY = {"results", "rules"}


# --- serializer -----------------------------------------------------------------------------

def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (list, dict, str, tuple)) and len(value) == 0)


def to_sarif_dict(obj: Any) -> Any:
    """A sarif-om object tree as JSON-ready data, with SARIF property names."""
    if attr.has(type(obj)):
        out: dict[str, Any] = {}
        for fld in attr.fields(type(obj)):
            value = getattr(obj, fld.name)
            default = fld.default
            if default is attr.NOTHING:  # required by the schema: always written
                out[fld.metadata.get("schema_property_name", fld.name)] = to_sarif_dict(value)
                continue
            if _empty(value) and not (fld.name in _KEEP_EMPTY and value is not None):
                continue
            if isinstance(default, attr.Factory):  # type: ignore[arg-type]
                default = default.factory()
            if default is not None and value == default and fld.name not in _ALWAYS_WRITE:
                continue
            name = fld.metadata.get("schema_property_name", fld.name)
            converted = to_sarif_dict(value)
            if _empty(converted) and fld.name not in _KEEP_EMPTY:
                continue
            out[name] = converted
        return out
    if isinstance(obj, dict):
        return {str(k): to_sarif_dict(v) for k, v in obj.items() if not _empty(v)}
    if isinstance(obj, (list, tuple)):
        return [to_sarif_dict(v) for v in obj]
    return obj


# --- building -------------------------------------------------------------------------------

def _rule_descriptor(rule: RuleMeta) -> ReportingDescriptor:
    props: dict[str, Any] = {"tags": list(rule.tags), "precision": rule.precision}
    if rule.security_severity is not None:
        props["security-severity"] = rule.security_severity
    return ReportingDescriptor(
        id=rule.id,
        name=rule.name,
        short_description=MultiformatMessageString(text=rule.short_description),
        full_description=MultiformatMessageString(text=rule.full_description),
        help=MultiformatMessageString(text=rule.help_text(), markdown=rule.help),
        default_configuration=ReportingConfiguration(level=rule.level.value),
        properties=props,
    )


_UNSAFE_SEGMENT = re.compile(r"[^A-Za-z0-9._-]+")


def image_path_uri(path: str, fallback: str = "image") -> str:
    """A relative URI for an in-image path: no leading slash, percent-encoded so that no
    segment can read as a scheme (":" is always encoded)."""
    clean = "/".join(p for p in path.split("/") if p not in ("", ".", ".."))
    if not clean:
        clean = fallback
    # a non-UTF-8 name (kept as surrogate escapes) becomes its original bytes, %-encoded
    return urllib.parse.quote(clean, safe="/-._~!$&'()*+,;=@", errors="surrogateescape")


def category_for(result: TargetResult, prefix: str = DEFAULT_CATEGORY) -> str:
    """``<prefix>/<repository>/<platform>/``: the category is everything before the last
    slash, so each image and platform is its own code-scanning analysis."""
    repo = _UNSAFE_SEGMENT.sub("-", result.context.repository).strip("-") or "image"
    platform = _UNSAFE_SEGMENT.sub("-", result.context.platform).strip("-") or "unknown"
    return f"{prefix.strip('/')}/{repo}/{platform}/"


def _location(f: ReportedFinding) -> Location:
    if f.dockerfile_line is not None and f.dockerfile_path:
        uri = image_path_uri(f.dockerfile_path, "Dockerfile")
        region = Region(start_line=f.dockerfile_line,
                        end_line=max(f.dockerfile_end_line or f.dockerfile_line,
                                     f.dockerfile_line))
    else:
        uri = image_path_uri(f.path or f.binary, fallback="image-config")
        region = Region(start_line=1)
    return Location(physical_location=PhysicalLocation(
        artifact_location=ArtifactLocation(uri=uri), region=region))


def _fixes(f: ReportedFinding) -> list[Fix]:
    """SARIF fixes must carry artifactChanges: only Dockerfile edits that are certain."""
    if f.dockerfile_line is None or not f.dockerfile_path:
        return []
    out = []
    for fix in f.fixes:
        if not fix.replaces_instruction or not fix.dockerfile:
            continue
        end = max(f.dockerfile_end_line or f.dockerfile_line, f.dockerfile_line)
        out.append(Fix(
            description=Message(text=_sentence(fix.description)),
            artifact_changes=[ArtifactChange(
                artifact_location=ArtifactLocation(
                    uri=image_path_uri(f.dockerfile_path, "Dockerfile")),
                replacements=[Replacement(
                    # whole lines: without columns a region ends before the line's newline
                    deleted_region=Region(start_line=f.dockerfile_line, end_line=end),
                    inserted_content=ArtifactContent(text=fix.dockerfile.rstrip("\n")))])]))
    return out


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _result(f: ReportedFinding, rule_index: dict[str, int]) -> Result:
    props: dict[str, Any] = {
        "image": f.image,
        "platform": f.platform,
        "path": f.path,
        "binary": f.binary,
        "layer": f.layer,
        "layerDigest": f.layer_digest,
        "instruction": f.instruction,
        "evidence": jsonable(f.evidence),
        "uncertain": f.uncertain or None,
        "suggestedFixes": [
            {k: v for k, v in (("description", fix.description), ("command", fix.command),
                               ("dockerfile", fix.dockerfile)) if v}
            for fix in f.fixes],
    }
    suppressions = None
    if f.suppressed:
        # No status/state: the final 2.1.0 schema calls it "status", the rtm.4 schema that
        # sarif-om and ../shared validate against calls it "state"; absent means accepted.
        suppressions = [Suppression(kind="external", justification=f.suppressed)]
    return Result(
        rule_id=f.rule_id,
        rule_index=rule_index.get(f.rule_id, -1),
        level=f.level.value,
        message=Message(text=_sentence(f.message)),
        locations=[_location(f)],
        partial_fingerprints={FINGERPRINT_KEY: f.fingerprint},
        fixes=_fixes(f) or None,
        suppressions=suppressions,
        properties={k: v for k, v in props.items() if not _empty(v)},
    )


def build_sarif(results: list[TargetResult], catalog: Catalog,
                category: str = DEFAULT_CATEGORY) -> SarifLog:
    rules = list(catalog)
    rule_index = {rule.id: i for i, rule in enumerate(rules)}
    runs = []
    for result in results:
        driver = ToolComponent(
            name="goimglint", version=__version__, semantic_version=__version__,
            information_uri=INFORMATION_URI,
            rules=[_rule_descriptor(r) for r in rules])
        run_props: dict[str, Any] = {
            "image": result.context.reference,
            "repository": result.context.repository,
            "platform": result.context.platform,
            "notes": list(result.notes),
        }
        runs.append(Run(
            tool=Tool(driver=driver),
            automation_details=RunAutomationDetails(id=category_for(result, category)),
            results=[_result(f, rule_index) for f in result.findings],
            column_kind="unicodeCodePoints",
            properties={k: v for k, v in run_props.items() if not _empty(v)},
        ))
    return SarifLog(version=SARIF_VERSION, schema_uri=SARIF_SCHEMA, runs=runs)


def render_sarif(results: list[TargetResult], catalog: Catalog,
                 dockerfile: str | Path | None = None,
                 category: str | None = None) -> str:
    """The SARIF report. With ``dockerfile``, findings not yet located are pointed at its
    lines first (see :func:`goimglint.present.attach_dockerfile`). ``category`` prefixes each
    run's automationDetails.id (default: $GOIMGLINT_SARIF_CATEGORY, else "goimglint"); the
    GitHub Action passes its ``category`` input this way."""
    category = category or os.environ.get("GOIMGLINT_SARIF_CATEGORY") or DEFAULT_CATEGORY
    if dockerfile is not None and any(f.dockerfile_line is None
                                      for r in results for f in r.findings):
        attach_dockerfile(results, dockerfile)
    log = build_sarif(results, catalog, category)
    return json.dumps(to_sarif_dict(log), indent=2, ensure_ascii=False) + "\n"
