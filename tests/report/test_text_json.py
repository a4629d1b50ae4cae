"""Text and JSON reports: grouping, colour rules, fixes under findings, the summary line, and
the documented JSON schema (docs/json-output.md)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from reporthelp import sample_results, write_catalog

from goimglint.catalog import Catalog, load_catalog
from goimglint.present import ImageContext, TargetResult, strip_reference
from goimglint.report.json import render_json
from goimglint.report.text import render_text, use_color

DOCS = Path(__file__).resolve().parents[2] / "docs" / "json-output.md"


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return load_catalog(write_catalog(tmp_path / "rules"))


def test_text_groups_by_image_and_binary(catalog: Catalog) -> None:
    results = sample_results(catalog)
    next(f for f in results[0].findings if f.binary == "/usr/bin/tool:v2").suppressed = "x"
    results[0].notes.append("a limit was reached")
    text = render_text(results, catalog, color=False)
    assert "\033[" not in text
    lines = text.splitlines()
    assert lines[0] == "ghcr.io/acme/app:1.0 (linux/amd64)"
    groups = [line.strip() for line in lines if line.startswith(" ") and
              not line.startswith("  ")]
    assert groups == ["image", "/app"]
    app = text.index(" /app\n")
    error = text.index("ERROR   GIL901 MissingInterpreter", app)
    fix = text.index("fix: Build a static binary with CGO_ENABLED=0.", error)
    assert text.index("$ CGO_ENABLED=0 go build -o app .", fix)
    assert "from: layer 2 | COPY /out/app /app # buildkit" in text  # index 1, counted from 1
    assert "(1 suppressed finding not shown)" in text
    assert "note: a limit was reached" in text
    assert lines[-1] == "goimglint: 1 error, 1 warning, 1 note in 1 image (1 suppressed)"


def test_text_colour(catalog: Catalog) -> None:
    text = render_text(sample_results(catalog), catalog, color=True)
    assert "\033[1;31mERROR  \033[0m" in text and "\033[1;33mWARNING\033[0m" in text
    plain = re.sub(r"\033\[[0-9;]*m", "", text)
    assert plain == render_text(sample_results(catalog), catalog, color=False)


def test_use_color(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(Tty())
    assert not use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(Tty())
    monkeypatch.setenv("NO_COLOR", "")
    assert use_color(Tty())


def test_text_without_findings(catalog: Catalog) -> None:
    ctx = ImageContext("scratch-app:1", "scratch-app", "linux/arm64")
    text = render_text([TargetResult(ctx)], catalog)
    assert "no findings" in text
    assert text.endswith("goimglint: 0 errors, 0 warnings, 0 notes in 1 image (0 suppressed)\n")


def test_json_schema_is_the_documented_one(catalog: Catalog) -> None:
    results = sample_results(catalog)
    results[0].findings[0].suppressed = "in baseline b.json"
    doc = json.loads(render_json(results, catalog))
    assert set(doc) == {"schema_version", "tool", "summary", "targets"}
    assert doc["schema_version"] == 1
    assert doc["summary"] == {"error": 0, "warning": 1, "note": 2, "suppressed": 1,
                              "targets": 1}
    target = doc["targets"][0]
    assert set(target) == {"image", "repository", "platform", "summary", "notes", "findings"}
    finding = target["findings"][0]
    assert set(finding) == {"rule", "name", "level", "message", "path", "binary", "layer",
                            "instruction", "dockerfile", "evidence", "fixes", "fingerprint",
                            "uncertain", "suppressed"}
    assert finding["layer"] == {"index": 1, "digest": "sha256:" + "01" * 32}
    assert finding["evidence"]["needed"] == ["libc.so.6"]
    assert finding["suppressed"] == "in baseline b.json"
    assert finding["fixes"][0] == {"description": "Build a static binary with CGO_ENABLED=0.",
                                   "command": "CGO_ENABLED=0 go build -o app .",
                                   "dockerfile": None}
    # every key is documented
    documented = DOCS.read_text()
    for key in [*doc, *target, *finding, "start_line", "end_line", "digest", "index"]:
        assert f"`{key}`" in documented, key


@pytest.mark.parametrize(("ref", "repo"), [
    ("ghcr.io/acme/app:1.2@sha256:" + "a" * 64, "ghcr.io/acme/app"),
    ("registry:5000/team/app:1.2", "registry:5000/team/app"),
    ("registry:5000/team/app", "registry:5000/team/app"),
    ("docker.io/library/alpine:3.20", "alpine"),
    ("alpine", "alpine"),
])
def test_strip_reference(ref: str, repo: str) -> None:
    assert strip_reference(ref) == repo
