"""Baselines: report only findings that are new since an earlier run.

A baseline is any earlier goimglint SARIF or JSON output; findings are matched by their
fingerprint (SARIF ``partialFingerprints["goimglint/v1"]``, JSON ``findings[].fingerprint``),
which ignores the image tag and digest. Findings in the baseline stay in the output as
suppressed ("in baseline"), so SARIF keeps them as ``suppressions`` and the summary counts them.
``--write-baseline FILE`` writes the JSON output, which is itself a baseline."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goimglint.errors import UsageError
from goimglint.present import FINGERPRINT_KEY

if TYPE_CHECKING:
    from goimglint.catalog import Catalog
    from goimglint.present import TargetResult

MAX_BASELINE_BYTES = 256 << 20


class BaselineError(UsageError):
    """The baseline file cannot be read as goimglint SARIF or JSON output (exit code 2)."""


@dataclass(frozen=True, slots=True)
class Baseline:
    fingerprints: frozenset[str]
    source: str = ""

    def __contains__(self, fingerprint: object) -> bool:
        return fingerprint in self.fingerprints


def parse_baseline(data: bytes, source: str = "<baseline>") -> Baseline:
    if len(data) > MAX_BASELINE_BYTES:
        raise BaselineError(f"{source}: baseline larger than 256 MiB")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise BaselineError(f"{source}: not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BaselineError(f"{source}: not goimglint SARIF or JSON output")
    prints: set[str] = set()
    if "runs" in doc:  # SARIF
        runs = doc.get("runs")
        if not isinstance(runs, list):
            raise BaselineError(f"{source}: SARIF without a runs array")
        for run in runs:
            for result in _dicts(run.get("results") if isinstance(run, dict) else None):
                fp = result.get("partialFingerprints")
                if isinstance(fp, dict) and isinstance(fp.get(FINGERPRINT_KEY), str):
                    prints.add(fp[FINGERPRINT_KEY])
    elif "targets" in doc:  # goimglint JSON
        targets = doc.get("targets")
        if not isinstance(targets, list):
            raise BaselineError(f"{source}: JSON without a targets array")
        for target in targets:
            for finding in _dicts(target.get("findings") if isinstance(target, dict) else None):
                if isinstance(finding.get("fingerprint"), str):
                    prints.add(finding["fingerprint"])
    else:
        raise BaselineError(f"{source}: neither goimglint SARIF (runs) nor JSON (targets)")
    return Baseline(frozenset(prints), source)


def _dicts(value: Any) -> Iterable[dict[str, Any]]:
    if isinstance(value, list):
        yield from (v for v in value if isinstance(v, dict))


def load_baseline(path: str | Path) -> Baseline:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
    return parse_baseline(data, str(path))


def apply_baseline(results: Iterable[TargetResult], baseline: Baseline) -> int:
    """Suppress findings already in the baseline; returns how many were."""
    count = 0
    for result in results:
        for finding in result.findings:
            if finding.fingerprint in baseline and not finding.suppressed:
                finding.suppressed = f"in baseline {Path(baseline.source).name}"
                count += 1
    return count


def write_baseline(results: list[TargetResult], catalog: Catalog, path: str | Path) -> None:
    """Write the JSON output (every finding, suppressed ones included) as a baseline."""
    from goimglint.report.json import render_json

    try:
        Path(path).write_text(render_json(results, catalog), encoding="utf-8")
    except OSError as exc:
        raise BaselineError(f"cannot write baseline {path}: {exc.strerror or exc}") from None
