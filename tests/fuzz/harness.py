"""Shared pieces of the fuzz harnesses: how many inputs each harness tries, the per-input time
limit that turns a hang into a failure, and the counters benchmarks/fuzz_report.py reads.

Short run (the test suite): each harness tries its default count, the whole of tests/fuzz in
well under a minute. Long run: ``GOIMGLINT_FUZZ_EXAMPLES=100000 pytest tests/fuzz`` (every
harness tries that many inputs), or ``python benchmarks/fuzz_report.py --examples 100000``
for figures (inputs tried, crashes, hangs, peak memory per harness)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, given, settings

F = TypeVar("F", bound=Callable[..., Any])

# One input taking longer than this is a hang (time must be proportional to input size, and
# fuzz inputs are small). Generous: a loaded CI machine must not turn into false hangs.
HANG_SECONDS = float(os.environ.get("GOIMGLINT_FUZZ_HANG_SECONDS", "5"))
COUNTS: dict[str, int] = {}


def examples(default: int) -> int:
    override = os.environ.get("GOIMGLINT_FUZZ_EXAMPLES")
    return int(override) if override else default


def fuzz(name: str, default_examples: int, *strategies: Any, **kw_strategies: Any
         ) -> Callable[[F], F]:
    """``@given(*strategies)`` with this harness's settings, counting every input tried.
    GOIMGLINT_FUZZ_NO_DB=1 (the report script) keeps examples out of .hypothesis/."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def counted(*args: Any, **kwargs: Any) -> Any:
            COUNTS[name] = COUNTS.get(name, 0) + 1
            return fn(*args, **kwargs)

        extra: dict[str, Any] = {}
        if os.environ.get("GOIMGLINT_FUZZ_NO_DB"):
            extra["database"] = None
        return settings(  # type: ignore[no-any-return]
            max_examples=examples(default_examples),
            deadline=timedelta(seconds=HANG_SECONDS),
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
            derandomize=not os.environ.get("GOIMGLINT_FUZZ_RANDOM"),
            **extra,
        )(given(*strategies, **kw_strategies)(counted))

    return wrap
