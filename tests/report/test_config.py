"""Config discovery and precedence, rule selection, per-rule levels, path-scoped ignores with
expiry, the io.goimglint.ignore label, fail-on, and baselines (round trip through both the
JSON and the SARIF output)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from reporthelp import sample_results, write_catalog

from goimglint.baseline import (
    BaselineError,
    apply_baseline,
    load_baseline,
    parse_baseline,
    write_baseline,
)
from goimglint.catalog import Catalog, load_catalog
from goimglint.config import (
    Config,
    ConfigError,
    apply_config,
    fail_level,
    find_config,
    load_config,
    parse_config,
    should_fail,
)
from goimglint.findings import Finding, Level
from goimglint.present import present_findings
from goimglint.report.json import render_json
from goimglint.report.sarif import render_sarif

TODAY = dt.date(2026, 6, 1)


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return load_catalog(write_catalog(tmp_path / "rules"))


# --- discovery --------------------------------------------------------------------------------


def test_discovery_walks_up_and_prefers_goimglint_toml(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert find_config(deep) is None or not str(find_config(deep)).startswith(str(tmp_path))
    (tmp_path / "pyproject.toml").write_text('[tool.goimglint]\nfail-on = "note"\n')
    assert find_config(deep) == tmp_path / "pyproject.toml"
    assert load_config(start=deep).fail_on == "note"
    # a pyproject without our table is not a config
    (tmp_path / "a" / "pyproject.toml").write_text('[tool.black]\nline-length = 90\n')
    assert find_config(deep) == tmp_path / "pyproject.toml"
    # nearer wins; in one directory goimglint.toml wins over pyproject.toml
    (tmp_path / "a" / "goimglint.toml").write_text('fail-on = "warning"\n')
    (tmp_path / "a" / "pyproject.toml").write_text('[tool.goimglint]\nfail-on = "never"\n')
    assert find_config(deep) == tmp_path / "a" / "goimglint.toml"
    assert load_config(start=deep).fail_on == "warning"
    # --config overrides the search
    explicit = tmp_path / "ci.toml"
    explicit.write_text('fail-on = "error"\n')
    assert load_config(explicit, start=deep).fail_on == "error"
    assert load_config(tmp_path / "a" / "pyproject.toml").fail_on == "never"


def test_precedence_of_fail_on() -> None:
    assert fail_level(Config()) == "error"
    assert fail_level(Config(fail_on="note")) == "note"
    assert fail_level(Config(fail_on="note"), "never") == "never"
    with pytest.raises(ConfigError):
        fail_level(Config(), "loud")


@pytest.mark.parametrize(("text", "message"), [
    ("colour = 1", "unknown keys"),
    ('fail-on = "sometimes"', "fail-on must be one of"),
    ("select = 3", "select must be a list of strings"),
    ('[levels]\nGIL901 = "fatal"', "levels.GIL901 must be"),
    ('[[ignores]]\nrules = ["GIL901"]', "a reason is required"),
    ('[[ignores]]\nreason = "x"', "rules is required"),
    ('[[ignores]]\nrules = ["GIL901"]\nreason = "x"\nexpires = "soon"', "expires must be a date"),
    ('[[ignores]]\nrules = ["GIL901"]\nreason = "x"\nowner = "me"', "unknown keys"),
    ("fail-on = ", "not valid TOML"),
])
def test_bad_config_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "goimglint.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_unknown_selectors_fail(catalog: Catalog) -> None:
    parse_config({"select": ["GIL9", "test-netdns-debug"]}).validate(catalog)
    with pytest.raises(ConfigError, match="'GIL1' matches no rule"):
        parse_config({"ignore": ["GIL1"]}).validate(catalog)


# --- applying ---------------------------------------------------------------------------------


def _apply(catalog: Catalog, data: dict[str, object], labels: dict[str, str] | None = None,
           today: dt.date = TODAY):
    results = sample_results(catalog)
    if labels:
        results[0].context.labels.update(labels)
    apply_config(results, parse_config(data), catalog, today=today)
    return results[0]


def test_select_ignore_and_levels(catalog: Catalog) -> None:
    result = _apply(catalog, {"select": ["GIL90"], "ignore": ["test-world-writable"],
                              "levels": {"GIL903": "error"}})
    assert sorted({f.rule_id for f in result.findings}) == ["GIL901", "GIL903"]
    assert next(f for f in result.findings if f.rule_id == "GIL903").level is Level.ERROR
    result = _apply(catalog, {"select": ["GIL902"]})
    assert {f.rule_id for f in result.findings} == {"GIL902"}


def test_path_scoped_ignores_and_expiry(catalog: Catalog) -> None:
    data = {"ignores": [
        {"rules": ["GIL901"], "paths": ["/usr/bin/*"], "reason": "vendor tool (OPS-12)",
         "expires": dt.date(2026, 12, 31)},
        {"rules": ["GIL902"], "paths": ["/app"], "reason": "fixed in 2.0",
         "expires": "2026-01-31"},
        {"rules": ["GIL903"], "images": ["ghcr.io/other/*"], "reason": "not this image"},
    ]}
    result = _apply(catalog, data)
    by_rule = {(f.rule_id, f.path): f for f in result.findings}
    assert by_rule[("GIL901", "/usr/bin/tool:v2")].suppressed == "config: vendor tool (OPS-12)"
    assert by_rule[("GIL901", "/app")].suppressed == ""  # path does not match
    assert by_rule[("GIL902", "/app")].suppressed == ""  # expired: no longer suppresses...
    assert any("expired on 2026-01-31" in n and "no longer suppresses" in n and "1 finding" in n
               for n in result.notes)  # ...and says so
    assert by_rule[("GIL903", "")].suppressed == ""  # other image
    # before the expiry date the second ignore still works
    result = _apply(catalog, data, today=dt.date(2026, 1, 31))
    assert next(f for f in result.findings if f.rule_id == "GIL902").suppressed
    assert not result.notes


def test_image_label_suppresses(catalog: Catalog) -> None:
    result = _apply(catalog, {}, labels={"io.goimglint.ignore": "GIL901, test-netdns-debug"})
    suppressed = {f.rule_id for f in result.findings if f.suppressed}
    assert suppressed == {"GIL901", "GIL903"}
    assert all("io.goimglint.ignore" in f.suppressed for f in result.findings if f.suppressed)
    assert len(result.findings) == 4  # kept, not dropped


def test_should_fail_counts_only_unsuppressed(catalog: Catalog) -> None:
    results = sample_results(catalog)
    assert should_fail(results, "error") and should_fail(results, "note")
    assert not should_fail(results, "never")
    for f in results[0].findings:
        if f.level is Level.ERROR:
            f.suppressed = "x"
    assert not should_fail(results, "error") and should_fail(results, "warning")


# --- baseline ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_baseline_round_trip(catalog: Catalog, tmp_path: Path, fmt: str) -> None:
    first = sample_results(catalog, reference="ghcr.io/acme/app:1.0")
    path = tmp_path / f"baseline.{fmt}"
    if fmt == "json":
        write_baseline(first, catalog, path)
        assert json.loads(path.read_text())["schema_version"] == 1
    else:
        path.write_text(render_sarif(first, catalog))
    baseline = load_baseline(path)
    assert len(baseline.fingerprints) == 4
    # the rebuild under a new tag has one new finding
    second = sample_results(catalog, reference="ghcr.io/acme/app:1.1", salt="z")
    ctx = second[0].context
    second[0].findings += present_findings(
        [Finding("GIL902", path="/usr/local/bin/new", binary="/usr/local/bin/new", layer=1,
                 args={"mode": "0777"})], catalog, ctx)
    assert apply_baseline(second, baseline) == 4
    active = second[0].active
    assert [(f.rule_id, f.path) for f in active] == [("GIL902", "/usr/local/bin/new")]
    assert all(f.suppressed == f"in baseline {path.name}" for f in second[0].suppressed)
    doc = json.loads(render_json(second, catalog))
    assert doc["summary"]["suppressed"] == 4 and doc["summary"]["warning"] == 1


@pytest.mark.parametrize("data", [b"", b"[]", b"{}", b'{"runs": 3}', b"\xff", b"[" * 100000])
def test_bad_baselines(data: bytes) -> None:
    with pytest.raises(BaselineError):
        parse_baseline(data)


def test_missing_baseline_file(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="cannot read baseline"):
        load_baseline(tmp_path / "nope.json")
