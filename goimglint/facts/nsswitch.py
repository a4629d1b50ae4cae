"""``/etc/nsswitch.conf`` and ``/etc/nsswitch.conf.d/*.conf``, parsed as Go's ``net/nss.go``
parses the main file, with the file and line of every source kept.

Go (and glibc) read only ``/etc/nsswitch.conf``. Fragments in ``/etc/nsswitch.conf.d`` are merged
on top in lexical order (a later file's database line replaces the earlier one) to give the
*effective* configuration that images generating the main file from fragments end up with;
the main file alone stays available because it is what a running binary reads."""

from __future__ import annotations

from dataclasses import dataclass, field

MAIN_PATH = "/etc/nsswitch.conf"
FRAGMENT_DIR = "/etc/nsswitch.conf.d"
# Callers read at most 1 MiB (gofacts.MAX_CONFIG_BYTES, with a note past it); every line of
# that is parsed (linear time), so no line of the file is silently dropped.
MAX_LINES = 1 << 20
MAX_SOURCES = 256


class NsswitchError(ValueError):
    """Raised only by callers that want strict parsing; the parser records errors instead."""


@dataclass(frozen=True, slots=True)
class Criterion:
    """One ``[STATUS=action]`` item, lower-cased as Go compares it."""

    status: str
    action: str
    negate: bool = False

    def text(self) -> str:
        return f"{'!' if self.negate else ''}{self.status.upper()}={self.action}"

    def standard(self, last: bool) -> bool:
        """Go's ``standardStatusAction``: does this criterion only restate the default?"""
        if self.negate:
            return False
        if self.status == "success":
            default = "return"
        elif self.status in ("notfound", "unavail", "tryagain"):
            default = "continue"
        else:
            return False
        if last and self.action == "return":
            return True
        return self.action == default


@dataclass(frozen=True, slots=True)
class NssSource:
    name: str  # "files", "dns", "mdns4_minimal"...
    criteria: tuple[Criterion, ...] = ()
    file: str = MAIN_PATH
    line: int = 0

    def standard_criteria(self) -> bool:
        n = len(self.criteria)
        return all(c.standard(i == n - 1) for i, c in enumerate(self.criteria))

    def text(self) -> str:
        if not self.criteria:
            return self.name
        return f"{self.name} [{' '.join(c.text() for c in self.criteria)}]"

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(slots=True)
class NssLine:
    database: str
    sources: list[NssSource] = field(default_factory=list)
    file: str = MAIN_PATH
    line: int = 0  # line of the first line for this database in that file

    def text(self) -> str:
        return " ".join(s.text() for s in self.sources)


@dataclass(slots=True)
class NsswitchFile:
    path: str
    databases: dict[str, NssLine] = field(default_factory=dict)
    error: str = ""  # Go's parse error ("no colon on line" ...) with its line; "" when fine
    error_line: int = 0


@dataclass(slots=True)
class NsswitchConfig:
    main: NsswitchFile | None = None  # None: /etc/nsswitch.conf does not exist
    fragments: list[NsswitchFile] = field(default_factory=list)
    effective: dict[str, NssLine] = field(default_factory=dict)  # main + fragments merged

    @property
    def main_present(self) -> bool:
        return self.main is not None

    def hosts(self) -> NssLine | None:
        """The effective hosts line (fragments applied)."""
        return self.effective.get("hosts")

    def main_hosts(self) -> NssLine | None:
        """The hosts line of /etc/nsswitch.conf itself: what Go and glibc read."""
        if self.main is None:
            return None
        return self.main.databases.get("hosts")


def _is_space(c: str) -> bool:
    return c in " \t\r\n"


def _trim(s: str) -> str:
    return s.strip(" \t\r\n")


def parse_nsswitch(text: str, path: str = MAIN_PATH) -> NsswitchFile:
    """Parse one file the way Go's ``parseNSSConf`` does: ``#`` starts a comment, a
    non-empty line needs a colon, sources are separated by spaces, a ``[...]`` block after a
    source holds its criteria. A repeated database line appends its sources (as Go does).
    Parse errors stop the parse and are recorded, as Go then distrusts the whole file."""
    out = NsswitchFile(path)
    for lineno, raw in enumerate(text.split("\n")[:MAX_LINES], start=1):
        hash_at = raw.find("#")
        line = _trim(raw if hash_at < 0 else raw[:hash_at])
        if not line:
            continue
        colon = line.find(":")
        if colon < 0:
            out.error, out.error_line = "no colon on line", lineno
            return out
        db = _trim(line[:colon])
        srcs = line[colon + 1 :]
        entry = out.databases.get(db)
        if entry is None:
            entry = out.databases[db] = NssLine(db, [], path, lineno)
        # Go slices srcs as it goes; an index into it keeps a megabyte line linear here.
        # (The line is trimmed, so only leading space ever needs skipping.)
        pos, end = 0, len(srcs)
        while True:
            while pos < end and _is_space(srcs[pos]):
                pos += 1
            if pos >= end:
                break
            sp = srcs.find(" ", pos)
            if sp < 0:
                src, pos = srcs[pos:], end
            else:
                src, pos = srcs[pos:sp], sp + 1
                while pos < end and _is_space(srcs[pos]):
                    pos += 1
            criteria: tuple[Criterion, ...] = ()
            if srcs.startswith("[", pos):
                close = srcs.find("]", pos)
                if close < 0:
                    out.error, out.error_line = "unclosed criterion bracket", lineno
                    return out
                try:
                    criteria = _parse_criteria(srcs[pos + 1:close])
                except NsswitchError:
                    out.error = f"invalid criteria: {srcs[pos + 1:close]}"
                    out.error_line = lineno
                    return out
                pos = close + 1
            if len(entry.sources) < MAX_SOURCES:
                entry.sources.append(NssSource(src, criteria, path, lineno))
    return out


def _parse_criteria(text: str) -> tuple[Criterion, ...]:
    out: list[Criterion] = []
    for f in "".join(" " if _is_space(c) else c for c in text).split():
        negate = f.startswith("!")
        if negate:
            f = f[1:]
        if len(f) < 3:
            raise NsswitchError("criterion too short")
        eq = f.find("=")
        if eq < 0:
            raise NsswitchError("criterion lacks equal sign")
        f = f.lower()
        out.append(Criterion(f[:eq], f[eq + 1 :], negate))
    return tuple(out)


def merge(main: NsswitchFile | None, fragments: list[NsswitchFile]) -> dict[str, NssLine]:
    """Main file, then each fragment in the given (lexical) order; a later database line
    replaces an earlier one."""
    effective: dict[str, NssLine] = {}
    for f in ([main] if main is not None else []) + fragments:
        effective.update(f.databases)
    return effective


def build_config(main_text: str | None, fragments: list[tuple[str, str]]) -> NsswitchConfig:
    """``fragments`` are (path, text) pairs; they are applied in lexical order of path."""
    main = parse_nsswitch(main_text, MAIN_PATH) if main_text is not None else None
    frags = [parse_nsswitch(text, path) for path, text in sorted(fragments)]
    return NsswitchConfig(main, frags, merge(main, frags))
