"""What keeping untrusted binaries on pure-Python parsers costs: for each binary, the time and
peak memory of goimglint's path (read the file, parse_elf, Go build info, Go function table and
the package-usage names) against ``lief.parse`` of the same file. Each measurement runs in a
fresh subprocess (best of --repeat), so imports and memory do not leak between them.

    python benchmarks/elf_parse_cost.py [BINARY...]

Without arguments: the go toolchain binary ($(go env GOROOT)/bin/go) and any large Go
binaries found on this machine (gcloud's anthoscli and kubectl)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CANDIDATES = [
    "/usr/lib/google-cloud-sdk/bin/anthoscli",
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
]

OURS = """
import resource, sys, time
t0 = time.perf_counter()
from goimglint.facts.elf import parse_elf
from goimglint.facts.gobuildinfo import read_buildinfo
from goimglint.facts.pclntab import find_pclntab, usage_from_names
t1 = time.perf_counter()
data = open(sys.argv[1], "rb").read()
t2 = time.perf_counter()
elf = parse_elf(data)
t3 = time.perf_counter()
info = read_buildinfo(data, elf)
t4 = time.perf_counter()
table = find_pclntab(data, elf)
usage = usage_from_names(table.names) if table else None
t5 = time.perf_counter()
print({"import": t1 - t0, "read": t2 - t1, "elf": t3 - t2, "buildinfo": t4 - t3,
       "pclntab": t5 - t4, "total": t5 - t1, "names": len(table.names) if table else 0,
       "version": info.go_version if info else "",
       "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
"""

LIEF = """
import resource, sys, time
t0 = time.perf_counter()
import lief
lief.logging.disable()
t1 = time.perf_counter()
binary = lief.parse(sys.argv[1])
t2 = time.perf_counter()
print({"import": t1 - t0, "total": t2 - t1, "sections": len(binary.sections),
       "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
"""


def measure(code: str, binary: str, repeat: int) -> dict[str, float]:
    best: dict[str, float] | None = None
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", code, binary], capture_output=True,
                             text=True, env=env, check=True).stdout
        result = eval(out.strip().splitlines()[-1])  # noqa: S307 - our own dict literal
        if best is None or result["total"] < best["total"]:
            best = result
    assert best is not None
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("binaries", nargs="*")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    binaries = args.binaries
    if not binaries:
        go = shutil.which("go")
        goroot = subprocess.run([go, "env", "GOROOT"], capture_output=True, text=True
                                ).stdout.strip() if go else ""
        binaries = [p for p in [os.path.join(goroot, "bin", "go"), *CANDIDATES]
                    if p and os.path.isfile(p)]
    rows = []
    for b in binaries:
        ours = measure(OURS, b, args.repeat)
        lief = measure(LIEF, b, args.repeat)
        rows.append({"binary": b, "mb": os.path.getsize(b) / 1e6, "ours": ours, "lief": lief})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'binary':44} {'MB':>6} {'ours s':>7} {'(elf/bi/pcln)':>20} {'ours MB':>8} "
          f"{'lief s':>7} {'lief MB':>8}")
    for r in rows:
        o, q = r["ours"], r["lief"]
        split = f"{o['elf']:.3f}/{o['buildinfo']:.3f}/{o['pclntab']:.2f}"
        print(f"{r['binary'][-44:]:44} {r['mb']:6.1f} {o['total']:7.2f} {split:>20} "
              f"{o['rss_mb']:8.0f} {q['total']:7.2f} {q['rss_mb']:8.0f}")


if __name__ == "__main__":
    main()
