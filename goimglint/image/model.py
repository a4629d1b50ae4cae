"""Typed results of the image stage: what later stages may read about an image."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class EntryKind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    CHAR = "char"
    BLOCK = "block"
    FIFO = "fifo"


@dataclass(frozen=True, slots=True)
class ContentRef:
    """Where a regular file's bytes live: a byte range of a host file that goimglint owns
    or only reads (the archive itself for uncompressed layers, else a spool file in the run's
    temp dir). ``available`` is False when the layer was compressed and the file was not worth
    keeping (not ELF, not a script, not a config file)."""

    host_path: str
    offset: int
    size: int


@dataclass(slots=True)
class Entry:
    """One path of the merged filesystem, as the topmost layer that has it left it."""

    path: str  # absolute, normalised, e.g. "/usr/bin/app"
    kind: EntryKind
    mode: int  # permission bits including setuid/setgid/sticky (no type bits)
    uid: int
    gid: int
    size: int
    layer: int  # index of the layer that produced this entry (0 = bottom)
    linkname: str | None = None  # symlink target as stored
    hardlink_to: str | None = None  # path the tar hardlink named (content shared with it)
    content: ContentRef | None = None
    magic: bytes = b""  # first bytes of a regular file (up to 4), for ELF / script detection


@dataclass(frozen=True, slots=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().split("/")
        if len(parts) < 2 or len(parts) > 3 or not all(parts):
            raise ValueError(f"platform must be os/arch[/variant], got {text!r}")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    def matches(self, wanted: Platform) -> bool:
        if (self.os, self.architecture) != (wanted.os, wanted.architecture):
            return False
        return not wanted.variant or wanted.variant == self.variant


@dataclass(slots=True)
class HistoryEntry:
    created_by: str
    created: str = ""
    comment: str = ""
    empty_layer: bool = False
    layer_index: int | None = None  # which layer this instruction produced, None if empty


@dataclass(slots=True)
class ImageConfig:
    platform: Platform = field(default_factory=Platform)
    env: list[str] = field(default_factory=list)
    user: str = ""
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    working_dir: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)
    has_config: bool = True  # False for a rootfs directory or a lone ELF file

    def env_map(self) -> dict[str, str]:
        """Env as a dict; a later duplicate wins, as in the container runtime."""
        out: dict[str, str] = {}
        for item in self.env:
            key, sep, value = item.partition("=")
            out[key] = value if sep else ""
        return out


@dataclass(slots=True)
class LayerInfo:
    index: int
    digest: str  # blob digest as the manifest names it ("" when unknown)
    diff_id: str  # uncompressed digest from the config ("" when unknown)
    size: int  # bytes of the blob as stored
    compression: str  # "gzip", "zstd" or "none"
    media_type: str = ""
    files: int = 0  # tar entries (whiteouts included) in this layer
    created_by: str = ""  # history instruction that produced it ("" when unknown)
