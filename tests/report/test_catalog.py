"""The rule catalog: every rule file validates, rules and logic match one to one, templates
render defensively, and bad rule files are rejected with a message naming the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reporthelp import RULES, multitool_path, run_multitool, validate_schema, write_catalog

from goimglint.catalog import (
    CatalogError,
    load_catalog,
    render_template,
    rules_dir,
    validate_against_checks,
)
from goimglint.checks import all_checks
from goimglint.findings import Finding, Level
from goimglint.present import ImageContext, TargetResult, present_findings
from goimglint.report.sarif import render_sarif


def test_repository_catalog_is_valid_and_matches_logic() -> None:
    catalog = load_catalog()
    assert catalog.directory == rules_dir()
    validate_against_checks(catalog, all_checks())


def test_repository_catalog_sarif_validates(tmp_path: Path) -> None:
    """One finding per existing rule (templates only partly filled) -> schema + multitool."""
    catalog = load_catalog()
    ctx = ImageContext("example.com/app:1", "example.com/app", "linux/amd64")
    findings = [Finding(rule.id, path="/usr/local/bin/app", binary="/usr/local/bin/app")
                for rule in catalog]
    results = [TargetResult(ctx, present_findings(findings, catalog, ctx))]
    text = render_sarif(results, catalog)
    validate_schema(json.loads(text))
    exe = multitool_path()
    if exe is None:
        pytest.skip("SARIF multitool not installed (npm install @microsoft/sarif-multitool-linux)")
    out = tmp_path / "catalog.sarif"
    out.write_text(text)
    assert run_multitool(exe, out) == []


def test_rules_dir_prefers_bundled_rules() -> None:
    path = rules_dir()
    assert path.name in ("rules", "_rules")
    assert path.is_dir()


def test_sample_catalog_loads(tmp_path: Path) -> None:
    catalog = load_catalog(write_catalog(tmp_path / "rules"))
    assert catalog.ids() == ["GIL901", "GIL902", "GIL903"]
    rule = catalog["GIL901"]
    assert rule.level is Level.ERROR
    assert rule.variants["uncertain"].level is Level.NOTE
    assert [f.when for f in rule.fixes] == ["", "musl"]
    assert catalog["GIL902"].security_severity == "6.5"
    assert catalog["GIL903"].fixes[0].replaces_instruction
    assert [r.id for r in catalog.find("GIL90")] == ["GIL901", "GIL902", "GIL903"]
    assert [r.id for r in catalog.find("test-world-writable")] == ["GIL902"]
    assert [r.id for r in catalog.find("NetdnsDebug")] == ["GIL903"]
    assert "```" not in rule.help_text() and "Go cgo docs (https://" in rule.help_text()


BAD = [
    ("level = \"error\"", "level = \"fatal\"", "level must be error, warning or note"),
    ("tags = [\"loader\", \"startup\"]", "tags = [" + ", ".join(f'"t{i}"' for i in range(10))
     + "]", "10 tags"),
    ("tags = [\"loader\", \"startup\"]", "tags = [\"Loader\"]", "must be lower-case"),
    ("tags = [\"loader\", \"startup\"]", "tags = [\"security\"]", "needs security-severity"),
    ("precision = \"very-high\"", "precision = \"certain\"", "precision must be one of"),
    ("name = \"MissingInterpreter\"", "name = \"missing_interpreter\"", "PascalCase"),
    ("slug = \"test-missing-interpreter\"", "slug = \"Bad Slug\"", "slug"),
    ("id = \"GIL901\"", "id = \"GIL999\"", "does not match the file name"),
    ("which the image does not have. It will fail with 'no such file or directory'.",
     "which the image does not have", "must end with a full stop"),
    ("{binary} asks", "{binary.__class__} asks", "must be a plain {name}"),
    ("{binary} asks", "{binary!r} asks", "must be a plain {name}"),
    ("{binary} asks", "{binary asks", "bad template"),
    ("short_description = \"The binary's program interpreter is missing from the image.\"",
     "", "missing required key 'short_description'"),
    ("precision = \"very-high\"", "precision = \"very-high\"\ncolour = \"red\"", "unknown keys"),
    ("when = \"musl\"", "when = \"musl\"\nreplaces_instruction = true",
     "needs a dockerfile snippet"),
    ("[variants.uncertain]\nlevel = \"note\"", "[variants.uncertain]\nlevel = \"loud\"",
     "variants.uncertain.level"),
]


@pytest.mark.parametrize(("old", "new", "expected"), BAD)
def test_bad_rule_files_are_rejected(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = RULES["GIL901"]
    assert old in text
    write_catalog(tmp_path, {"GIL901": text.replace(old, new, 1)})
    with pytest.raises(CatalogError, match=None) as info:
        load_catalog(tmp_path)
    assert expected in str(info.value)


def test_security_severity_needs_security_tag(tmp_path: Path) -> None:
    text = RULES["GIL902"].replace('tags = ["security", "permissions"]', 'tags = ["permissions"]')
    write_catalog(tmp_path, {"GIL902": text})
    with pytest.raises(CatalogError, match="lacks the 'security' tag"):
        load_catalog(tmp_path)


def test_full_description_limit(tmp_path: Path) -> None:
    text = RULES["GIL902"].replace("Any process in the container can replace the binary.",
                                   "x" * 1100 + ".")
    write_catalog(tmp_path, {"GIL902": text})
    with pytest.raises(CatalogError, match="at most 1024"):
        load_catalog(tmp_path)


def test_duplicate_names_are_rejected(tmp_path: Path) -> None:
    other = RULES["GIL902"].replace('"GIL902"', '"GIL904"').replace(
        "test-world-writable", "other-slug")
    write_catalog(tmp_path, {"GIL902": RULES["GIL902"], "GIL904": other})
    with pytest.raises(CatalogError, match="name 'WorldWritableBinary' is also used by"):
        load_catalog(tmp_path)


def test_unreadable_toml_is_a_catalog_error(tmp_path: Path) -> None:
    (tmp_path / "GIL900.toml").write_text("id = [unclosed")
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path)
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(tmp_path / "missing")


def test_rules_and_logic_must_match(tmp_path: Path) -> None:
    catalog = load_catalog(write_catalog(tmp_path))
    checks = {"GIL901": object(), "GIL902": object(), "GIL903": object()}
    validate_against_checks(catalog, checks)
    with pytest.raises(CatalogError, match="GIL903 .* has no logic"):
        validate_against_checks(catalog, {k: v for k, v in checks.items() if k != "GIL903"})
    with pytest.raises(CatalogError, match="logic for GIL905 has no rules/GIL905.toml"):
        validate_against_checks(catalog, {**checks, "GIL905": object()})


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("boom")


def test_render_template_is_defensive() -> None:
    assert render_template("{a} and {b}.", {"a": 1}) == "1 and {b}."
    assert render_template("{a}", {"a": None}) == "{a}"
    assert render_template("{a}", {"a": ["x", "y"]}) == "x, y"
    assert render_template("{a}", {"a": True}) == "yes"
    assert render_template("{{literal}} {a}", {"a": "v"}) == "{literal} v"
    assert render_template("{a}", {"a": Unprintable()}) == "{a}"
    assert render_template("{0} {a.b} {", {"a": "x"}) == "{0} {a.b} {"
