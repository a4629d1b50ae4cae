"""The session-wide ``gobin`` fixture: real Go binaries built once (see gobuilds.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.golang.gobuilds import MATRIX, Build, built


@pytest.fixture(scope="session")
def gobin() -> Callable[[str | Build], Path]:
    """``gobin("net-cgo")`` or ``gobin(Build(...))``: the path of a built binary."""

    def get(which: str | Build) -> Path:
        return built(MATRIX[which] if isinstance(which, str) else which)

    return get
