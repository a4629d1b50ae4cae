"""Will it start? Rules over the loader model (facts/linkage.py): interpreter, libraries,
symbol versions, architecture, libc flavour, entrypoint, user, ld.so.cache, preload, and
RPATH hygiene."""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterable, Iterator

from goimglint.facts.linkage import LoadFacts, StaleCacheHit
from goimglint.facts.loader import MissingSymbol
from goimglint.facts.model import BinaryFacts, ImageFacts
from goimglint.findings import Finding

RPATH_FIX_TARGET = "$ORIGIN/../lib"


def _loaded(facts: ImageFacts) -> Iterator[tuple[BinaryFacts, LoadFacts]]:
    for binary in facts.binaries:
        if binary.load is not None and binary.elf is not None:
            yield binary, binary.load


def _is_go(binary: BinaryFacts) -> bool:
    return binary.go is not None


def _searched(dirs: Iterable[object]) -> str:
    parts = []
    for d in dirs:
        directory = getattr(d, "directory", "")
        source = getattr(d, "source", "")
        parts.append(f"{directory} ({source})" if source else directory)
    return ", ".join(parts) if parts else "no directory"


def check_missing_interpreter(facts: ImageFacts) -> Iterable[Finding]:
    for binary, load in _loaded(facts):
        if load.libc_mismatch or load.arch_mismatch or load.interpreter is None:
            continue  # folded into GIL105 / GIL104; static binaries need no interpreter
        if load.interpreter_found and not load.interpreter_problem:
            continue
        problem = load.interpreter_problem or "missing"
        variant = "" if problem in ("missing", "loop") else "broken"
        yield Finding(
            rule_id="GIL101", path=binary.path, binary=binary.path, layer=binary.layer,
            variant=variant,
            args={"binary": binary.path, "binary_name": posixpath.basename(binary.path),
                  "interpreter": load.interpreter, "problem": problem,
                  "image_libc": facts.system.libc, "go": _is_go(binary),
                  "resolved": load.interpreter_resolved or ""},
            evidence={"interpreter": load.interpreter, "problem": problem,
                      "image_libc": facts.system.libc, "needed": load.needed},
            key=(binary.path, load.interpreter),
        )


def check_unresolved_library(facts: ImageFacts) -> Iterable[Finding]:
    for binary, load in _loaded(facts):
        if load.libc_mismatch or load.arch_mismatch:
            continue
        seen: set[str] = set()
        for dep in [*load.dependencies]:
            if (dep.found and not dep.fatal) or dep.name in seen:
                continue
            seen.add(dep.name)
            variant = "bad-candidate" if dep.fatal else ""
            yield Finding(
                rule_id="GIL102", path=binary.path, binary=binary.path, layer=binary.layer,
                variant=variant,
                args={"binary": binary.path, "binary_name": posixpath.basename(binary.path),
                      "soname": dep.name, "requester": dep.requester,
                      "searched": _searched(dep.searched), "error": dep.error,
                      "candidate": dep.path or "", "go": _is_go(binary),
                      "loader": load.loader},
                evidence={"soname": dep.name, "requester": dep.requester,
                          "searched": [f"{d.directory} ({d.source})" for d in dep.searched],
                          "skipped": dep.skipped, "error": dep.error,
                          "failure": load.failure},
                key=(binary.path, dep.name),
            )


def _symbol_list(missing: list[MissingSymbol], limit: int = 6) -> str:
    names = list(dict.fromkeys(m.symbol for m in missing))
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def check_missing_symbol_version(facts: ImageFacts) -> Iterable[Finding]:
    for binary, load in _loaded(facts):
        if load.libc_mismatch or load.arch_mismatch:
            continue
        by_requester: dict[str, list[MissingSymbol]] = {}
        for missing in load.missing_symbols:  # musl: no versions, every symbol bound at start
            by_requester.setdefault(missing.requester, []).append(missing)
        for requester, symbols in by_requester.items():
            yield Finding(
                rule_id="GIL103", path=binary.path, binary=binary.path, layer=binary.layer,
                variant="musl-symbol",
                args={"binary": binary.path, "binary_name": posixpath.basename(binary.path),
                      "requester": requester, "file": "", "provider": "",
                      "versions": "", "provider_newest": "",
                      "symbols": _symbol_list(symbols), "first_symbol": symbols[0].symbol,
                      "libc_version": facts.system.libc_version or "unknown",
                      "go": _is_go(binary)},
                evidence={"requester": requester, "symbols": [m.symbol for m in symbols]},
                key=(binary.path, requester, "musl", *sorted(m.symbol for m in symbols)),
            )
        grouped: dict[tuple[str, str, str], list[str]] = {}
        newest: dict[tuple[str, str, str], list[str]] = {}
        for problem in load.version_problems:
            if problem.weak or problem.no_version_info:
                continue
            k = (problem.requester, problem.file, problem.provider)
            grouped.setdefault(k, []).append(problem.version)
            newest[k] = problem.provider_versions
        for (requester, file, provider), versions in grouped.items():
            yield Finding(
                rule_id="GIL103", path=binary.path, binary=binary.path, layer=binary.layer,
                args={"binary": binary.path, "binary_name": posixpath.basename(binary.path),
                      "requester": requester, "file": file, "provider": provider,
                      "versions": ", ".join(versions),
                      "provider_newest": (newest[(requester, file, provider)] or ["?"])[-1],
                      "libc_version": facts.system.libc_version or "unknown",
                      "go": _is_go(binary)},
                evidence={"requester": requester, "provider": provider, "versions": versions,
                          "provider_versions": newest[(requester, file, provider)]},
                key=(binary.path, requester, file, *sorted(versions)),
            )


def check_architecture_mismatch(facts: ImageFacts) -> Iterable[Finding]:
    for binary, load in _loaded(facts):
        if not load.arch_mismatch:
            continue
        yield Finding(
            rule_id="GIL104", path=binary.path, binary=binary.path, layer=binary.layer,
            args={"binary": binary.path, "binary_name": posixpath.basename(binary.path),
                  "machine": load.machine, "elf_class": load.elf_class,
                  "expected": load.expected_machine, "expected_class": load.expected_class,
                  "platform": facts.platform or "unknown",
                  "goarch": _GOARCH.get((load.expected_machine, load.expected_class), ""),
                  "go": _is_go(binary)},
            evidence={"machine": load.machine, "elf_class": load.elf_class,
                      "expected": load.expected_machine, "platform": facts.platform},
            key=(binary.path, load.machine, str(load.elf_class)),
        )


_GOARCH = {("x86_64", 64): "amd64", ("aarch64", 64): "arm64", ("arm", 32): "arm",
           ("i386", 32): "386", ("ppc64", 64): "ppc64le", ("s390x", 64): "s390x",
           ("riscv", 64): "riscv64"}


def check_libc_mismatch(facts: ImageFacts) -> Iterable[Finding]:
    for binary, load in _loaded(facts):
        if not load.libc_mismatch or load.arch_mismatch:
            continue
        folded = []
        if load.interpreter_found is False:
            folded.append(f"missing interpreter {load.interpreter}")
        folded += [f"unresolved {d.name}" for d in load.dependencies if not d.found]
        if load.missing_symbols:
            folded.append("symbols no object defines: " + _symbol_list(load.missing_symbols))
        yield Finding(
            rule_id="GIL105", path=binary.path, binary=binary.path, layer=binary.layer,
            variant="compat" if load.libc_compat and load.starts else "",
            args={"binary": binary.path, "binary_name": posixpath.basename(binary.path),
                  "binary_libc": load.binary_libc, "image_libc": facts.system.libc,
                  "interpreter": load.interpreter or "", "mismatch": load.libc_mismatch,
                  "folded": "; ".join(folded) or "none", "go": _is_go(binary)},
            evidence={"binary_libc": load.binary_libc, "image_libc": facts.system.libc,
                      "interpreter": load.interpreter, "folded": folded,
                      "failure": load.failure},
            key=(binary.path, load.binary_libc, facts.system.libc),
        )


def check_entrypoint_not_runnable(facts: ImageFacts) -> Iterable[Finding]:
    ep = facts.system.entrypoint
    if not facts.config.has_config:
        return
    config_key = "Entrypoint" if facts.config.entrypoint else "Cmd"
    common = {"program": ep.program or "(none)", "argv": shlex.join(ep.argv) if ep.argv else "",
              "path_env": ep.path_env, "working_dir": ep.working_dir,
              "resolved": ep.resolved or "", "user": facts.system.user.spec or "root"}
    if ep.problem:
        yield Finding(
            rule_id="GIL106", path=ep.resolved or ep.program, config_key=config_key,
            layer=ep.layer, variant=ep.problem.replace("_", "-"),
            args={**common, "problem": ep.problem, "detail": ep.detail,
                  "interpreter": ep.scripts[-1].interpreter if ep.scripts else ""},
            evidence={"argv": ep.argv, "candidates": ep.candidates, "problem": ep.problem,
                      "detail": ep.detail, "scripts": [s.interpreter for s in ep.scripts]},
            key=(ep.problem, ep.program),
        )
    elif ep.shell_command_problem:
        yield Finding(
            rule_id="GIL106", path=ep.program, config_key=config_key, variant="shell-command",
            uncertain=True,
            args={**common, "problem": "shell-command-not-found",
                  "detail": f"{ep.shell_command}: not found", "command": ep.shell_command,
                  "interpreter": ""},
            evidence={"argv": ep.argv, "command": ep.shell_command},
            key=("shell-command", ep.shell_command),
        )


def check_unknown_user(facts: ImageFacts) -> Iterable[Finding]:
    user = facts.system.user
    if not user.problem:
        return
    missing = "user" if not user.user_found else "group"
    yield Finding(
        rule_id="GIL107", config_key="User", path="/etc/passwd" if missing == "user"
        else "/etc/group",
        variant="" if missing == "user" else "group",
        args={"spec": user.spec, "user": user.user, "group": user.group, "missing": missing,
              "name": user.user if missing == "user" else user.group,
              "db": "/etc/passwd" if missing == "user" else "/etc/group",
              "db_present": user.passwd_present if missing == "user" else
              user.group_file_present},
        evidence={"spec": user.spec, "problem": user.problem,
                  "passwd_present": user.passwd_present,
                  "group_present": user.group_file_present},
        key=(user.spec,),
    )


def check_stale_ld_cache(facts: ImageFacts) -> Iterable[Finding]:
    seen: dict[str, list[str]] = {}
    hits: dict[str, StaleCacheHit] = {}
    for binary, load in _loaded(facts):
        for hit in load.stale_cache:
            seen.setdefault(hit.soname, []).append(binary.path)
            hits.setdefault(hit.soname, hit)
    for soname, binaries in seen.items():
        hit = hits[soname]
        yield Finding(
            rule_id="GIL108", path=hit.path, layer=hit.layer, binary=binaries[0],
            variant="" if hit.cache_present else "no-cache",
            args={"soname": soname, "path": hit.path, "directory": hit.directory,
                  "conf_file": hit.conf_file, "binaries": ", ".join(sorted(set(binaries)))},
            evidence={"soname": soname, "path": hit.path, "conf_file": hit.conf_file,
                      "binaries": sorted(set(binaries)), "cache_present": hit.cache_present},
            key=(soname, hit.directory),
        )


def check_ld_preload(facts: ImageFacts) -> Iterable[Finding]:
    for pf in facts.system.preloads:
        yield Finding(
            rule_id="GIL109", path=pf.path or pf.source, layer=pf.layer,
            config_key="Env" if pf.source == "LD_PRELOAD" else "",
            variant="" if pf.found else "unresolved",
            args={"name": pf.name, "source": pf.source, "path": pf.path or "",
                  "error": pf.error or "cannot open shared object file"},
            evidence={"source": pf.source, "name": pf.name, "found": pf.found,
                      "path": pf.path, "error": pf.error},
            key=(pf.source, pf.name),
        )


def check_dynamic_go_binary(facts: ImageFacts) -> Iterable[Finding]:
    for binary, load in _loaded(facts):
        if binary.go is None or binary.go.settings.get("CGO_ENABLED") != "1":
            continue
        if load.interpreter is None or not load.libc_only:
            continue
        yield Finding(
            rule_id="GIL110", path=binary.path, binary=binary.path, layer=binary.layer,
            args={"binary": binary.path, "binary_name": posixpath.basename(binary.path),
                  "needed": ", ".join(load.needed), "interpreter": load.interpreter,
                  "package": binary.go.path or ".", "go": True},
            evidence={"needed": load.needed, "interpreter": load.interpreter,
                      "cgo": binary.go.settings.get("CGO_ENABLED")},
            key=(binary.path,),
        )


def check_insecure_rpath(facts: ImageFacts) -> Iterable[Finding]:
    for binary, load in _loaded(facts):
        for element in load.path_elements:
            if not element.problems:
                continue
            is_binary = element.object == binary.path
            yield Finding(
                rule_id="GIL201", path=element.object, binary=binary.path,
                layer=binary.layer if is_binary else None,
                variant=element.problems[0],
                args={"object": element.object, "binary": binary.path, "tag": element.tag,
                      "element": element.element if element.element else "(empty)",
                      "problems": ", ".join(element.problems),
                      "target": RPATH_FIX_TARGET, "go": _is_go(binary)},
                evidence={"tag": element.tag, "element": element.element,
                          "expanded": element.expanded, "problems": element.problems},
                key=(element.object, element.tag, element.element),
            )


def check_rpath_instead_of_runpath(facts: ImageFacts) -> Iterable[Finding]:
    for binary, load in _loaded(facts):
        if load.rpath is None or load.runpath is not None:
            continue
        yield Finding(
            rule_id="GIL202", path=binary.path, binary=binary.path, layer=binary.layer,
            args={"binary": binary.path, "rpath": load.rpath, "go": _is_go(binary)},
            evidence={"rpath": load.rpath},
            key=(binary.path, load.rpath),
        )


CHECKS = {
    "GIL101": check_missing_interpreter,
    "GIL102": check_unresolved_library,
    "GIL103": check_missing_symbol_version,
    "GIL104": check_architecture_mismatch,
    "GIL105": check_libc_mismatch,
    "GIL106": check_entrypoint_not_runnable,
    "GIL107": check_unknown_user,
    "GIL108": check_stale_ld_cache,
    "GIL109": check_ld_preload,
    "GIL110": check_dynamic_go_binary,
    "GIL201": check_insecure_rpath,
    "GIL202": check_rpath_instead_of_runpath,
}
