"""Text report for people: findings grouped by image and binary, the fix under each finding,
one summary line. Colour only when writing to a terminal and NO_COLOR is not set."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import IO

from goimglint.catalog import Catalog
from goimglint.findings import Level, ReportedFinding
from goimglint.present import TargetResult

_RESET = "\033[0m"
_STYLE = {
    Level.ERROR: "\033[1;31m",
    Level.WARNING: "\033[1;33m",
    Level.NOTE: "\033[1;36m",
}
_BOLD = "\033[1m"
_DIM = "\033[2m"


def use_color(stream: IO[str] | None) -> bool:
    """Colour when ``stream`` is a terminal and NO_COLOR is unset or empty (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(results: Iterable[TargetResult]) -> str:
    counts = {level: 0 for level in Level}
    suppressed = 0
    images = 0
    for result in results:
        images += 1
        for f in result.findings:
            if f.suppressed:
                suppressed += 1
            else:
                counts[f.level] += 1
    return (f"{_plural(counts[Level.ERROR], 'error')}, "
            f"{_plural(counts[Level.WARNING], 'warning')}, "
            f"{_plural(counts[Level.NOTE], 'note')} in {_plural(images, 'image')}"
            f" ({suppressed} suppressed)")


def _finding_lines(f: ReportedFinding, paint: bool) -> list[str]:
    def style(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if paint else text

    label = f"{f.level.value.upper():7}"
    head = f"  {style(_STYLE[f.level], label)} {style(_BOLD, f.rule_id)} {f.rule_name}"
    if f.path and f.path != f.binary:
        head += f"  {f.path}"
    if f.uncertain:
        head += "  (uncertain)"
    lines = [head]
    for i, text in enumerate(f.message.splitlines() or [""]):
        lines.append(("    " if i == 0 else "      ") + text)
    origin = []
    if f.layer is not None:
        origin.append(f"layer {f.layer + 1}")  # people count layers from 1
    if f.instruction:
        instruction = " ".join(f.instruction.split())
        if len(instruction) > 100:
            instruction = instruction[:97] + "..."
        origin.append(instruction)
    if f.dockerfile_line is not None:
        origin.append(f"{f.dockerfile_path}:{f.dockerfile_line}")
    if origin:
        lines.append("    " + style(_DIM, "from: " + " | ".join(origin)))
    for fix in f.fixes:
        lines.append("    fix: " + fix.description)
        if fix.command:
            lines.append("      $ " + fix.command)
        for snippet_line in fix.dockerfile.splitlines():
            lines.append("      | " + snippet_line)
    return lines


def render_text(results: list[TargetResult], catalog: Catalog, color: bool = False) -> str:
    """The human report; ``color`` adds ANSI colours (see :func:`use_color`)."""
    out: list[str] = []
    for result in results:
        ctx = result.context
        header = f"{ctx.reference} ({ctx.platform})"
        out.append(f"{_BOLD}{header}{_RESET}" if color else header)
        active = result.active
        if not active:
            out.append("  no findings")
        groups: dict[str, list[ReportedFinding]] = {}
        for f in active:
            groups.setdefault(f.binary or "", []).append(f)
        # image-wide findings first, then one group per binary in path order
        for binary in sorted(groups, key=lambda b: (b != "", b)):
            title = binary or "image"
            out.append(f" {_BOLD}{title}{_RESET}" if color else f" {title}")
            for f in groups[binary]:
                out.extend(_finding_lines(f, color))
        if result.suppressed:
            out.append(f"  ({_plural(len(result.suppressed), 'suppressed finding')} "
                       "not shown)")
        for note in result.notes:
            out.append(f"  note: {note}")
        out.append("")
    out.append("goimglint: " + summary_line(results))
    return "\n".join(out) + "\n"
