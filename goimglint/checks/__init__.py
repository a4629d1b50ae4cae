"""Rule logic: one small function per rule, reading only facts.

Each module here exports ``CHECKS: dict[str, CheckFn]`` mapping rule ids to functions."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable

from goimglint.facts.model import ImageFacts
from goimglint.findings import Finding

CheckFn = Callable[[ImageFacts], Iterable[Finding]]


def all_checks() -> dict[str, CheckFn]:
    """Every rule id with its logic, gathered from the modules of this package."""
    found: dict[str, CheckFn] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for rule_id, fn in getattr(module, "CHECKS", {}).items():
            if rule_id in found:
                raise RuntimeError(f"rule {rule_id} has logic in two modules")
            found[rule_id] = fn
    return found
