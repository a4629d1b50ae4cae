"""Derive ImageFacts from a loaded image: find the binaries worth reporting on and ask each
fact module about them. This is the only place the facts stage reads the merged filesystem
on behalf of rules."""

from __future__ import annotations

from goimglint.facts.elf import ElfError, parse_elf
from goimglint.facts.gofacts import collect_dns_facts, collect_go_facts, complete_go_facts
from goimglint.facts.linkage import collect_load_facts, collect_system_facts
from goimglint.facts.model import BinaryFacts, ImageFacts
from goimglint.facts.size import collect_size_facts
from goimglint.image.archive import Image, repository_of
from goimglint.image.fs import MergedFS
from goimglint.image.model import Entry, EntryKind, ImageConfig

# Binaries larger than this are not read whole (a crafted size could exhaust memory).
MAX_BINARY_BYTES = 1024 * 1024 * 1024
def _is_candidate(entry: Entry) -> bool:
    return (entry.kind is EntryKind.FILE and entry.magic == b"\x7fELF"
            and bool(entry.mode & 0o111))


def collect_facts(image: Image, today: str = "") -> ImageFacts:
    fs, config = image.fs, image.config
    facts = ImageFacts(
        reference=image.reference,
        repository=repository_of(image.reference),
        platform=str(config.platform) if config.platform.architecture else "",
        config=config,
        layers=image.layers,
        today=today,
    )
    facts.system = collect_system_facts(fs, config)
    # The loader model follows PATH, WorkingDir, symlinks and #! chains to the ELF the kernel
    # finally loads (the interpreter of a script entrypoint).
    entry_target = facts.system.entrypoint.executable
    facts.dns = collect_dns_facts(fs, config)
    for entry in fs.walk_files():
        is_entry = entry.path == entry_target
        if not (_is_candidate(entry) or (is_entry and entry.magic == b"\x7fELF")):
            continue
        binary = _binary_facts(fs, config, facts, entry, is_entry)
        if binary is not None:
            facts.binaries.append(binary)
    facts.size = collect_size_facts(fs, config, image.layers, facts.binaries)
    return facts


def _binary_facts(fs: MergedFS, config: ImageConfig, facts: ImageFacts, entry: Entry,
                  is_entry: bool) -> BinaryFacts | None:
    common = dict(path=entry.path, size=entry.size, mode=entry.mode, uid=entry.uid,
                  gid=entry.gid, layer=entry.layer, is_entrypoint=is_entry)
    if entry.size > MAX_BINARY_BYTES:
        facts.notes.append(f"{entry.path}: {entry.size} bytes, over the read limit; skipped")
        return BinaryFacts(elf=None, elf_error="over the size limit", **common)  # type: ignore[arg-type]
    data = fs.read_entry(entry)
    if data is None:
        return None
    try:
        elf = parse_elf(data)
    except ElfError as exc:
        if not is_entry:
            return None
        return BinaryFacts(elf=None, elf_error=str(exc), **common)  # type: ignore[arg-type]
    go = collect_go_facts(data, elf)
    if go is None and not is_entry:
        return None
    if go is not None:
        go = complete_go_facts(go, facts.dns, config)
    binary = BinaryFacts(elf=elf, go=go, **common)  # type: ignore[arg-type]
    binary.load = collect_load_facts(fs, config, facts.system, entry.path, elf)
    return binary
