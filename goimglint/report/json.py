"""JSON report: a documented, stable schema (docs/json-output.md, ``schema_version`` 1).

Fields are only ever added within a schema version; renames and removals bump it."""

from __future__ import annotations

import json
from typing import Any

from goimglint import __version__
from goimglint.catalog import Catalog
from goimglint.findings import Level, ReportedFinding
from goimglint.present import TargetResult

SCHEMA_VERSION = 1


def _counts(findings: list[ReportedFinding]) -> dict[str, int]:
    counts = {level.value: 0 for level in Level}
    suppressed = 0
    for f in findings:
        if f.suppressed:
            suppressed += 1
        else:
            counts[f.level.value] += 1
    return {**counts, "suppressed": suppressed}


def jsonable(value: Any, depth: int = 0) -> Any:
    """Evidence as JSON types: tuples/sets become lists, bytes hex, other objects str."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > 20:
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Level):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((jsonable(v, depth + 1) for v in value), key=str)
    return str(value)


def finding_to_dict(f: ReportedFinding) -> dict[str, Any]:
    return {
        "rule": f.rule_id,
        "name": f.rule_name,
        "level": f.level.value,
        "message": f.message,
        "path": f.path or None,
        "binary": f.binary or None,
        "layer": None if f.layer is None else {
            "index": f.layer,
            "digest": f.layer_digest or None,
        },
        "instruction": f.instruction or None,
        "dockerfile": None if f.dockerfile_line is None else {
            "path": f.dockerfile_path,
            "start_line": f.dockerfile_line,
            "end_line": f.dockerfile_end_line or f.dockerfile_line,
        },
        "evidence": jsonable(f.evidence),
        "fixes": [{"description": fix.description, "command": fix.command or None,
                   "dockerfile": fix.dockerfile or None} for fix in f.fixes],
        "fingerprint": f.fingerprint,
        "uncertain": f.uncertain,
        "suppressed": f.suppressed or None,
    }


def to_document(results: list[TargetResult], catalog: Catalog) -> dict[str, Any]:
    targets = []
    everything: list[ReportedFinding] = []
    for result in results:
        everything.extend(result.findings)
        targets.append({
            "image": result.context.reference,
            "repository": result.context.repository,
            "platform": result.context.platform,
            "summary": _counts(result.findings),
            "notes": list(result.notes),
            "findings": [finding_to_dict(f) for f in result.findings],
        })
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "goimglint", "version": __version__},
        "summary": {**_counts(everything), "targets": len(results)},
        "targets": targets,
    }


def render_json(results: list[TargetResult], catalog: Catalog) -> str:
    """The JSON report (UTF-8 text, trailing newline). Evidence values that are not JSON
    types are written as strings."""
    return json.dumps(to_document(results, catalog), indent=2, ensure_ascii=False,
                      default=str) + "\n"
