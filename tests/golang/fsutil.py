"""A MergedFS over a host directory (one layer), so that facts are computed from the same
files a chroot run sees."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from goimglint.image.fs import LayerMember, MergedFS
from goimglint.image.model import ContentRef, EntryKind


def fs_from_dir(root: Path) -> MergedFS:
    members: list[LayerMember] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames) + sorted(filenames):
            host = Path(dirpath) / name
            path = "/" + str(host.relative_to(root))
            st = host.lstat()
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                members.append(LayerMember(path, EntryKind.SYMLINK, mode, 0, 0, 0,
                                           linkname=os.readlink(host)))
            elif stat.S_ISDIR(st.st_mode):
                members.append(LayerMember(path, EntryKind.DIR, mode, 0, 0, 0))
            elif stat.S_ISREG(st.st_mode):
                with open(host, "rb") as fh:
                    magic = fh.read(4)
                members.append(LayerMember(path, EntryKind.FILE, mode, 0, 0, st.st_size,
                                           content=ContentRef(str(host), 0, st.st_size),
                                           magic=magic))
    fs = MergedFS()
    fs.apply_layer(0, members)
    return fs


def write_tree(root: Path, files: dict[str, str | bytes | None]) -> Path:
    """Create files under root; None makes a directory."""
    for path, content in files.items():
        target = root / path.lstrip("/")
        if content is None:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        target.write_bytes(content)
    return root
