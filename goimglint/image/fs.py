"""The merged, read-only filesystem of an image: layers applied with whiteouts, paths resolved
component by component inside the image root, file contents read lazily from where the layer
reader left them."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from goimglint.errors import PathLoopError
from goimglint.image.efficiency import Efficiency
from goimglint.image.model import ContentRef, Entry, EntryKind

# Linux gives ELOOP after 40 symlinks in one path walk (MAXSYMLINKS).
MAX_SYMLINK_HOPS = 40
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


def normalize_member_name(name: str) -> str | None:
    """Turn a tar member name into an absolute image path.

    Leading "./" and "/" are dropped, "." components removed and ".." clamped at the root (a
    hostile archive cannot name a path above it). Returns None for the root itself."""
    if "/." not in name and "//" not in name and "\x00" not in name and not name.startswith("."):
        # The common case, a plain relative name: no component to drop or clamp.
        stripped = name.strip("/")
        return "/" + stripped if stripped else None
    parts: list[str] = []
    for comp in name.replace("\x00", "").split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if parts:
                parts.pop()
            continue
        parts.append(comp)
    if not parts:
        return None
    return "/" + "/".join(parts)


class LayerMember(NamedTuple):
    """One tar entry of a layer, as the layer reader saw it.

    A named tuple, not a dataclass: a layer has tens of thousands of members, built in a
    worker process and sent to the merge, and tuples are several times cheaper to create
    and to pickle."""

    path: str  # normalised absolute path (whiteout markers keep their .wh. name)
    kind: EntryKind
    mode: int
    uid: int
    gid: int
    size: int
    linkname: str | None = None  # symlink target
    hardlink: str | None = None  # normalised path a tar hardlink points at
    content: ContentRef | None = None
    magic: bytes = b""


class MergedFS:
    """Path -> Entry of the merged image, plus a directory index.

    The root directory "/" always exists. All lookups are pure (no host filesystem access);
    only ``read`` touches a host file, and only the byte range the layer reader recorded."""

    def __init__(self) -> None:
        root = Entry("/", EntryKind.DIR, 0o755, 0, 0, 0, -1)
        self._entries: dict[str, Entry] = {"/": root}
        self._children: dict[str, dict[str, None]] = {"/": {}}
        self.layer_count = 0
        # dive's per-path counts across layers (wasted bytes), gone from the merged view
        self.efficiency = Efficiency()

    @classmethod
    def from_directory(cls, root: str) -> MergedFS:
        """A root filesystem directory on the host, read as a single layer."""
        fs = cls()
        fs.apply_layer(0, members_from_directory(root))
        return fs

    # -- building -------------------------------------------------------------------------

    def apply_layer(self, index: int, members: Iterable[LayerMember]) -> None:
        """Apply one layer on top of the current state, as overlayfs would show it.

        Whiteouts only hide lower layers, so the opaque markers are applied first, then the
        whiteout files, then the layer's own entries. The first layer's markers are ignored
        (there is nothing below them), and no symlink is followed while applying a marker."""
        members = members if isinstance(members, list) else list(members)
        self.efficiency.add_layer(index, members)
        own: list[LayerMember] = []
        opaque: list[str] = []
        whiteouts: list[str] = []
        for m in members:
            if ".wh." not in m.path:
                own.append(m)
                continue
            parent, _, base = m.path.rpartition("/")
            parent = parent or "/"
            if base == OPAQUE_MARKER:
                opaque.append(parent)
            elif base.startswith(WHITEOUT_PREFIX):
                name = base[len(WHITEOUT_PREFIX) :]
                if name and name not in (".", ".."):
                    whiteouts.append(posixpath.join(parent, name))
            else:
                own.append(m)
        if index > 0:
            for d in opaque:
                entry = self._entries.get(d)
                if entry is not None and entry.kind is EntryKind.DIR:
                    for child in list(self._children.get(d, ())):
                        self._remove_tree(posixpath.join(d, child))
            for p in whiteouts:
                if p in self._entries and p != "/":
                    self._remove_tree(p)
        for m in own:
            self._add(index, m)
        self.layer_count = max(self.layer_count, index + 1)

    def _add(self, layer: int, m: LayerMember) -> None:
        self._ensure_parent_dirs(m.path, layer)
        old = self._entries.get(m.path)
        content, magic, size, kind = m.content, m.magic, m.size, m.kind
        if m.hardlink is not None:
            # A hardlink shares the content of a path already present (same or lower layer).
            target = self._entries.get(m.hardlink)
            if target is not None and target.kind is EntryKind.FILE:
                content, magic, size, kind = target.content, target.magic, target.size, target.kind
            else:
                content, magic, size, kind = None, b"", 0, EntryKind.FILE
        if old is not None:
            if old.kind is EntryKind.DIR and kind is EntryKind.DIR:
                # Same directory in a higher layer: new metadata, children kept.
                old.mode, old.uid, old.gid, old.layer = m.mode, m.uid, m.gid, layer
                return
            self._remove_tree(m.path)
        entry = Entry(
            m.path, kind, m.mode, m.uid, m.gid, size, layer,
            linkname=m.linkname, hardlink_to=m.hardlink, content=content, magic=magic,
        )
        self._insert(entry)

    def _insert(self, entry: Entry) -> None:
        self._entries[entry.path] = entry
        head, _, name = entry.path.rpartition("/")  # normalised: faster than posixpath
        self._children[head or "/"][name] = None
        if entry.kind is EntryKind.DIR:
            self._children.setdefault(entry.path, {})

    def _ensure_parent_dirs(self, path: str, layer: int) -> None:
        # Iterative, top-down: a 10,000-deep path must not exhaust Python's recursion limit.
        missing: list[str] = []
        parent = path.rpartition("/")[0] or "/"
        while parent != "/":
            existing = self._entries.get(parent)
            if existing is not None and existing.kind is EntryKind.DIR:
                break
            missing.append(parent)
            parent = parent.rpartition("/")[0] or "/"
        for parent in reversed(missing):
            if parent in self._entries:
                # A non-directory where this layer puts children: the layer's implied
                # directory replaces it (overlayfs shows the upper directory).
                self._remove_tree(parent)
            self._insert(Entry(parent, EntryKind.DIR, 0o755, 0, 0, 0, layer))

    def _remove_tree(self, path: str) -> None:
        entry = self._entries.pop(path, None)
        if entry is None:
            return
        parent, name = posixpath.split(path)
        siblings = self._children.get(parent)
        if siblings is not None:
            siblings.pop(name, None)
        if entry.kind is EntryKind.DIR:
            # Iterative to survive 10,000-deep trees.
            stack = [path]
            while stack:
                d = stack.pop()
                for child in self._children.pop(d, {}):
                    cp = posixpath.join(d, child)
                    ce = self._entries.pop(cp, None)
                    if ce is not None and ce.kind is EntryKind.DIR:
                        stack.append(cp)

    # -- queries --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def entry(self, path: str) -> Entry | None:
        """The entry stored at exactly this (normalised) path; symlinks are not followed."""
        return self._entries.get(path)

    def listdir(self, path: str) -> list[str]:
        """Names in a directory (after resolving symlinks in ``path``), sorted."""
        resolved = self.resolve(path)
        if resolved is None:
            return []
        return sorted(self._children.get(resolved, ()))

    def resolve(self, path: str, follow_last: bool = True, cwd: str = "/") -> str | None:
        """Resolve ``path`` inside the image root, component by component.

        Absolute symlink targets restart at the image root; ".." never climbs above it.
        Returns the resolved absolute path if it exists, None if some component is missing or
        a non-final component is not a directory. Raises PathLoopError after 40 symlinks."""
        if not path.startswith("/"):
            path = posixpath.join(cwd if cwd.startswith("/") else "/" + cwd, path)
        pending = [c for c in path.split("/") if c not in ("", ".")]
        pending.reverse()  # a stack: next component at the end
        current = "/"
        hops = 0
        while pending:
            comp = pending.pop()
            if comp == "..":
                current = posixpath.dirname(current) if current != "/" else "/"
                continue
            candidate = posixpath.join(current, comp)
            entry = self._entries.get(candidate)
            if entry is None:
                return None
            if entry.kind is EntryKind.SYMLINK and (pending or follow_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise PathLoopError(f"too many levels of symbolic links resolving {path}")
                target = entry.linkname or ""
                parts = [c for c in target.split("/") if c not in ("", ".")]
                pending.extend(reversed(parts))
                if target.startswith("/"):
                    current = "/"
                continue
            if pending and entry.kind is not EntryKind.DIR:
                return None
            current = candidate
        return current

    def lookup(self, path: str, follow_last: bool = True, cwd: str = "/") -> Entry | None:
        """The entry a process would reach by opening ``path`` (symlinks followed)."""
        resolved = self.resolve(path, follow_last=follow_last, cwd=cwd)
        return None if resolved is None else self._entries.get(resolved)

    def exists(self, path: str) -> bool:
        try:
            return self.lookup(path) is not None
        except PathLoopError:
            return False

    def read(self, path: str, limit: int | None = None) -> bytes | None:
        """Contents of the regular file ``path`` resolves to, or None when it is not a regular
        file or its bytes were not kept. ``limit`` caps how many bytes are read."""
        entry = self.lookup(path)
        if entry is None:
            return None
        return self.read_entry(entry, limit)

    @staticmethod
    def read_entry(entry: Entry, limit: int | None = None) -> bytes | None:
        ref = entry.content
        if entry.kind is not EntryKind.FILE or ref is None:
            return None
        size = ref.size if limit is None else min(ref.size, limit)
        with open(ref.host_path, "rb") as fh:
            fh.seek(ref.offset)
            return fh.read(size)

    def walk_files(self) -> Iterator[Entry]:
        """Every regular file, in path order."""
        for path in sorted(self._entries):
            e = self._entries[path]
            if e.kind is EntryKind.FILE:
                yield e


def members_from_directory(root: str) -> list[LayerMember]:
    """A root filesystem directory as one layer: nothing below ``root`` is followed or
    opened except regular files' first bytes; contents are referenced in place."""
    import os
    import stat as st

    out: list[LayerMember] = []
    root = os.path.abspath(root)
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                items = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        for item in items:
            try:
                info = item.stat(follow_symlinks=False)
            except OSError:
                continue
            rel = "/" + os.path.relpath(item.path, root).replace(os.sep, "/")
            mode = info.st_mode
            perm = st.S_IMODE(mode)
            common = (perm, info.st_uid, info.st_gid)
            if st.S_ISDIR(mode):
                out.append(LayerMember(rel, EntryKind.DIR, *common, 0))
                stack.append(item.path)
            elif st.S_ISLNK(mode):
                out.append(LayerMember(rel, EntryKind.SYMLINK, *common, 0,
                                       linkname=os.readlink(item.path)))
            elif st.S_ISREG(mode):
                try:
                    with open(item.path, "rb") as fh:
                        magic = fh.read(4)
                except OSError:
                    magic = b""
                out.append(LayerMember(rel, EntryKind.FILE, *common, info.st_size,
                                       content=ContentRef(item.path, 0, info.st_size),
                                       magic=magic))
            else:
                kind = (EntryKind.CHAR if st.S_ISCHR(mode) else EntryKind.BLOCK
                        if st.S_ISBLK(mode) else EntryKind.FIFO)
                out.append(LayerMember(rel, kind, *common, 0))
    out.sort(key=lambda m: m.path)
    return out
