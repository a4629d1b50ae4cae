"""Command-line behaviour a CI user relies on: exit codes, one-line errors, quiet output,
help, version, output files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "fixtures" / "example" / "hello-cgo-scratch.tar"


def goimglint(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "goimglint", *args], cwd=ROOT,
                          capture_output=True, text=stdin is None, input=stdin, timeout=120)


def test_version_is_answered_without_importing_the_cli() -> None:
    code = ("import sys, runpy; sys.argv=['goimglint','--version']\n"
            "try:\n    runpy.run_module('goimglint', run_name='__main__')\n"
            "except SystemExit: pass\n"
            "print('typer' in sys.modules, 'goimglint.facts.collect' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.splitlines()[-1] == "False False"
    assert out.stdout.startswith("goimglint ")


def test_quiet_drops_the_summary_not_the_findings() -> None:
    loud, quiet = goimglint(str(EXAMPLE), "--no-progress"), goimglint(str(EXAMPLE), "-q")
    assert loud.returncode == quiet.returncode == 1
    assert any(line.startswith("goimglint: ") for line in loud.stdout.splitlines())
    assert not any(line.startswith("goimglint: ") for line in quiet.stdout.splitlines())
    assert "GIL101" in quiet.stdout


def test_fail_on_levels() -> None:
    assert goimglint(str(EXAMPLE), "--fail-on", "never").returncode == 0
    assert goimglint(str(EXAMPLE), "--fail-on", "note").returncode == 1


def test_usage_errors_are_one_line_exit_2() -> None:
    for args in (["--bogus", str(EXAMPLE)], [], ["--format", "xml", str(EXAMPLE)],
                 ["--platform", "linux", str(EXAMPLE)], ["explain", "GIL999"]):
        proc = goimglint(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("goimglint: error:")]
        assert len(errors) == 1, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_output_file_and_json(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    proc = goimglint(str(EXAMPLE), "--format", "json", "--output", str(out))
    assert proc.returncode == 1 and proc.stdout == ""
    doc = json.loads(out.read_text())
    assert any(f["rule"] == "GIL101" for t in doc["targets"] for f in t["findings"])


def test_rules_and_explain() -> None:
    rows = json.loads(goimglint("rules", "--format", "json").stdout)
    assert {"GIL101", "GIL302", "GIL604"} <= {r["id"] for r in rows}
    text = goimglint("explain", "missing-interpreter").stdout
    assert text.startswith("GIL101")
    assert "CGO_ENABLED=0" in text  # the fix, not only the diagnosis
