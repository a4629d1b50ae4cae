"""Go binaries: build info, package usage, and the DNS resolver each one will pick."""

from __future__ import annotations

from dataclasses import dataclass, field

from goimglint.facts.elf import ElfFile
from goimglint.image.fs import MergedFS
from goimglint.image.model import ImageConfig


@dataclass(slots=True)
class GoFacts:
    version: str = ""  # "go1.27.3"
    path: str = ""  # main package path
    main: str = ""  # main module path
    settings: dict[str, str] = field(default_factory=dict)
    deps: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DnsFacts:
    """Image-wide name-service facts."""

    nsswitch_present: bool = False


def collect_go_facts(data: bytes, elf: ElfFile) -> GoFacts | None:
    """Go facts of one binary, or None when it is not a Go binary."""
    from goimglint.facts.elf import ELF_MAGIC  # noqa: F401  (placeholder until gobuildinfo)

    return None


def collect_dns_facts(fs: MergedFS, config: ImageConfig) -> DnsFacts:
    return DnsFacts(nsswitch_present=fs.exists("/etc/nsswitch.conf"))
