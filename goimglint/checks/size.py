"""Size and hardening: what the image carries that the Go binary does not need (GIL6xx), and
the usual hardening mistakes (GIL7xx). Rules over facts/size.py."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable

from goimglint.facts.model import BinaryFacts, ImageFacts
from goimglint.facts.size import Location, SizeFacts
from goimglint.findings import Finding

# GIL604 reports a layer once dive's wasted bytes attributed to it reach this many bytes:
# below it, the usual package-database and log rewrites of every RUN would drown the report.
WASTED_LAYER_MIN_BYTES = 1024 * 1024
MAX_LISTED = 10


def human_bytes(n: int) -> str:
    """Decimal units, as dive and `docker images` print them."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


def _listing(items: list[str], limit: int = MAX_LISTED) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _instruction(facts: ImageFacts, layer: int | None) -> str:
    if layer is None:
        return "the image"
    for ls in facts.size.layers:
        if ls.index == layer and ls.created_by:
            text = ls.created_by.replace("/bin/sh -c #(nop) ", "").strip()
            return text if len(text) <= 80 else text[:77] + "..."
    return f"layer {layer + 1}"


def _binary(facts: ImageFacts, path: str) -> BinaryFacts | None:
    for b in facts.binaries:
        if b.path == path:
            return b
    return None


def _in_locations(path: str, locations: Iterable[Location]) -> bool:
    return any(path == loc.path or path.startswith(loc.path.rstrip("/") + "/")
               for loc in locations)


# -- GIL601 ----------------------------------------------------------------------------------


def _userland_text(s: SizeFacts) -> str:
    parts: list[str] = []
    if s.shell:
        parts.append(f"a shell ({s.shell})")
    if s.package_managers:
        parts.append(" and ".join(f"the {m} database" for m in s.package_managers))
    return " and ".join(parts)


def _build_target(b: BinaryFacts | None) -> str:
    """The package argument of `go build` for the main package the binary was built from."""
    if b is None or b.go is None or not b.go.path:
        return "."
    main, path = b.go.main, b.go.path
    if main and path.startswith(main + "/"):
        return "./" + path[len(main) + 1:]
    return "."


def _go_image_tag(b: BinaryFacts | None) -> str:
    version = b.go.version if b is not None and b.go is not None else ""
    parts = version.removeprefix("go").split(".")
    if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
        return f"{parts[0]}.{parts[1]}"
    return "1"


def check_static_binary_on_full_base(facts: ImageFacts) -> Iterable[Finding]:
    s = facts.size
    plan = s.scratch
    if not (plan.all_static_go and s.userland and plan.drop_bytes > 0):
        return
    entry = plan.executables[0]
    b = _binary(facts, entry.path)
    support = [k for k in plan.keep if k.what != "binary"]
    keep_text = _listing([f"{k.what} ({k.path}, {human_bytes(k.size)})" for k in support])
    source = facts.reference or "your-current-image"
    copies = "".join(f"COPY --from={source} {k.path} {k.path}\n" for k in support)
    copies += "".join(f"COPY --from={source} {x.path} {x.path}\n"
                      for x in plan.executables[1:])
    config = facts.config
    entry_lines = ""
    if config.entrypoint:
        entry_lines += f"ENTRYPOINT {json.dumps(config.entrypoint)}\n"
    if config.cmd:
        entry_lines += f"CMD {json.dumps(config.cmd)}\n"
    if s.user and not s.runs_as_root:
        entry_lines = f"USER {s.user}\n" + entry_lines
    distro = s.distro_name or s.distro_id or "distribution"
    percent = 100.0 * plan.drop_bytes / s.total_bytes if s.total_bytes else 0.0
    yield Finding(
        rule_id="GIL601", path=entry.path, binary=entry.path, layer=s.userland_layer,
        variant="" if support else "self_contained",
        args={"binary": entry.path, "binary_name": posixpath.basename(entry.path),
              "binaries": [x.path for x in plan.executables], "distro": distro,
              "userland": _userland_text(s), "drop_bytes": plan.drop_bytes,
              "drop_human": human_bytes(plan.drop_bytes), "total_bytes": s.total_bytes,
              "total_human": human_bytes(s.total_bytes), "percent": f"{percent:.0f}",
              "keep": keep_text, "keep_bytes": plan.keep_bytes,
              "support_copies": copies, "entry_lines": entry_lines,
              "build_target": _build_target(b), "go_tag": _go_image_tag(b),
              "image": source},
        evidence={"executables": [(x.arg, x.path, x.kind) for x in plan.executables],
                  "keep": [(k.what, k.path, k.size) for k in plan.keep],
                  "drop_bytes": plan.drop_bytes, "total_bytes": s.total_bytes,
                  "distro": s.distro_id, "shell": s.shell,
                  "package_databases": s.package_databases},
        key=(entry.path,),
    )


# -- GIL602 ----------------------------------------------------------------------------------


def check_go_toolchain_in_image(facts: ImageFacts) -> Iterable[Finding]:
    s = facts.size
    groups = (("", s.go_toolchains), ("module-cache", s.module_caches),
              ("build-cache", s.build_caches))
    for variant, locations in groups:
        for loc in locations:
            yield Finding(
                rule_id="GIL602", path=loc.path, layer=loc.layer, variant=variant,
                args={"path": loc.path, "bytes": loc.size, "size_human": human_bytes(loc.size),
                      "files": loc.files, "version": loc.version or "version unknown",
                      "instruction": _instruction(facts, loc.layer)},
                evidence={"kind": loc.kind, "bytes": loc.size, "files": loc.files,
                          "version": loc.version},
                key=(loc.kind, loc.path),
            )


# -- GIL603 ----------------------------------------------------------------------------------


def check_unstripped_binary(facts: ImageFacts) -> Iterable[Finding]:
    s = facts.size
    shipped_tools = [*s.go_toolchains, *s.module_caches, *s.build_caches]
    for b in s.binaries:
        strip = b.symbol_bytes + b.dwarf_bytes
        if not b.go or strip == 0 or _in_locations(b.path, shipped_tools):
            continue  # toolchain binaries are GIL602's business
        no_trimpath = b.trimpath is False
        sections = _listing([f"{name} {human_bytes(size)}"
                             for name, size in sorted(b.sections.items(),
                                                      key=lambda kv: (-kv[1], kv[0]))], 6)
        yield Finding(
            rule_id="GIL603", path=b.path, binary=b.path, layer=b.layer,
            variant="no_trimpath" if no_trimpath else "",
            args={"binary": b.path, "binary_name": posixpath.basename(b.path),
                  "bytes": strip, "strip_human": human_bytes(strip),
                  "symbol_bytes": b.symbol_bytes, "dwarf_bytes": b.dwarf_bytes,
                  "symbol_human": human_bytes(b.symbol_bytes),
                  "dwarf_human": human_bytes(b.dwarf_bytes), "sections": sections,
                  "size_human": human_bytes(b.size), "no_trimpath": no_trimpath,
                  "trimpath_flag": "-trimpath " if no_trimpath else ""},
            evidence={"sections": dict(b.sections), "symbol_bytes": b.symbol_bytes,
                      "dwarf_bytes": b.dwarf_bytes, "trimpath": b.trimpath},
            key=(b.path,),
        )


# -- GIL604 ----------------------------------------------------------------------------------


def check_wasted_layer_bytes(facts: ImageFacts) -> Iterable[Finding]:
    s = facts.size
    for ls in s.layers:
        if ls.wasted_bytes < WASTED_LAYER_MIN_BYTES:
            continue
        examples = _listing([f"{p} ({human_bytes(n)})" for p, n in ls.wasted_examples], 5)
        yield Finding(
            rule_id="GIL604", layer=ls.index,
            path=ls.wasted_examples[0][0] if ls.wasted_examples else "",
            args={"instruction": _instruction(facts, ls.index), "layer": ls.index + 1,
                  "bytes": ls.wasted_bytes, "wasted_human": human_bytes(ls.wasted_bytes),
                  "paths": ls.wasted_paths, "examples": examples,
                  "total_bytes": s.wasted_bytes, "total_human": human_bytes(s.wasted_bytes),
                  "efficiency": f"{100.0 * s.efficiency:.1f}"},
            evidence={"wasted_bytes": ls.wasted_bytes, "paths": ls.wasted_paths,
                      "examples": ls.wasted_examples, "image_wasted_bytes": s.wasted_bytes,
                      "efficiency": s.efficiency},
            key=(ls.created_by or f"layer {ls.index}",),
        )


# -- GIL701 / GIL702 --------------------------------------------------------------------------


def check_runs_as_root(facts: ImageFacts) -> Iterable[Finding]:
    s = facts.size
    if not s.runs_as_root:
        return
    name = s.user.split(":", 1)[0].strip()
    if not s.user.strip():
        variant, how = "unset", "not set"
    elif name in ("0", "root"):
        variant, how = "", f'"{s.user}"'
    else:
        variant, how = "", f'"{s.user}" (uid 0 in /etc/passwd)'
    yield Finding(
        rule_id="GIL701", config_key="User", variant=variant,
        args={"user": s.user, "user_desc": how},
        evidence={"user": s.user, "uid": s.user_uid},
        key=("User",),
    )


def check_setuid_file(facts: ImageFacts) -> Iterable[Finding]:
    by_layer: dict[int, list[str]] = {}
    for f in facts.size.setid_files:
        bits = "+".join(b for b, on in (("setuid", f.setuid), ("setgid", f.setgid)) if on)
        by_layer.setdefault(f.layer, []).append(f"{f.path} ({bits} {f.mode:04o})")
    for layer, files in sorted(by_layer.items()):
        yield Finding(
            rule_id="GIL702", layer=layer, path=files[0].split(" ", 1)[0],
            args={"count": len(files), "files": _listing(files, 20),
                  "instruction": _instruction(facts, layer)},
            evidence={"files": files},
            key=tuple(sorted(f.split(" ", 1)[0] for f in files)),
        )


CHECKS = {
    "GIL601": check_static_binary_on_full_base,
    "GIL602": check_go_toolchain_in_image,
    "GIL603": check_unstripped_binary,
    "GIL604": check_wasted_layer_bytes,
    "GIL701": check_runs_as_root,
    "GIL702": check_setuid_file,
}
