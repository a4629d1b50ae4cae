"""Fixtures of the size and hardening tests: real Go builds and a Debian root from the host."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.gobuild import go_build


@pytest.fixture(scope="session")
def hello_static_unstripped() -> Path:
    """CGO_ENABLED=0, symbols and DWARF kept, no -trimpath."""
    return go_build("hello", flags=("-buildvcs=false",))


@pytest.fixture(scope="session")
def hello_static_trimpath() -> Path:
    """CGO_ENABLED=0, symbols and DWARF kept, -trimpath."""
    return go_build("hello", flags=("-trimpath", "-buildvcs=false"))


@pytest.fixture(scope="session")
def hello_static_stripped() -> Path:
    return go_build("hello", ldflags="-s -w", flags=("-trimpath", "-buildvcs=false"))


@pytest.fixture(scope="session")
def hello_cgo() -> Path:
    return go_build("hello", env={"CGO_ENABLED": "1"}, ldflags="-s -w",
                    flags=("-trimpath", "-buildvcs=false"))


@pytest.fixture(scope="session")
def features_x509_tz_user() -> Path:
    """A static binary that loads the system CA roots, time zones and /etc/passwd."""
    return go_build("features", tags="use_x509,use_tz,use_user", ldflags="-s -w",
                    flags=("-trimpath", "-buildvcs=false"))
