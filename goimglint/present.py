"""From rule findings to what the reporters print.

``present_findings`` applies the rule catalog (level, message and fix templates) and the image
context (reference, platform, the layer and history instruction behind each finding) and
computes a fingerprint that survives a rebuild under a new tag or digest.
``attach_dockerfile`` then points findings at Dockerfile lines when ``--dockerfile`` is given."""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goimglint.catalog import Catalog, format_arg, render_template
from goimglint.dockerfile import (
    DockerfileError,
    HistoryMap,
    locate,
    map_history,
    parse_created_by,
    parse_dockerfile,
)
from goimglint.findings import Finding, Level, ReportedFinding, SuggestedFix
from goimglint.image.model import HistoryEntry, LayerInfo

if TYPE_CHECKING:
    from goimglint.facts.model import ImageFacts

FINGERPRINT_KEY = "goimglint/v1"  # partialFingerprints key; bump when the recipe changes

# Which Dockerfile instruction sets each image config key.
CONFIG_INSTRUCTION = {
    "Env": "ENV", "User": "USER", "Entrypoint": "ENTRYPOINT", "Cmd": "CMD",
    "WorkingDir": "WORKDIR", "Labels": "LABEL", "ExposedPorts": "EXPOSE",
    "Volumes": "VOLUME", "StopSignal": "STOPSIGNAL", "Healthcheck": "HEALTHCHECK",
    "Shell": "SHELL",
}
# Finding evidence/args keys that name the environment variable an Env finding is about.
ENV_NAME_KEYS = ("variable", "env_var", "env_name")


@dataclass(slots=True)
class ImageContext:
    """The image a set of findings is about."""

    reference: str  # as given or as the archive names it
    repository: str  # reference without tag or digest
    platform: str  # "linux/amd64"
    layers: list[LayerInfo] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)  # config.history
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_facts(cls, facts: ImageFacts) -> ImageContext:
        return cls(facts.reference, facts.repository or strip_reference(facts.reference),
                   facts.platform, list(facts.layers), list(facts.config.history),
                   dict(facts.config.labels))


@dataclass(slots=True)
class TargetResult:
    """Everything reported about one image and platform."""

    context: ImageContext
    findings: list[ReportedFinding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def active(self) -> list[ReportedFinding]:
        return [f for f in self.findings if not f.suppressed]

    @property
    def suppressed(self) -> list[ReportedFinding]:
        return [f for f in self.findings if f.suppressed]


def strip_reference(reference: str) -> str:
    """``ghcr.io/acme/app:1.2@sha256:...`` -> ``ghcr.io/acme/app``; Docker Hub's implicit
    ``docker.io/library/`` prefix is dropped so both spellings give one repository."""
    ref = reference.strip()
    ref = ref.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref = ref[:colon]
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/"):
        if ref.startswith(prefix) and ref.count("/") >= 1:
            ref = ref[len(prefix):]
            break
    return ref


def fingerprint(rule_id: str, repository: str, path: str, key: Sequence[Any]) -> str:
    """Stable identity of a finding across rebuilds: rule, repository (no tag/digest),
    in-image path and the evidence the rule names as key."""
    parts = [rule_id, strip_reference(repository), posixpath.normpath(path) if path else "",
             *(format_arg(k) for k in key)]
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:32]


def resolve_level(finding: Finding, catalog: Catalog) -> Level:
    rule = catalog.get(finding.rule_id)
    level = rule.level if rule else Level.WARNING
    if rule and finding.variant and finding.variant in rule.variants:
        variant_level = rule.variants[finding.variant].level
        if variant_level is not None:
            level = variant_level
    if finding.level is not None:
        level = finding.level
    return level


def _template_args(finding: Finding, context: ImageContext) -> dict[str, Any]:
    args: dict[str, Any] = {
        "path": finding.path or None,
        "binary": finding.binary or None,
        "binary_name": posixpath.basename(finding.binary or finding.path) or None,
        "image": context.reference,
        "repository": context.repository,
        "platform": context.platform,
        "layer": finding.layer,
        "config_key": finding.config_key or None,
    }
    args.update(finding.args)
    return args


def render_message(finding: Finding, catalog: Catalog, context: ImageContext) -> str:
    rule = catalog.get(finding.rule_id)
    if rule is None:
        return f"{finding.rule_id} reported {finding.path or finding.binary or 'the image'}."
    template = rule.message
    if finding.variant and finding.variant in rule.variants:
        template = rule.variants[finding.variant].message or template
    return render_template(template, _template_args(finding, context))


def render_fixes(finding: Finding, catalog: Catalog, context: ImageContext
                 ) -> list[SuggestedFix]:
    rule = catalog.get(finding.rule_id)
    if rule is None:
        return []
    args = _template_args(finding, context)
    out: list[SuggestedFix] = []
    for fix in rule.fixes:
        if fix.when and not args.get(fix.when):
            continue
        out.append(SuggestedFix(render_template(fix.description, args),
                                render_template(fix.command, args),
                                render_template(fix.dockerfile, args),
                                fix.replaces_instruction))
    return out


def history_index_for(finding: Finding, context: ImageContext) -> int | None:
    """The config history entry behind a finding: the one that produced its layer, or the
    last instruction that set its config key (for Env, the last ENV naming the variable)."""
    if finding.layer is not None:
        for i, entry in enumerate(context.history):
            if entry.layer_index == finding.layer and not entry.empty_layer:
                return i
        non_empty = [i for i, e in enumerate(context.history) if not e.empty_layer]
        if 0 <= finding.layer < len(non_empty) and len(non_empty) == len(context.layers):
            return non_empty[finding.layer]
        return None
    keyword = CONFIG_INSTRUCTION.get(finding.config_key)
    if keyword is None:
        return None
    candidates = [i for i, e in enumerate(context.history)
                  if parse_created_by(e.created_by).keyword == keyword]
    if not candidates:
        return None
    if keyword == "ENV":
        name = next((str(src[k]) for src in (finding.evidence, finding.args)
                     for k in ENV_NAME_KEYS if src.get(k)), "")
        if name:
            pattern = re.compile(rf"(^|\s){re.escape(name)}[=\s]")
            named = [i for i in candidates
                     if pattern.search(parse_created_by(context.history[i].created_by).body)]
            if named:
                return named[-1]
    return candidates[-1]


def present_findings(findings: Iterable[Finding], catalog: Catalog, context: ImageContext
                     ) -> list[ReportedFinding]:
    """Findings with rule metadata and image context applied, sorted for stable output
    (level, rule, path)."""
    layers = {layer.index: layer for layer in context.layers}
    out: list[ReportedFinding] = []
    for finding in findings:
        rule = catalog.get(finding.rule_id)
        hist = history_index_for(finding, context)
        layer_info = layers.get(finding.layer) if finding.layer is not None else None
        instruction = ""
        if hist is not None:
            instruction = context.history[hist].created_by
        elif layer_info is not None:
            instruction = layer_info.created_by
        key = finding.key or ((finding.config_key,) if finding.config_key else ())
        out.append(ReportedFinding(
            rule_id=finding.rule_id,
            rule_name=rule.name if rule else finding.rule_id,
            level=resolve_level(finding, catalog),
            message=render_message(finding, catalog, context),
            image=context.reference,
            repository=context.repository,
            platform=context.platform,
            path=finding.path,
            binary=finding.binary,
            layer=finding.layer,
            layer_digest=(layer_info.digest or layer_info.diff_id) if layer_info else "",
            instruction=instruction,
            evidence=dict(finding.evidence),
            fixes=render_fixes(finding, catalog, context),
            fingerprint=fingerprint(finding.rule_id, context.repository,
                                    finding.path or finding.binary, key),
            uncertain=finding.uncertain,
            history_index=hist,
        ))
    out.sort(key=lambda f: (-f.level.rank, f.rule_id, f.path, f.binary, f.fingerprint))
    return out


# --- Dockerfile locations --------------------------------------------------------------------

def repo_relative(path: str | os.PathLike[str], start: Path | None = None) -> str:
    """``path`` relative to the enclosing git checkout (else the working directory), in
    forward-slash form: what SARIF ``artifactLocation.uri`` and GitHub expect."""
    p = Path(path).absolute()
    base = Path(start or Path.cwd()).absolute()
    root = base
    for candidate in (base, *base.parents):
        if (candidate / ".git").exists():
            root = candidate
            break
    try:
        rel = p.relative_to(root)
    except ValueError:
        try:
            rel = Path(os.path.relpath(p, base))
        except ValueError:
            rel = Path(p.name)
    text = rel.as_posix()
    return p.name if text.startswith("../") or not text or text == "." else text


def attach_dockerfile(results: Iterable[TargetResult], dockerfile: str | os.PathLike[str],
                      start: Path | None = None) -> list[str]:
    """Point every finding at the Dockerfile instruction that produced its layer or setting.

    Returns notes (one per image whose history could not be matched to the Dockerfile)."""
    path = Path(dockerfile)
    try:
        parsed = parse_dockerfile(path.read_bytes())
    except OSError as exc:
        raise DockerfileError(f"cannot read {path}: {exc.strerror or exc}") from None
    uri = repo_relative(path, start)
    notes: list[str] = []
    for result in results:
        hmap: HistoryMap = map_history(parsed, [h.created_by for h in result.context.history])
        if not hmap.steps:
            note = (f"{result.context.reference}: its history does not match {uri}; findings "
                    "point at the final stage's FROM line")
            notes.append(note)
            result.notes.append(note)
        for finding in result.findings:
            loc = locate(hmap, finding.history_index, finding.binary or finding.path)
            finding.dockerfile_path = uri
            finding.dockerfile_line = loc.start_line
            finding.dockerfile_end_line = loc.end_line
            certain = loc.reason == "instruction" and loc.exact and loc.instruction is not None
            for fix in finding.fixes:
                # a snippet replaces the instruction at fault only when that instruction is
                # certain and the snippet is the same kind of instruction
                if fix.replaces_instruction and not (
                        certain and loc.instruction is not None and
                        fix.dockerfile.split(None, 1)[:1] == [loc.instruction.keyword]):
                    fix.replaces_instruction = False
    return notes

