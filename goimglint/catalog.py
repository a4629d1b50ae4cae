"""The rule catalog: one TOML file per rule under ``rules/`` (``goimglint/_rules`` in a wheel).

Loading validates every field, so a bad rule file fails loudly at start-up (and in the tests)
instead of producing a SARIF file GitHub rejects. Templates are rendered defensively: a
placeholder whose argument is missing stays as written, nothing raises."""

from __future__ import annotations

import re
import string
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goimglint.findings import Level

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

RULE_ID = re.compile(r"^GIL\d{3}$")
PASCAL_CASE = re.compile(r"^[A-Z][a-z0-9]*(?:[A-Z][a-z0-9]*)*$")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TAG = re.compile(r"^[a-z0-9][a-z0-9./-]*$")
PLACEHOLDER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PRECISIONS = ("very-high", "high", "medium", "low")
MAX_TAGS = 9  # GitHub code scanning reads fewer than 10 tags per rule
MAX_FULL_DESCRIPTION = 1024  # GitHub truncates/rejects longer fullDescription.text

_TOP_KEYS = {
    "id", "name", "slug", "level", "tags", "precision", "security-severity",
    "short_description", "full_description", "message", "help", "variants", "fixes",
}
_REQUIRED = ("id", "name", "slug", "level", "tags", "precision", "short_description",
             "full_description", "message", "help")
_VARIANT_KEYS = {"level", "message"}
_FIX_KEYS = {"description", "command", "dockerfile", "when"}
_FIX_FLAGS = {"replaces_instruction"}  # boolean fix keys


class CatalogError(ValueError):
    """A rule file is malformed, or rules and logic do not match one to one."""


@dataclass(frozen=True, slots=True)
class RuleVariant:
    level: Level | None
    message: str | None


@dataclass(frozen=True, slots=True)
class FixTemplate:
    description: str
    command: str = ""
    dockerfile: str = ""
    when: str = ""  # only offered when args[when] is truthy
    replaces_instruction: bool = False  # dockerfile snippet replaces the instruction at fault


@dataclass(frozen=True, slots=True)
class RuleMeta:
    id: str
    name: str
    slug: str
    level: Level
    tags: tuple[str, ...]
    precision: str
    security_severity: str | None
    short_description: str
    full_description: str
    message: str
    help: str  # Markdown
    variants: Mapping[str, RuleVariant] = field(default_factory=dict)
    fixes: tuple[FixTemplate, ...] = ()
    source: str = ""  # file it was loaded from

    @property
    def help_markdown(self) -> str:
        return self.help

    @property
    def is_security(self) -> bool:
        return "security" in self.tags

    def help_text(self) -> str:
        """Help as plain text (SARIF help.text): the Markdown with its markup stripped."""
        return markdown_to_text(self.help)


class Catalog:
    """Rules by id, iterated in id order (the order SARIF ``ruleIndex`` refers to)."""

    def __init__(self, rules: Mapping[str, RuleMeta], directory: Path | None = None) -> None:
        self._rules = dict(sorted(rules.items()))
        self.directory = directory

    @property
    def rules(self) -> dict[str, RuleMeta]:
        """Rules by id (a copy, in id order)."""
        return dict(self._rules)

    def __iter__(self) -> Iterator[RuleMeta]:
        return iter(self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    def __getitem__(self, rule_id: str) -> RuleMeta:
        return self._rules[rule_id]

    def get(self, rule_id: str) -> RuleMeta | None:
        return self._rules.get(rule_id)

    def ids(self) -> list[str]:
        return list(self._rules)

    def find(self, selector: str) -> list[RuleMeta]:
        """Rules matching a selector: an id prefix ("GIL1", "GIL201"), a name or a slug, or
        "ALL"."""
        sel = selector.strip()
        if sel.upper() == "ALL":
            return list(self)
        if re.fullmatch(r"GIL\d{0,3}", sel.upper()):
            return [r for r in self if r.id.startswith(sel.upper())]
        return [r for r in self if sel in (r.name, r.slug)]


def rules_dir() -> Path:
    """Where the rule files are: ``goimglint/_rules`` inside an installed wheel, else the
    repository's ``rules/`` next to the package."""
    package_dir = Path(__file__).resolve().parent
    bundled = package_dir / "_rules"
    if bundled.is_dir():
        return bundled
    return package_dir.parent / "rules"


def load_catalog(directory: Path | str | None = None) -> Catalog:
    """Load and validate every ``GIL*.toml`` in ``directory`` (default: :func:`rules_dir`)."""
    base = Path(directory) if directory is not None else rules_dir()
    if not base.is_dir():
        raise CatalogError(f"rule catalog directory {base} does not exist")
    rules: dict[str, RuleMeta] = {}
    problems: list[str] = []
    for path in sorted(base.glob("*.toml")):
        try:
            rule = load_rule(path)
        except CatalogError as exc:
            problems.append(str(exc))
            continue
        rules[rule.id] = rule
    for attr in ("name", "slug"):
        seen: dict[str, str] = {}
        for rule in rules.values():
            value = getattr(rule, attr)
            if value in seen:
                problems.append(f"{rule.source}: {attr} {value!r} is also used by {seen[value]}")
            seen[value] = rule.id
    if problems:
        raise CatalogError("invalid rule catalog:\n  " + "\n  ".join(problems))
    return Catalog(rules, base)


def load_rule(path: Path) -> RuleMeta:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read: {exc}") from None
    return parse_rule(data, source=str(path), expected_id=path.stem)


def parse_rule(data: Mapping[str, Any], source: str = "<rule>",
               expected_id: str | None = None) -> RuleMeta:
    """Validate one rule table; every problem found is reported in one CatalogError."""
    problems: list[str] = []

    def bad(msg: str) -> None:
        problems.append(msg)

    unknown = set(data) - _TOP_KEYS
    if unknown:
        bad(f"unknown keys {sorted(unknown)}")
    for key in _REQUIRED:
        if key not in data:
            bad(f"missing required key {key!r}")

    def text(key: str, *, one_line: bool = False, limit: int | None = None) -> str:
        value = data.get(key, "")
        if not isinstance(value, str) or not value.strip():
            if key in data:
                bad(f"{key} must be a non-empty string")
            return ""
        if one_line and "\n" in value.strip():
            bad(f"{key} must be one line")
        if limit is not None and len(value) > limit:
            bad(f"{key} is {len(value)} characters, at most {limit} allowed")
        return value.strip()

    rule_id = text("id")
    if rule_id and not RULE_ID.match(rule_id):
        bad(f"id {rule_id!r} must look like GIL123")
    if rule_id and expected_id is not None and rule_id != expected_id:
        bad(f"id {rule_id!r} does not match the file name {expected_id}.toml")
    name = text("name", one_line=True)
    if name and not PASCAL_CASE.match(name):
        bad(f"name {name!r} must be PascalCase")
    slug = text("slug", one_line=True)
    if slug and not SLUG.match(slug):
        bad(f"slug {slug!r} must be lower-case words joined by '-'")
    level = _level(data.get("level"), "level", bad)

    tags_raw = data.get("tags", [])
    tags: tuple[str, ...] = ()
    if not isinstance(tags_raw, list) or not all(isinstance(t, str) for t in tags_raw):
        bad("tags must be a list of strings")
    else:
        tags = tuple(tags_raw)
        if not tags:
            bad("tags must not be empty")
        if len(tags) > MAX_TAGS:
            bad(f"{len(tags)} tags; GitHub reads fewer than 10")
        for tag in tags:
            if not TAG.match(tag):
                bad(f"tag {tag!r} must be lower-case (letters, digits, '-', '/', '.')")
        if len(set(tags)) != len(tags):
            bad("tags repeat")

    precision = data.get("precision", "")
    if precision not in PRECISIONS:
        bad(f"precision must be one of {', '.join(PRECISIONS)}")

    severity = data.get("security-severity")
    if severity is not None:
        if not isinstance(severity, str) or not re.fullmatch(r"\d{1,2}\.\d", severity) or \
                not 0.0 <= float(severity) <= 10.0:
            bad('security-severity must be a string "0.0".."10.0"')
        if "security" not in tags:
            bad("security-severity is set but the rule lacks the 'security' tag")
    elif "security" in tags:
        bad("a rule tagged 'security' needs security-severity")

    short = text("short_description", one_line=True, limit=1024)
    full = text("full_description", limit=MAX_FULL_DESCRIPTION)
    message = text("message")
    help_md = text("help")
    for key, value in (("message", message), ("full_description", full)):
        if value and not value.rstrip().endswith((".", "!", "?")):
            bad(f"{key} must end with a full stop (SARIF2001: messages are sentences)")
    _check_template(message, "message", bad)

    variants: dict[str, RuleVariant] = {}
    raw_variants = data.get("variants", {})
    if not isinstance(raw_variants, dict):
        bad("variants must be a table of tables")
    else:
        for vname, vdata in raw_variants.items():
            if not isinstance(vdata, dict):
                bad(f"variants.{vname} must be a table")
                continue
            vunknown = set(vdata) - _VARIANT_KEYS
            if vunknown:
                bad(f"variants.{vname}: unknown keys {sorted(vunknown)}")
            if not vdata:
                bad(f"variants.{vname} changes nothing")
            vlevel = _level(vdata["level"], f"variants.{vname}.level", bad) \
                if "level" in vdata else None
            vmessage = vdata.get("message")
            if vmessage is not None:
                if not isinstance(vmessage, str) or not vmessage.strip():
                    bad(f"variants.{vname}.message must be a non-empty string")
                    vmessage = None
                else:
                    vmessage = vmessage.strip()
                    if not vmessage.endswith((".", "!", "?")):
                        bad(f"variants.{vname}.message must end with a full stop")
                    _check_template(vmessage, f"variants.{vname}.message", bad)
            variants[vname] = RuleVariant(vlevel, vmessage)

    fixes: list[FixTemplate] = []
    raw_fixes = data.get("fixes", [])
    if not isinstance(raw_fixes, list):
        bad("fixes must be an array of tables ([[fixes]])")
    else:
        for i, fdata in enumerate(raw_fixes):
            where = f"fixes[{i}]"
            if not isinstance(fdata, dict):
                bad(f"{where} must be a table")
                continue
            funknown = set(fdata) - _FIX_KEYS - _FIX_FLAGS
            if funknown:
                bad(f"{where}: unknown keys {sorted(funknown)}")
            values: dict[str, str] = {}
            for key in sorted(_FIX_KEYS):
                value = fdata.get(key, "")
                if not isinstance(value, str):
                    bad(f"{where}.{key} must be a string")
                    value = ""
                values[key] = value.strip() if key != "dockerfile" else value.strip("\n")
            if not values["description"]:
                bad(f"{where}.description is required")
            if values["when"] and not PLACEHOLDER_NAME.match(values["when"]):
                bad(f"{where}.when must name one argument")
            for key in ("description", "command", "dockerfile"):
                _check_template(values[key], f"{where}.{key}", bad)
            replaces = fdata.get("replaces_instruction", False)
            if not isinstance(replaces, bool):
                bad(f"{where}.replaces_instruction must be true or false")
                replaces = False
            if replaces and not values["dockerfile"]:
                bad(f"{where}.replaces_instruction needs a dockerfile snippet")
            fixes.append(FixTemplate(values["description"], values["command"],
                                     values["dockerfile"], values["when"], replaces))

    if problems:
        raise CatalogError(f"{source}: " + "; ".join(problems))
    assert level is not None
    return RuleMeta(
        id=rule_id, name=name, slug=slug, level=level, tags=tags, precision=precision,
        security_severity=severity, short_description=short, full_description=full,
        message=message, help=help_md, variants=variants, fixes=tuple(fixes), source=source)


def _level(value: Any, where: str, bad: Any) -> Level | None:
    try:
        return Level(value)
    except ValueError:
        bad(f"{where} must be error, warning or note")
        return None


def _check_template(template: str, where: str, bad: Any) -> None:
    """Templates may only use plain ``{name}`` placeholders (no attribute access, index,
    conversion or format spec), so rendering can never run code or raise."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        bad(f"{where}: bad template ({exc}); write literal braces as {{{{ and }}}}")
        return
    for _literal, fname, spec, conv in parsed:
        if fname is None:
            continue
        if not PLACEHOLDER_NAME.match(fname) or spec or conv:
            bad(f"{where}: placeholder {{{fname}}} must be a plain {{name}}")


# --- rendering ------------------------------------------------------------------------------

_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def format_arg(value: Any) -> str:
    """How an argument appears in text: lists joined with ", ", booleans as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return ", ".join(format_arg(v) for v in items)
    return str(value)


def render_template(template: str, args: Mapping[str, Any]) -> str:
    """Fill ``{name}`` placeholders from ``args``. A missing (or None) argument leaves its
    placeholder as written; ``{{``/``}}`` are literal braces. Never raises."""

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        value = args.get(match.group(1))
        if value is None:
            return token
        try:
            return format_arg(value)
        except Exception:  # an argument's __str__ must not take the report down
            return token

    return _FIELD.sub(fill, template)


def markdown_to_text(markdown: str) -> str:
    """A readable plain-text rendering of rule help (code fences kept, markup dropped)."""
    out: list[str] = []
    for line in markdown.splitlines():
        if line.strip().startswith("```"):
            continue
        line = re.sub(r"^#{1,6}\s*", "", line)
        line = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", line)
        line = re.sub(r"(\*\*|__)(.+?)\1", r"\2", line)
        line = line.replace("`", "")
        out.append(line)
    return "\n".join(out).strip()


# --- rules vs logic -------------------------------------------------------------------------

def catalog_problems(catalog: Catalog, checks: Mapping[str, Any]) -> list[str]:
    """What breaks the one-to-one match between rule files and rule logic."""
    problems = [f"rule {rid} ({catalog[rid].source}) has no logic in goimglint/checks"
                for rid in catalog.ids() if rid not in checks]
    problems += [f"logic for {rid} has no rules/{rid}.toml"
                 for rid in sorted(checks) if rid not in catalog]
    return problems


def validate_against_checks(catalog: Catalog, checks: Mapping[str, Any]) -> None:
    """Raise CatalogError unless every rule has logic and every piece of logic has a rule."""
    problems = catalog_problems(catalog, checks)
    if problems:
        raise CatalogError("rules and logic do not match:\n  " + "\n  ".join(problems))
