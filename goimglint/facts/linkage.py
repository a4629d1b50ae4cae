"""Loader model: how the image's own dynamic loader (glibc or musl) would start a binary."""

from __future__ import annotations

from dataclasses import dataclass

from goimglint.errors import PathLoopError
from goimglint.facts.elf import ElfFile
from goimglint.image.fs import MergedFS
from goimglint.image.model import ImageConfig


@dataclass(slots=True)
class SystemFacts:
    """Image-wide loader facts."""

    libc: str = "none"  # "glibc", "musl" or "none"
    libc_version: str = ""


@dataclass(slots=True)
class LoadFacts:
    """Per-binary loader facts."""

    interpreter_found: bool | None = None  # None: static, or could not be decided
    interpreter_resolved: str | None = None


def collect_system_facts(fs: MergedFS, config: ImageConfig) -> SystemFacts:
    return SystemFacts()


def collect_load_facts(fs: MergedFS, config: ImageConfig, system: SystemFacts, path: str,
                       elf: ElfFile) -> LoadFacts:
    if elf.interpreter is None:
        return LoadFacts()
    try:
        resolved = fs.resolve(elf.interpreter)
    except PathLoopError:
        return LoadFacts(interpreter_found=None)
    entry = fs.entry(resolved) if resolved else None
    found = entry is not None and entry.kind.value == "file"
    return LoadFacts(interpreter_found=found, interpreter_resolved=resolved if found else None)
