"""Run the pipeline for each input: open targets, load each image into a merged filesystem in a
temp dir, derive facts, run the rules. Reporters get the results; nothing here prints."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from goimglint.facts.model import ImageFacts
from goimglint.findings import Finding
from goimglint.image.model import Platform

StatusFn = Callable[[str], None]
ProgressFn = Callable[[int, int], None]


@dataclass(slots=True)
class Analysis:
    """Facts and raw findings of one image target."""

    spec: str  # the input as the user named it
    source_format: str
    facts: ImageFacts
    findings: list[Finding]


def run_checks(facts: ImageFacts, select: Iterable[str] | None = None) -> list[Finding]:
    """Every finding of every rule (or of the selected rules), in rule-id order."""
    from goimglint.checks import all_checks

    wanted = set(select) if select is not None else None
    findings: list[Finding] = []
    for rule_id, check in sorted(all_checks().items()):
        if wanted is not None and rule_id not in wanted:
            continue
        findings.extend(check(facts))
    return findings


def analyse(
    specs: list[str],
    image: str | None = None,
    platform: Platform | None = None,
    today: str = "",
    with_findings: bool = True,
    status: StatusFn | None = None,
    progress: ProgressFn | None = None,
) -> Iterator[Analysis]:
    """Yield one Analysis per image target of every input, each loaded in its own temp dir
    that is removed before the next one is loaded (and on any error or interrupt)."""
    from goimglint.facts.collect import collect_facts
    from goimglint.image.archive import open_targets

    for spec in specs:
        # Not tempfile.mkdtemp: a Ctrl-C between its mkdir and its return would leak the dir.
        # The name is known before the mkdir, so the finally removes it whenever it exists.
        open_dir = os.path.join(tempfile.gettempdir(), f"goimglint-{secrets.token_hex(8)}")
        try:
            try:
                os.mkdir(open_dir, 0o700)
            except FileExistsError:
                open_dir = ""  # not ours (a 64-bit collision): never remove it
                raise
            targets = open_targets(spec, open_dir, image=image, platform=platform)
            for target in targets:
                load_dir = tempfile.mkdtemp(prefix="goimglint-", dir=open_dir)
                try:
                    if status is not None:
                        status(f"reading {target.reference}")
                    loaded = target.load(load_dir, progress=progress)
                    facts = collect_facts(loaded, today=today)
                    findings = run_checks(facts) if with_findings else []
                    yield Analysis(spec, loaded.source_format, facts, findings)
                finally:
                    _remove_dir(load_dir)
        finally:
            if open_dir:
                _remove_dir(open_dir)


def _remove_dir(path: str) -> None:
    """Remove a temp dir even when Ctrl-C lands during the removal itself."""
    try:
        shutil.rmtree(path, ignore_errors=True)
    except KeyboardInterrupt:
        shutil.rmtree(path, ignore_errors=True)
        raise
