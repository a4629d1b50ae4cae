"""Derive ImageFacts from a loaded image: find the binaries worth reporting on and ask each
fact module about them. This is the only place the facts stage reads the merged filesystem
on behalf of rules."""

from __future__ import annotations

from goimglint.errors import PathLoopError
from goimglint.facts.elf import PT_DYNAMIC, PT_INTERP, PT_LOAD, ElfError, ElfFile, parse_elf
from goimglint.facts.gofacts import (
    MAX_CONFIG_BYTES,
    collect_dns_facts,
    collect_go_facts,
    complete_go_facts,
)
from goimglint.facts.linkage import (
    ImageLoader,
    collect_load_facts,
    collect_system_facts,
    image_loader,
    resolve_dlopen,
)
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
    # One loader model per image: it caches ld.so.cache and directory lookups.
    loader = image_loader(fs, config)
    facts.system = collect_system_facts(fs, config, loader=loader)
    # The loader model follows PATH, WorkingDir, symlinks and #! chains to the ELF the kernel
    # finally loads (the interpreter of a script entrypoint).
    entry_target = facts.system.entrypoint.executable
    facts.dns = collect_dns_facts(fs, config)
    for name in facts.dns.nss_modules:
        # glibc dlopen()s libnss_<name>.so.2 from libc: the loader model knows where it lands
        # (ld.so.cache, LD_LIBRARY_PATH), better than a fixed list of directories.
        dep = resolve_dlopen(fs, config, facts.system, f"libnss_{name}.so.2", loader)
        if dep is not None:
            facts.dns.nss_modules[name] = (dep.path or dep.resolved or "") if dep.found else ""
    _note_cut_config_files(fs, facts)
    for entry in fs.walk_files():
        is_entry = entry.path == entry_target
        if not (_is_candidate(entry) or (is_entry and entry.magic == b"\x7fELF")):
            continue
        binary = _binary_facts(fs, config, facts, entry, is_entry, loader)
        if binary is not None:
            facts.binaries.append(binary)
    facts.size = collect_size_facts(fs, config, image.layers, facts.binaries)
    return facts


def _binary_facts(fs: MergedFS, config: ImageConfig, facts: ImageFacts, entry: Entry,
                  is_entry: bool, loader: ImageLoader) -> BinaryFacts | None:
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
        # Never a guess: say which facts are missing instead of reporting nothing.
        facts.notes.append(f"{entry.path}: unreadable ELF file ({exc}); whether it starts "
                           "and its Go facts are not established")
        if not is_entry:
            return None
        return BinaryFacts(elf=None, elf_error=str(exc), **common)  # type: ignore[arg-type]
    truncated = _truncation(elf, len(data))
    if truncated:
        facts.notes.append(f"{entry.path}: truncated ({truncated}); the kernel cannot map "
                           "it whole, so start-up and Go facts are uncertain")
    go = collect_go_facts(data, elf)
    if go is not None and go.errors:
        facts.notes.extend(f"{entry.path}: Go {err}" for err in go.errors)
    if go is None and not is_entry:
        return None
    if go is not None:
        go = complete_go_facts(go, facts.dns, config)
    binary = BinaryFacts(elf=elf, go=go, elf_error=truncated or None,
                         **common)  # type: ignore[arg-type]
    binary.load = collect_load_facts(fs, config, facts.system, entry.path, elf, loader)
    return binary


def _truncation(elf: ElfFile, size: int) -> str:
    """Why the file is shorter than its own program headers say, or ""."""
    need = max((seg.offset + seg.filesz for seg in elf.segments if seg.type in
                (PT_LOAD, PT_INTERP, PT_DYNAMIC)), default=0)
    return f"its segments need {need} bytes, the file has {size}" if need > size else ""


def _note_cut_config_files(fs: MergedFS, facts: ImageFacts) -> None:
    """Files the DNS facts read only the first MAX_CONFIG_BYTES of: say so, do not guess."""
    for path in ("/etc/nsswitch.conf", "/etc/resolv.conf"):
        try:
            entry = fs.lookup(path)
        except PathLoopError:
            facts.notes.append(f"{path}: symlink loop; facts from it are not established")
            continue
        if entry is not None and entry.size > MAX_CONFIG_BYTES:
            facts.notes.append(f"{path}: {entry.size} bytes, only the first {MAX_CONFIG_BYTES} "
                               "were read; DNS facts from it are uncertain")
