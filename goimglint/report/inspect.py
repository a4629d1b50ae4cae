"""`goimglint inspect`: the facts of each image, as a stable JSON document or as text.

JSON contract (docs/inspect-json.md): keys listed there keep their meaning; later versions
only add keys."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

from goimglint.engine import Analysis
from goimglint.facts.model import BinaryFacts, ImageFacts

INSPECT_SCHEMA_VERSION = 1


def _plain(value: Any) -> Any:
    """Dataclasses, enums, tuples and bytes as JSON-friendly values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_plain(v) for v in value]
        return sorted(items) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, bytes):
        return value.hex()
    return value


def _split_path(value: str | None) -> list[str] | None:
    return None if value is None else value.split(":")


def binary_json(b: BinaryFacts) -> dict[str, Any]:
    elf: dict[str, Any] | None = None
    if b.elf is not None:
        e = b.elf
        elf = {
            "class": e.elf_class,
            "endian": "little" if e.little_endian else "big",
            "machine": e.machine_name,
            "type": e.kind,
            "interpreter": e.interpreter,
            "needed": list(e.needed),
            "rpath": _split_path(e.rpath),
            "runpath": _split_path(e.runpath),
            "soname": e.soname,
            "flags_1": e.flags_1,
            "static": e.is_static,
            "stripped": e.stripped,
            "verneed": {v.file: list(v.names) for v in e.verneed},
        }
    return {
        "path": b.path,
        "size": b.size,
        "mode": f"{b.mode:04o}",
        "uid": b.uid,
        "gid": b.gid,
        "layer": b.layer,
        "entrypoint": b.is_entrypoint,
        "elf": elf,
        "elf_error": b.elf_error,
        "go": _plain(b.go) if b.go is not None else None,
        "load": _plain(b.load) if b.load is not None else None,
    }


def image_json(a: Analysis) -> dict[str, Any]:
    f: ImageFacts = a.facts
    c = f.config
    return {
        "reference": f.reference,
        "repository": f.repository,
        "format": a.source_format,
        "platform": f.platform,
        "config": {
            "env": c.env,
            "user": c.user,
            "entrypoint": c.entrypoint,
            "cmd": c.cmd,
            "working_dir": c.working_dir,
            "labels": c.labels,
            "history": [_plain(h) for h in c.history],
            "present": c.has_config,
        },
        "layers": [
            {"digest": layer.digest, "diff_id": layer.diff_id, "size": layer.size,
             "compression": layer.compression, "files": layer.files,
             "created_by": layer.created_by}
            for layer in f.layers
        ],
        "binaries": [binary_json(b) for b in f.binaries],
        "system": _plain(f.system),
        "dns": _plain(f.dns),
        "size": _plain(f.size),
        "notes": list(f.notes),
    }


def render_inspect_json(analyses: list[Analysis]) -> str:
    doc = {"schema": INSPECT_SCHEMA_VERSION, "images": [image_json(a) for a in analyses]}
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def render_inspect_text(analyses: list[Analysis]) -> str:
    lines: list[str] = []
    for a in analyses:
        doc = image_json(a)
        lines.append(f"{doc['reference']}  ({doc['format']}, {doc['platform'] or 'no platform'})")
        cfg = doc["config"]
        if cfg["present"]:
            lines.append(f"  user: {cfg['user'] or '(root)'}  workdir: {cfg['working_dir'] or '/'}")
            lines.append(f"  entrypoint: {cfg['entrypoint']}  cmd: {cfg['cmd']}")
        for i, layer in enumerate(doc["layers"]):
            lines.append(f"  layer {i + 1}: {layer['size']} bytes, {layer['files']} entries, "
                         f"{layer['compression']}  {layer['created_by'][:80]}")
        size = doc["size"]
        lines.append(f"  files: {size['total_bytes']} bytes in {size['total_files']} files, "
                     f"wasted (as dive counts): {size['wasted_bytes']} bytes, distro: "
                     f"{size['distro_name'] or size['distro_id'] or 'none'}, "
                     f"shell: {size['shell'] or 'none'}")
        for b in doc["binaries"]:
            elf = b["elf"] or {}
            go = b["go"] or {}
            kind = "Go " + go.get("version", "") if b["go"] else "ELF"
            lines.append(f"  {b['path']}: {kind} {elf.get('machine', '?')} "
                         f"{'static' if elf.get('static') else 'dynamic'}"
                         f"{' (entrypoint)' if b['entrypoint'] else ''}")
            if elf.get("interpreter"):
                lines.append(f"    interpreter: {elf['interpreter']}")
            if elf.get("needed"):
                lines.append(f"    needed: {', '.join(elf['needed'])}")
            lines.extend(_load_lines(b["load"]))
            lines.extend(_go_lines(go))
        for note in doc["notes"]:
            lines.append(f"  note: {note}")
    return "\n".join(lines) + "\n"


def _load_lines(load: dict[str, Any] | None) -> list[str]:
    """The loader verdict and the dependency tree, as ldd would print it, with why."""
    if not load:
        return []
    out = []
    if load.get("starts") is not None:
        verdict = "starts" if load["starts"] else f"does not start: {load.get('failure', '')}"
        out.append(f"    loader: {load.get('loader') or 'none (static)'}; {verdict}")
    out += [f"      {line}" for line in load.get("tree") or []]
    out += [f"    loader note: {n}" for n in load.get("notes") or []]
    return out


def _go_lines(go: dict[str, Any]) -> list[str]:
    if not go:
        return []
    settings = go.get("settings") or {}
    used = [k for k, v in (go.get("usage") or {}).items() if v is True]
    out = [f"    go: {go.get('path', '')} CGO_ENABLED={settings.get('CGO_ENABLED', '?')}"
           + (f" -tags={settings['-tags']}" if settings.get("-tags") else "")
           + (f"  uses: {', '.join(used)}" if used else "")]
    resolver = go.get("resolver") or {}
    for kind in ("ordinary", "local", "reverse"):
        d = resolver.get(kind)
        if d:
            out.append(f"    dns ({kind} names): {d.get('resolver')} resolver, order "
                       f"{d.get('order')} ({d.get('reason')}"
                       + (f", {d['source']}" if d.get("source") else "") + ")")
    return out
