"""ld.so.conf as ldconfig reads it (glibc elf/ldconfig.c parse_conf), inside an image.

ld.so itself never reads this file; it only matters through the cache ldconfig builds from it.
Syntax: ``#`` starts a comment; ``include <glob>...`` reads more files (relative globs are
relative to the including file's directory, matches sorted); ``hwcap`` lines are ignored; any
other line names one directory, optionally followed by ``=type``. Include loops, which make
ldconfig itself recurse without end, are cut here and reported."""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass, field

from goimglint.errors import PathLoopError
from goimglint.image.fs import MergedFS
from goimglint.image.model import EntryKind

MAX_CONF_FILES = 256
MAX_INCLUDE_DEPTH = 16
MAX_CONF_BYTES = 1 << 20
MAX_GLOB_MATCHES = 1024
# Include fan-out can be exponential (every line of every file globbing a big directory):
# the files opened, include patterns expanded and names matched are counted together.
MAX_WORK = 200_000


@dataclass(slots=True)
class LdSoConf:
    """The directories ldconfig would scan, in order, and where they came from."""

    present: bool = False  # /etc/ld.so.conf exists
    dirs: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # conf files read, in order
    dir_sources: dict[str, str] = field(default_factory=dict)  # dir -> conf file naming it
    problems: list[str] = field(default_factory=list)
    work: int = 0  # against MAX_WORK


def read_ld_so_conf(fs: MergedFS, path: str = "/etc/ld.so.conf") -> LdSoConf:
    conf = LdSoConf(present=fs.exists(path))
    if conf.present:
        _parse(fs, path, conf, [])
    return conf


def _over_budget(conf: LdSoConf, path: str, cost: int = 1) -> bool:
    """Charge ``cost``; True (once with a problem recorded) when the work limit is passed."""
    conf.work += cost
    if conf.work <= MAX_WORK:
        return False
    if not any(p.endswith("the rest is not read") for p in conf.problems[-1:]):
        conf.problems.append(f"{path}: include work limit reached; the rest is not read")
    return True


def _parse(fs: MergedFS, path: str, conf: LdSoConf, stack: list[str]) -> None:
    if _over_budget(conf, path):
        return
    try:
        resolved = fs.resolve(path)
    except PathLoopError:
        conf.problems.append(f"{path}: too many levels of symbolic links")
        return
    if resolved is None:
        conf.problems.append(f"{path}: no such file")
        return
    if resolved in stack:
        if len(conf.problems) < MAX_CONF_FILES:
            conf.problems.append(f"{path}: include loop ({' -> '.join(stack + [resolved])})")
        return
    if len(stack) >= MAX_INCLUDE_DEPTH or len(conf.files) >= MAX_CONF_FILES:
        if len(conf.problems) < MAX_CONF_FILES:
            conf.problems.append(f"{path}: include nesting or file count limit reached")
        return
    data = fs.read(resolved, limit=MAX_CONF_BYTES)
    if data is None:
        conf.problems.append(f"{path}: not a readable regular file")
        return
    conf.files.append(path)
    stack = stack + [resolved]
    for raw in data.decode("utf-8", "surrogateescape").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] == "include" and len(words) > 1:
            for pattern in words[1:]:
                if not pattern.startswith("/"):
                    pattern = posixpath.join(posixpath.dirname(path), pattern)
                if _over_budget(conf, path):
                    return
                for match in glob_fs(fs, pattern, conf):
                    _parse(fs, match, conf, stack)
        elif words[0] == "hwcap":
            continue
        else:
            _add_dir(conf, line, path)


def _add_dir(conf: LdSoConf, line: str, source: str) -> None:
    directory = line.split("=", 1)[0].rstrip()
    # ldconfig drops trailing slashes and ignores a directory named twice.
    while len(directory) > 1 and directory.endswith("/"):
        directory = directory[:-1]
    if not directory or directory in conf.dir_sources:
        return
    conf.dirs.append(directory)
    conf.dir_sources[directory] = source


def glob_fs(fs: MergedFS, pattern: str, conf: LdSoConf | None = None) -> list[str]:
    """glob(3) over the image: matches of an absolute pattern, sorted (GLOB default). Names
    examined are charged to ``conf``'s work limit; none are matched once it is passed."""
    parts = [p for p in pattern.split("/") if p]
    current = ["/"]
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        nxt: list[str] = []
        for base in current:
            if any(ch in part for ch in "*?["):
                try:
                    names = fs.listdir(base)
                except PathLoopError:
                    continue
                if conf is not None and _over_budget(conf, pattern, len(names)):
                    return []
                for name in names:
                    if name.startswith(".") and not part.startswith("."):
                        continue  # glob(3) never matches a leading dot with a wildcard
                    if fnmatch.fnmatchcase(name, part):
                        nxt.append(posixpath.join(base, name))
            else:
                candidate = posixpath.join(base, part)
                if fs.exists(candidate):
                    nxt.append(candidate)
            if len(nxt) > MAX_GLOB_MATCHES:
                break
        if not last:
            nxt = [p for p in nxt if _is_dir(fs, p)]
        current = nxt
        if not current:
            return []
    return sorted(current)


def _is_dir(fs: MergedFS, path: str) -> bool:
    try:
        entry = fs.lookup(path)
    except PathLoopError:
        return False
    return entry is not None and entry.kind is EntryKind.DIR
