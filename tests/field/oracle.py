"""Reality for the field tests: run a binary inside a root with chroot(2) and an exact
environment (set for the program itself, not for a host ``chroot`` command), and read what
the image's own loader and Go's net package say."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

RUN_TIMEOUT = 60
TRACE_LINE = re.compile(
    r"^\s*(?P<name>\S+)(?: => (?P<path>\S+|not found))?(?: \(0x[0-9a-f]+\))?\s*$")
RELOC_ERROR = re.compile(r"Error relocating ([^:]+): ([^:]+): symbol not found")
LOOKUP_ORDER = re.compile(r"go package net: hostLookupOrder\((?P<name>[^)]*)\) = (?P<order>\S+)")
# How each loader says it gave up (glibc rtld, musl ldso/dynlink.c).
LOADER_FAILURES = ("error while loading shared libraries", "Error loading shared library",
                   "Error relocating", "symbol lookup error", "version `")


@dataclass
class RealRun:
    returncode: int  # -1: execve itself failed
    stdout: str
    stderr: str
    exec_error: str = ""  # strerror of a failed execve (ENOENT for a missing interpreter)

    @property
    def loader_failed(self) -> bool:
        """The process did not get past the kernel and the dynamic loader."""
        if self.exec_error:
            return True
        return self.returncode == 127 and any(m in self.stderr for m in LOADER_FAILURES)


def run_in_root(root: Path, argv: list[str], env: dict[str, str] | None = None,
                timeout: float = RUN_TIMEOUT) -> RealRun:
    def enter() -> None:
        os.chroot(root)
        os.chdir("/")

    try:
        proc = subprocess.run(argv, env=env or {}, preexec_fn=enter, capture_output=True,
                              text=True, errors="replace", timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except OSError as exc:  # the child's execve error is re-raised here
        return RealRun(-1, "", "", exc.strerror or str(exc))
    return RealRun(proc.returncode, proc.stdout, proc.stderr)


def ld_trace(root: Path, binary: str) -> dict[str, str | None]:
    """glibc's ``LD_TRACE_LOADED_OBJECTS=1`` listing: name -> path (None for the vDSO and
    the interpreter line, "not found" for unresolved names)."""
    run = run_in_root(root, [binary], {"LD_TRACE_LOADED_OBJECTS": "1"})
    out: dict[str, str | None] = {}
    for line in run.stdout.splitlines():
        m = TRACE_LINE.match(line)
        if m:
            out[m["name"]] = m["path"]
    return out


def relocation_errors(run: RealRun) -> set[tuple[str, str]]:
    return set(RELOC_ERROR.findall(run.stderr))


def lookup_orders(text: str) -> dict[str, str]:
    return {m["name"]: m["order"] for m in LOOKUP_ORDER.finditer(text)}
