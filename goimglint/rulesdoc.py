"""Generate the rule documentation from rules/: the README's rule table and docs/rules.md.

    python -m goimglint.rulesdoc          # rewrite both
    python -m goimglint.rulesdoc --check  # exit 1 when either is stale (a test runs this)
"""

from __future__ import annotations

import sys
from pathlib import Path

from goimglint.catalog import Catalog, load_catalog

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- rules-table:start -->", "<!-- rules-table:end -->"


def rules_table(catalog: Catalog) -> str:
    lines = ["| id | name | level | what it finds |", "|---|---|---|---|"]
    for meta in catalog:
        desc = meta.short_description.replace("|", "\\|")
        lines.append(f"| [{meta.id}](docs/rules.md#{meta.id.lower()}) | `{meta.slug}` | "
                     f"{meta.level.value} | {desc} |")
    return "\n".join(lines)


def rules_markdown(catalog: Catalog) -> str:
    parts = ["# Rules", "", "Generated from `rules/*.toml` by `python -m goimglint.rulesdoc`; "
             "`goimglint explain ID` prints the same text.", ""]
    for meta in catalog:
        parts += [f"## {meta.id}", "", f"**{meta.name}** (`{meta.slug}`), default level "
                  f"**{meta.level.value}**, precision {meta.precision}"
                  + (f", security severity {meta.security_severity}"
                     if meta.security_severity else "")
                  + f". Tags: {', '.join(meta.tags)}.", "", meta.full_description.strip(), "",
                  meta.help_markdown.strip().replace("\n# ", "\n### ").replace("\n## ", "\n### "),
                  ""]
    return "\n".join(parts)


def updated_readme(readme: str, table: str) -> str:
    head, start, rest = readme.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"README.md lacks the {START} / {END} markers")
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: list[str]) -> int:
    catalog = load_catalog()
    readme_path, doc_path = ROOT / "README.md", ROOT / "docs" / "rules.md"
    readme = updated_readme(readme_path.read_text(encoding="utf-8"), rules_table(catalog))
    doc = rules_markdown(catalog)
    if "--check" in argv:
        stale = [str(p.relative_to(ROOT)) for p, text in ((readme_path, readme), (doc_path, doc))
                 if not p.exists() or p.read_text(encoding="utf-8") != text]
        if stale:
            print(f"stale: {', '.join(stale)}; run python -m goimglint.rulesdoc", file=sys.stderr)
            return 1
        return 0
    readme_path.write_text(readme, encoding="utf-8")
    doc_path.write_text(doc, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
