"""The lint command: analyse every input, present findings, write the report, pick the exit
code. Kept apart from cli.py so that it can be driven without a command line."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from goimglint.image.model import Platform


class ProgressSink(Protocol):
    def status(self, label: str) -> None: ...
    def update(self, done: int, total: int) -> None: ...
    def clear(self) -> None: ...


class _NoProgress:
    def status(self, label: str) -> None:
        pass

    def update(self, done: int, total: int) -> None:
        pass

    def clear(self) -> None:
        pass


@dataclass
class LintOptions:
    images: list[str]
    format: str = "text"
    output: Path | None = None
    fail_on: str | None = None
    platform: Platform | None = None
    image: str | None = None
    config: Path | None = None
    dockerfile: Path | None = None
    baseline: Path | None = None
    write_baseline: Path | None = None
    today: str = ""
    quiet: bool = False
    progress: Any = field(default_factory=_NoProgress)


LEVEL_RANK = {"note": 1, "warning": 2, "error": 3}


def run_lint(opts: LintOptions) -> int:
    from goimglint import config as config_mod
    from goimglint.catalog import load_catalog
    from goimglint.engine import analyse
    from goimglint.present import ImageContext, TargetResult, present_findings

    catalog = load_catalog()
    settings = config_mod.load_config(opts.config, Path.cwd())
    settings.validate(catalog)
    today = _parse_today(opts.today)
    results: list[TargetResult] = []
    try:
        for analysis in analyse(opts.images, image=opts.image, platform=opts.platform,
                                today=opts.today, status=opts.progress.status,
                                progress=opts.progress.update):
            facts = analysis.facts
            context = ImageContext(
                reference=facts.reference, repository=facts.repository,
                platform=facts.platform, layers=facts.layers,
                history=facts.config.history, labels=facts.config.labels,
            )
            result = TargetResult(context=context,
                                  findings=present_findings(analysis.findings, catalog, context),
                                  notes=list(facts.notes))
            config_mod.apply_config([result], settings, catalog, today=today)
            results.append(result)
    finally:
        opts.progress.clear()

    if opts.dockerfile is not None:
        from goimglint.dockerfile import DockerfileError
        from goimglint.errors import UsageError
        from goimglint.present import attach_dockerfile

        try:
            attach_dockerfile(results, opts.dockerfile)
        except DockerfileError as exc:
            raise UsageError(f"--dockerfile {opts.dockerfile}: {exc}") from None
    if opts.baseline is not None:
        from goimglint.baseline import apply_baseline, load_baseline

        apply_baseline(results, load_baseline(opts.baseline))
    if opts.write_baseline is not None:
        from goimglint.baseline import write_baseline

        write_baseline(results, catalog, opts.write_baseline)

    text = _render(opts, results, catalog)
    write_report(text, opts.output)
    fail_on = opts.fail_on or getattr(settings, "fail_on", None) or "error"
    return exit_code(results, fail_on)


def _parse_today(text: str) -> Any:
    """--today YYYY-MM-DD as a date (None: the real today)."""
    import datetime as dt

    from goimglint.errors import UsageError

    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--today must be YYYY-MM-DD, got {text!r}") from None


def _render(opts: LintOptions, results: list[Any], catalog: Any) -> str:
    if opts.format == "json":
        from goimglint.report.json import render_json

        return render_json(results, catalog)
    if opts.format == "sarif":
        from goimglint.report.sarif import render_sarif

        return render_sarif(results, catalog,
                            str(opts.dockerfile) if opts.dockerfile is not None else None)
    from goimglint.report.text import render_text

    color = opts.output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    text = render_text(results, catalog, color)
    if opts.quiet:
        text = "\n".join(line for line in text.splitlines()
                         if not line.startswith("goimglint: ")) + "\n"
    return text


def write_report(text: str, output: Path | None) -> None:
    """Standard output, or ``output`` replaced atomically (a reader never sees half a file)."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, output)


def exit_code(results: list[Any], fail_on: str) -> int:
    if fail_on == "never":
        return 0
    floor = LEVEL_RANK[fail_on]
    for result in results:
        for f in result.findings:
            if not f.suppressed and LEVEL_RANK[f.level.value] >= floor:
                return 1
    return 0
