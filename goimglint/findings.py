"""What rules produce: findings with the facts that back them. Rule logic fills ``args``;
the message and fix texts are templates in ``rules/<ID>.toml`` filled from those args."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Level(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"

    @property
    def rank(self) -> int:
        return {"error": 3, "warning": 2, "note": 1}[self.value]


@dataclass(slots=True)
class Finding:
    """One problem found by one rule in one image.

    ``args`` fill the rule's message and fix templates. ``key`` lists the evidence that makes
    this finding the same finding across rebuilds (goes into the fingerprint). ``variant``
    selects an alternative message/level declared in the rule's TOML."""

    rule_id: str
    path: str = ""  # path in the image the finding is about
    args: dict[str, Any] = field(default_factory=dict)
    layer: int | None = None  # layer that produced the offending file or setting
    config_key: str = ""  # config setting at fault ("Env", "User", "Entrypoint"...), if any
    binary: str = ""  # Go binary / executable concerned, if any
    evidence: dict[str, Any] = field(default_factory=dict)
    key: tuple[str, ...] = ()
    variant: str = ""
    level: Level | None = None  # overrides the rule (or variant) default when set
    uncertain: bool = False  # the facts could not decide; reported, never guessed


@dataclass(slots=True)
class SuggestedFix:
    description: str
    command: str = ""
    dockerfile: str = ""  # snippet to put in the Dockerfile
    replaces_instruction: bool = False  # the snippet replaces the instruction at fault


@dataclass(slots=True)
class ReportedFinding:
    """A finding with everything the reporters print: rule metadata applied, image context."""

    rule_id: str
    rule_name: str
    level: Level
    message: str
    image: str  # image reference as given (may include tag/digest)
    repository: str  # image reference without tag or digest (fingerprint input)
    platform: str
    path: str
    binary: str
    layer: int | None
    layer_digest: str
    instruction: str  # history created_by of the producing layer or setting
    evidence: dict[str, Any]
    fixes: list[SuggestedFix]
    fingerprint: str
    uncertain: bool = False
    suppressed: str = ""  # non-empty = why it is suppressed
    dockerfile_line: int | None = None
    dockerfile_path: str = ""
    history_index: int | None = None  # config history entry that produced the layer/setting
    dockerfile_end_line: int | None = None
