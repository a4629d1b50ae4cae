"""Run every fuzz harness of tests/fuzz for a long time and report, per harness: inputs tried,
crashes (an exception other than the parser's own error, or a broken invariant), hangs (one
input over the per-input limit, GOIMGLINT_FUZZ_HANG_SECONDS, default 5 s, or the harness
past its wall-clock limit), peak memory and time.

    python benchmarks/fuzz_report.py                      # 100,000 inputs per harness
    python benchmarks/fuzz_report.py --examples 2000 --jobs 2
    python benchmarks/fuzz_report.py --only nsswitch --json

Each harness runs in its own subprocess (fresh memory high-water mark) with random (not
derandomized) generation and no example database. Exit code 1 when any harness crashed or
hung; the failing input, shrunk by hypothesis, is printed."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# (name as counted in tests/fuzz/harness.py, module, test function)
HARNESSES = [
    ("tar-headers", "tests.fuzz.test_fuzz_archive", "test_fuzz_tar_parser"),
    ("archive+layers", "tests.fuzz.test_fuzz_archive", "test_fuzz_archive_and_layer_readers"),
    ("whiteout-merge", "tests.fuzz.test_fuzz_archive", "test_fuzz_whiteout_merge"),
    ("elf-facts", "tests.fuzz.test_fuzz_binaries", "test_fuzz_elf_facts"),
    ("build-info", "tests.fuzz.test_fuzz_binaries", "test_fuzz_build_info_blob"),
    ("modinfo", "tests.fuzz.test_fuzz_binaries", "test_fuzz_modinfo"),
    ("pclntab", "tests.fuzz.test_fuzz_binaries", "test_fuzz_function_table"),
    ("ld.so.cache", "tests.fuzz.test_fuzz_configs", "test_fuzz_ld_cache"),
    ("ld.so.conf", "tests.fuzz.test_fuzz_configs", "test_fuzz_ld_so_conf"),
    ("nsswitch", "tests.fuzz.test_fuzz_configs", "test_fuzz_nsswitch"),
    ("dockerfile", "tests.fuzz.test_fuzz_configs", "test_fuzz_dockerfile_mapping"),
]

CHILD = """
import importlib, json, resource, sys, time, traceback
from hypothesis.errors import DeadlineExceeded
from tests.fuzz import harness
name, module, func = sys.argv[1:4]
fn = getattr(importlib.import_module(module), func)
start = time.monotonic()
status, detail = "ok", ""
try:
    fn()
except BaseException as exc:  # report, do not die: the summary is the point
    chain = [exc] + list(getattr(exc, "exceptions", []))
    hang = any(isinstance(e, DeadlineExceeded) or "DeadlineExceeded" in repr(e) for e in chain)
    status = "hang" if hang else "crash"
    detail = "".join(traceback.format_exception(exc))[-4000:]
print(json.dumps({"name": name, "inputs": harness.COUNTS.get(name, 0), "status": status,
                  "detail": detail, "seconds": time.monotonic() - start,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_one(name: str, module: str, func: str, examples: int, wall: float) -> dict[str, object]:
    env = dict(os.environ, GOIMGLINT_FUZZ_EXAMPLES=str(examples), GOIMGLINT_FUZZ_RANDOM="1",
               GOIMGLINT_FUZZ_NO_DB="1",
               PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, name, module, func], env=env,
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=wall)
    except subprocess.TimeoutExpired:
        return {"name": name, "inputs": -1, "status": "hang", "seconds": wall,
                "peak_rss_mb": 0, "detail": f"harness still running after {wall:.0f}s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"name": name, "inputs": -1, "status": "crash", "peak_rss_mb": 0,
                "seconds": time.monotonic() - start, "detail": proc.stderr[-4000:]}
    return dict(json.loads(lines[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=100_000, help="inputs per harness")
    parser.add_argument("--jobs", type=int, default=1, help="harnesses run in parallel")
    parser.add_argument("--only", action="append", help="harness name (repeatable)")
    parser.add_argument("--wall", type=float, default=0.0,
                        help="seconds per harness before it counts as hung "
                        "[default: max(600, examples / 10)]")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    wall = args.wall or max(600.0, args.examples / 10)
    chosen = [h for h in HARNESSES if not args.only or h[0] in args.only]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda h: run_one(h[0], h[1], h[2], args.examples, wall),
                                chosen))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{'harness':16} {'inputs':>9} {'crashes':>7} {'hangs':>5} {'peak MB':>8} "
              f"{'seconds':>8}")
        for r in results:
            print(f"{r['name']:16} {r['inputs']:>9} {int(r['status'] == 'crash'):>7} "
                  f"{int(r['status'] == 'hang'):>5} {float(r['peak_rss_mb']):8.0f} "  # type: ignore[arg-type]
                  f"{float(r['seconds']):8.1f}")  # type: ignore[arg-type]
        total = sum(int(r["inputs"]) for r in results if int(r["inputs"]) > 0)  # type: ignore[call-overload]
        print(f"{'total':16} {total:>9} "
              f"{sum(r['status'] == 'crash' for r in results):>7} "
              f"{sum(r['status'] == 'hang' for r in results):>5}")
        for r in results:
            if r["status"] != "ok":
                print(f"\n== {r['name']}: {r['status']}\n{r['detail']}")
    return 1 if any(r["status"] != "ok" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
