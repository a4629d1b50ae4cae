"""What the facts stage hands to rules: one ImageFacts per image and platform.

Sub-models live next to the code that derives them (linkage.py for the loader model,
gofacts.py for Go binaries and DNS); this module only assembles them."""

from __future__ import annotations

from dataclasses import dataclass, field

from goimglint.facts.elf import ElfFile
from goimglint.facts.gofacts import DnsFacts, GoFacts
from goimglint.facts.linkage import LoadFacts, SystemFacts
from goimglint.facts.size import SizeFacts
from goimglint.image.model import ImageConfig, LayerInfo


@dataclass(slots=True)
class BinaryFacts:
    """An ELF executable worth reporting on: every Go binary and the entrypoint's target."""

    path: str
    size: int
    mode: int
    uid: int
    gid: int
    layer: int
    elf: ElfFile | None
    elf_error: str | None = None  # why the ELF could not be read (facts are uncertain then)
    go: GoFacts | None = None  # None: not a Go binary
    load: LoadFacts | None = None  # how the image's loader would start it
    is_entrypoint: bool = False


@dataclass(slots=True)
class ImageFacts:
    reference: str  # as given or as the archive names it
    repository: str  # reference without tag or digest
    platform: str  # "linux/amd64"
    config: ImageConfig
    layers: list[LayerInfo]
    binaries: list[BinaryFacts] = field(default_factory=list)
    system: SystemFacts = field(default_factory=SystemFacts)
    dns: DnsFacts = field(default_factory=DnsFacts)
    notes: list[str] = field(default_factory=list)  # limits reached, facts not established
    size: SizeFacts = field(default_factory=SizeFacts)  # size and hardening (facts/size.py)
    today: str = ""  # "YYYY-MM-DD" for date-dependent rules (--today); "" = the real date
