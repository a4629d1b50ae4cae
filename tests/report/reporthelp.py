"""Shared builders for the reporting tests: a small rule catalog written to a temp dir,
image contexts with real-looking history, and the SARIF validators."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from goimglint.findings import Finding
from goimglint.image.model import HistoryEntry, LayerInfo
from goimglint.present import ImageContext, TargetResult, present_findings

# The official SARIF 2.1.0 schema (MIT, see data/LICENSE-sarif-schema.txt), a copy of
# ../shared/sarif/ so that the suite runs from any checkout location.
SCHEMA = Path(__file__).resolve().parent / "data" / "sarif-schema-2.1.0.json"

RULES = {
    "GIL901": '''
id = "GIL901"
name = "MissingInterpreter"
slug = "test-missing-interpreter"
level = "error"
tags = ["loader", "startup"]
precision = "very-high"
short_description = "The binary's program interpreter is missing from the image."
full_description = """The ELF program interpreter named in PT_INTERP does not exist in the \
image, so the kernel cannot start the binary."""
message = """{binary} asks for the program interpreter {interpreter}, which the image does not \
have. It will fail with 'no such file or directory'."""
help = """
## Why
The kernel loads `{interpreter}` first.

## Fix
```dockerfile
RUN CGO_ENABLED=0 go build -o /out/app .
```
See [Go cgo docs](https://pkg.go.dev/cmd/cgo).
"""

[variants.uncertain]
level = "note"
message = "{binary} may need {interpreter}; the image layout did not let goimglint decide."

[[fixes]]
description = "Build a static binary with CGO_ENABLED=0."
command = "CGO_ENABLED=0 go build -o {binary_name} ."

[[fixes]]
description = "Or copy the musl loader in."
when = "musl"
command = "apk add musl"
''',
    "GIL902": '''
id = "GIL902"
name = "WorldWritableBinary"
slug = "test-world-writable"
level = "warning"
tags = ["security", "permissions"]
precision = "high"
security-severity = "6.5"
short_description = "A binary is writable by every user."
full_description = "Any process in the container can replace the binary."
message = "{path} is world-writable (mode {mode})."
help = "Run `chmod 0755 {path}` in the Dockerfile."

[[fixes]]
description = "Remove the write bit for others."
command = "chmod o-w {path}"
''',
    "GIL903": '''
id = "GIL903"
name = "NetdnsDebug"
slug = "test-netdns-debug"
level = "note"
tags = ["dns"]
precision = "high"
short_description = "GODEBUG netdns debug output is on."
full_description = "GODEBUG=netdns=go+1 prints resolver decisions to stderr on every lookup."
message = "GODEBUG sets netdns={netdns}, which prints resolver debug output."
help = "Use `ENV GODEBUG=netdns=go`."

[[fixes]]
description = "Drop the +1 debug flag."
dockerfile = "ENV GODEBUG=netdns=go"
replaces_instruction = true
''',
}


def write_catalog(directory: Path, rules: dict[str, str] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for rule_id, text in (rules or RULES).items():
        (directory / f"{rule_id}.toml").write_text(text, encoding="utf-8")
    return directory


def history_from_created_by(created_by: list[tuple[str, bool]]) -> list[HistoryEntry]:
    """HistoryEntry list (layer indexes assigned in order) from (created_by, empty_layer)."""
    out = []
    layer = 0
    for text, empty in created_by:
        out.append(HistoryEntry(created_by=text, empty_layer=empty,
                                layer_index=None if empty else layer))
        if not empty:
            layer += 1
    return out


def context_for(reference: str, repository: str, history: list[HistoryEntry],
                platform: str = "linux/amd64", labels: dict[str, str] | None = None,
                digest_salt: str = "") -> ImageContext:
    layers = []
    for entry in history:
        if entry.layer_index is not None:
            digest = "sha256:" + (f"{entry.layer_index:02d}{digest_salt}" * 64)[:64]
            layers.append(LayerInfo(index=entry.layer_index, digest=digest, diff_id=digest,
                                    size=100, compression="gzip",
                                    created_by=entry.created_by))
    return ImageContext(reference, repository, platform, layers, history, labels or {})


BUILDKIT_HISTORY = [
    ("ADD alpine-minirootfs-3.20.tar.gz / # buildkit", False),
    ('CMD ["/bin/sh"]', True),
    ("COPY /out/app /app # buildkit", False),
    ("ENV GODEBUG=netdns=go+1", True),
    ('ENTRYPOINT ["/app"]', True),
]


def sample_findings() -> list[Finding]:
    return [
        Finding("GIL901", path="/app", binary="/app", layer=1,
                args={"interpreter": "/lib64/ld-linux-x86-64.so.2"},
                evidence={"interp": "/lib64/ld-linux-x86-64.so.2", "needed": ("libc.so.6",)},
                key=("/lib64/ld-linux-x86-64.so.2",)),
        Finding("GIL901", path="/usr/bin/tool:v2", binary="/usr/bin/tool:v2", layer=0,
                args={"interpreter": "/lib/ld-musl-x86_64.so.1", "musl": True},
                variant="uncertain", uncertain=True, key=("/lib/ld-musl-x86_64.so.1",)),
        Finding("GIL902", path="/app", binary="/app", layer=1, args={"mode": "0777"}),
        Finding("GIL903", config_key="Env", args={"netdns": "go+1"},
                evidence={"variable": "GODEBUG"}),
    ]


def sample_results(catalog: Any, reference: str = "ghcr.io/acme/app:1.0",
                   salt: str = "") -> list[TargetResult]:
    history = history_from_created_by(BUILDKIT_HISTORY)
    ctx = context_for(reference, "ghcr.io/acme/app", history, digest_salt=salt)
    return [TargetResult(ctx, present_findings(sample_findings(), catalog, ctx), [])]


def validate_schema(doc: dict[str, Any]) -> None:
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(doc)


def multitool_path() -> Path | None:
    """Microsoft's SARIF Multitool from npm, cached under ~/.cache/goimglint/npm; installed
    there on first use when npm is available."""
    base = Path(os.environ.get("GOIMGLINT_CACHE") or Path.home() / ".cache" / "goimglint")
    prefix = base / "npm"
    exe = prefix / "node_modules" / "@microsoft" / "sarif-multitool-linux" / "Sarif.Multitool"
    if not exe.exists() and shutil.which("npm"):
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                        "@microsoft/sarif-multitool-linux"], capture_output=True, timeout=600)
    if not exe.exists():
        return None
    if not os.access(exe, os.X_OK):  # npm >= 11 may skip the package's chmod script
        exe.chmod(0o755)
    return exe


def run_multitool(exe: Path, sarif_file: Path) -> list[dict[str, Any]]:
    """Problems the multitool reports at level error or warning (notes are advice)."""
    report = sarif_file.with_suffix(".validation.sarif")
    env = dict(os.environ, DOTNET_SYSTEM_GLOBALIZATION_INVARIANT="1")
    proc = subprocess.run(
        [str(exe), "validate", str(sarif_file), "--rule-kind", "Gh;Sarif",
         "--level", "Error;Warning;Note", "-o", str(report), "--log", "ForceOverwrite"],
        capture_output=True, text=True, env=env, timeout=300)
    assert report.exists(), f"multitool wrote no report: {proc.stdout}\n{proc.stderr}"
    doc = json.loads(report.read_text(encoding="utf-8-sig"))
    problems = []
    for run in doc.get("runs", []):
        for result in run.get("results", []):
            if result.get("level", "warning") in ("error", "warning"):
                problems.append(result)
    for run in doc.get("runs", []):
        for inv in run.get("invocations", []):
            for note in inv.get("toolExecutionNotifications", []):
                if note.get("level", "warning") == "error":
                    problems.append(note)
    return problems
