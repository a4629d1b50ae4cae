"""The README stays true: its rule table matches rules/, its Quick start test command is what
CI runs, and its example command names a file that exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_rules_docs_are_current() -> None:
    proc = subprocess.run([sys.executable, "-m", "goimglint.rulesdoc", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_ci_runs_the_readme_test_command() -> None:
    commands = _quick_start_commands()
    assert len(commands) == 2, commands
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci.splitlines(), (commands[1], ci)


def test_quick_start_example_exists_and_shows_an_error() -> None:
    install_and_lint = _quick_start_commands()[0]
    example = install_and_lint.split("goimglint ", 1)[1].split()[0]
    assert (ROOT / example).is_file()
    proc = subprocess.run([sys.executable, "-m", "goimglint", example, "--no-progress"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "GIL101" in proc.stdout
