"""User configuration and suppression.

Found as ``goimglint.toml`` (top-level keys) or ``[tool.goimglint]`` in ``pyproject.toml``,
searching upward from the working directory; ``--config FILE`` overrides the search. Keys
(see docs/configuration.md):

    select = ["ALL"]                 # rule ids, id prefixes ("GIL2"), names or slugs
    ignore = ["GIL601"]              # rules not run at all
    fail-on = "error"                # error | warning | note | never
    [levels]                         # per-rule level override
    GIL201 = "error"
    [[ignores]]                      # suppressions: kept in the output, marked suppressed
    rules = ["GIL201"]
    paths = ["/usr/local/bin/legacy-*"]   # fnmatch globs on the in-image path (optional)
    images = ["ghcr.io/acme/*"]           # globs on the repository (optional)
    reason = "vendor binary, OPS-12"      # required
    expires = 2026-12-31                  # optional; after it the ignore stops suppressing

The image label ``io.goimglint.ignore=GIL201,GIL503`` suppresses those rules for that image.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goimglint.catalog import Catalog
from goimglint.errors import UsageError
from goimglint.findings import Level, ReportedFinding

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from goimglint.present import TargetResult

CONFIG_FILE = "goimglint.toml"
IGNORE_LABEL = "io.goimglint.ignore"
FAIL_ON_CHOICES = ("error", "warning", "note", "never")
DEFAULT_FAIL_ON = "error"
_KEYS = {"select", "ignore", "fail-on", "levels", "ignores"}
_IGNORE_KEYS = {"rules", "paths", "images", "reason", "expires"}


class ConfigError(UsageError):
    """The configuration file is malformed (exit code 2)."""


@dataclass(frozen=True, slots=True)
class PathIgnore:
    rules: tuple[str, ...]
    reason: str
    paths: tuple[str, ...] = ()  # empty: every path
    images: tuple[str, ...] = ()  # empty: every image
    expires: dt.date | None = None

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires

    def describe(self) -> str:
        where = f" on {', '.join(self.paths)}" if self.paths else ""
        return f"ignore of {', '.join(self.rules)}{where} ({self.reason})"


@dataclass(slots=True)
class Config:
    select: tuple[str, ...] = ("ALL",)
    ignore: tuple[str, ...] = ()
    fail_on: str | None = None  # None: not set in the file (CLI default applies)
    levels: dict[str, Level] = field(default_factory=dict)
    ignores: tuple[PathIgnore, ...] = ()
    source: Path | None = None

    def selected_rules(self, catalog: Catalog) -> set[str]:
        """Rule ids that run: selected, minus ignored."""
        chosen = {r.id for sel in self.select for r in catalog.find(sel)}
        dropped = {r.id for sel in self.ignore for r in catalog.find(sel)}
        return chosen - dropped

    def validate(self, catalog: Catalog) -> None:
        """Every selector must name at least one known rule (typos fail loudly)."""
        where = f"{self.source}: " if self.source else ""
        for key, selectors in (("select", self.select), ("ignore", self.ignore)):
            for sel in selectors:
                if not catalog.find(sel):
                    raise ConfigError(f"{where}{key}: {sel!r} matches no rule")
        for rule_id in self.levels:
            if not catalog.find(rule_id):
                raise ConfigError(f"{where}levels: {rule_id!r} matches no rule")
        for ig in self.ignores:
            for sel in ig.rules:
                if not catalog.find(sel):
                    raise ConfigError(f"{where}ignores: {sel!r} matches no rule")


def find_config(start: Path | None = None) -> Path | None:
    """The nearest ``goimglint.toml``, or ``pyproject.toml`` with ``[tool.goimglint]``,
    from ``start`` (default: the working directory) upward. In one directory
    ``goimglint.toml`` wins."""
    here = Path(start or Path.cwd()).absolute()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG_FILE
        if candidate.is_file():
            return candidate
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue  # someone else's broken pyproject is not our config
            if isinstance(data.get("tool"), dict) and "goimglint" in data["tool"]:
                return pyproject
    return None


def load_config(path: Path | str | None = None, start: Path | None = None) -> Config:
    """Load ``path`` (``--config``) or the discovered config; an empty Config when none."""
    if path is None:
        found = find_config(start)
        if found is None:
            return Config()
        path = found
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if path.name == "pyproject.toml" or ("tool" in data and CONFIG_FILE != path.name):
        tool = data.get("tool", {})
        table = tool.get("goimglint") if isinstance(tool, dict) else None
        if table is None:
            raise ConfigError(f"{path}: no [tool.goimglint] table")
        data = table
    return parse_config(data, source=path)


def parse_config(data: Mapping[str, Any], source: Path | None = None) -> Config:
    where = f"{source}: " if source else ""

    def fail(msg: str) -> ConfigError:
        return ConfigError(where + msg)

    if not isinstance(data, Mapping):
        raise fail("config must be a table")
    unknown = set(data) - _KEYS
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)} (known: {', '.join(sorted(_KEYS))})")

    def str_list(value: Any, key: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise fail(f"{key} must be a list of strings")
        return tuple(value)

    select = str_list(data.get("select", ["ALL"]), "select")
    ignore = str_list(data.get("ignore", []), "ignore")
    fail_on = data.get("fail-on")
    if fail_on is not None and fail_on not in FAIL_ON_CHOICES:
        raise fail(f"fail-on must be one of {', '.join(FAIL_ON_CHOICES)}")
    levels_raw = data.get("levels", {})
    if not isinstance(levels_raw, Mapping):
        raise fail("levels must be a table of RULE = \"error\"|\"warning\"|\"note\"")
    levels: dict[str, Level] = {}
    for rule, value in levels_raw.items():
        try:
            levels[rule] = Level(value)
        except ValueError:
            raise fail(f"levels.{rule} must be error, warning or note") from None
    ignores: list[PathIgnore] = []
    raw_ignores = data.get("ignores", [])
    if not isinstance(raw_ignores, list):
        raise fail("ignores must be an array of tables ([[ignores]])")
    for i, item in enumerate(raw_ignores):
        at = f"ignores[{i}]"
        if not isinstance(item, Mapping):
            raise fail(f"{at} must be a table")
        extra = set(item) - _IGNORE_KEYS
        if extra:
            raise fail(f"{at}: unknown keys {sorted(extra)}")
        reason = item.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise fail(f"{at}: a reason is required")
        if "rules" not in item:
            raise fail(f"{at}: rules is required")
        expires = item.get("expires")
        if isinstance(expires, str):
            try:
                expires = dt.date.fromisoformat(expires)
            except ValueError:
                raise fail(f"{at}: expires must be a date (YYYY-MM-DD)") from None
        elif isinstance(expires, dt.datetime):
            expires = expires.date()
        elif expires is not None and not isinstance(expires, dt.date):
            raise fail(f"{at}: expires must be a date (YYYY-MM-DD)")
        ignores.append(PathIgnore(str_list(item["rules"], f"{at}.rules"), reason.strip(),
                                  str_list(item.get("paths", []), f"{at}.paths"),
                                  str_list(item.get("images", []), f"{at}.images"),
                                  expires))
    return Config(select, ignore, fail_on, levels, tuple(ignores), source)


def label_rules(labels: Mapping[str, str]) -> tuple[str, ...]:
    """Rule selectors from the ``io.goimglint.ignore`` image label."""
    value = labels.get(IGNORE_LABEL, "")
    return tuple(part.strip() for part in value.replace(";", ",").split(",") if part.strip())


def _matches(selectors: Iterable[str], finding: ReportedFinding, catalog: Catalog) -> bool:
    return any(finding.rule_id in {r.id for r in catalog.find(sel)} for sel in selectors)


def _glob_any(patterns: Sequence[str], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def apply_config(results: Iterable[TargetResult], config: Config, catalog: Catalog,
                 today: dt.date | None = None) -> None:
    """Filter, re-level and suppress findings in place, per the config and image labels.

    Rules that are not selected are dropped (as if they had not run). Suppressed findings stay
    in the list with ``suppressed`` set to the reason. An expired ignore suppresses nothing and
    adds a note saying so to each image's notes."""
    today = today or dt.date.today()
    selected = config.selected_rules(catalog)
    for result in results:
        labels = label_rules(result.context.labels)
        kept: list[ReportedFinding] = []
        expired_hits: dict[PathIgnore, int] = {}
        for finding in result.findings:
            if finding.rule_id in catalog and finding.rule_id not in selected:
                continue
            for sel, level in config.levels.items():
                if finding.rule_id in {r.id for r in catalog.find(sel)}:
                    finding.level = level
            if not finding.suppressed and labels and _matches(labels, finding, catalog):
                finding.suppressed = f"image label {IGNORE_LABEL}={','.join(labels)}"
            for ig in config.ignores:
                if not _matches(ig.rules, finding, catalog):
                    continue
                if ig.paths and not _glob_any(ig.paths, finding.path or finding.binary):
                    continue
                if ig.images and not (_glob_any(ig.images, finding.repository)
                                      or _glob_any(ig.images, finding.image)):
                    continue
                if ig.expired(today):
                    expired_hits[ig] = expired_hits.get(ig, 0) + 1
                    continue
                if not finding.suppressed:
                    finding.suppressed = f"config: {ig.reason}"
            kept.append(finding)
        result.findings[:] = kept
        for ig in config.ignores:
            if ig.expired(today):
                hits = expired_hits.get(ig, 0)
                result.notes.append(
                    f"{ig.describe()} expired on {ig.expires}; it no longer suppresses "
                    f"({hits} finding{'s' if hits != 1 else ''} it would have matched)")


def fail_level(config: Config, cli_fail_on: str | None = None) -> str:
    """The effective fail-on: the command line wins over the config, then the default."""
    value = cli_fail_on or config.fail_on or DEFAULT_FAIL_ON
    if value not in FAIL_ON_CHOICES:
        raise ConfigError(f"--fail-on must be one of {', '.join(FAIL_ON_CHOICES)}")
    return value


def should_fail(results: Iterable[TargetResult], fail_on: str) -> bool:
    """True when an unsuppressed finding is at or above the fail-on level."""
    if fail_on == "never":
        return False
    threshold = Level(fail_on).rank
    return any(f.level.rank >= threshold for r in results for f in r.active)
