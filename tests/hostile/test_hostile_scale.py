"""Hostile by size: decompression bombs (layer and whole archive, gzip and zstd), a million
tiny files, and Ctrl-C while a large image is still arriving on standard input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from tests.hostile.craft import (
    EOF,
    docker_archive,
    docker_archive_stream,
    header,
    member,
    tar,
    tiny_files_tar,
    zeros,
)
from tests.hostile.sandbox import BASE_RSS_MB, assert_clean_end, child_env, run_cli

MB = 1 << 20


def _zero_member_tar(size: int) -> Iterator[bytes]:
    """A tar stream with one regular file of ``size`` zero bytes: every byte is valid tar, so
    only the bomb guard can stop a reader that skips through it."""
    yield member("etc/", typeflag=b"5") + header("etc/zeros", size)
    yield from zeros(size)
    yield EOF


def _gzip(chunks: Iterator[bytes], level: int = 9) -> bytes:
    co = zlib.compressobj(level, zlib.DEFLATED, 31)
    return b"".join(co.compress(c) for c in chunks) + co.flush()


def _zstd(chunks: Iterator[bytes]) -> bytes:
    co = zstandard.ZstdCompressor(level=3).compressobj()
    return b"".join(co.compress(c) for c in chunks) + co.flush()


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_layer_decompression_bomb(tmp_path: Path, kind: str) -> None:
    # gzip cannot beat ~1030:1, so its bomb must be past the 256 MiB floor to be over 1000:1;
    # zstd reaches 30,000:1 and stops at the floor.
    blob = (_gzip(_zero_member_tar(300 * MB)) if kind == "gzip"
            else _zstd(_zero_member_tar(4096 * MB)))
    path = tmp_path / "bomb.tar"
    path.write_bytes(docker_archive([blob]))
    run = run_cli(["lint", str(path)])
    assert_clean_end(run, max_seconds=30)
    assert run.returncode == 2, run.describe()
    assert "decompression bomb" in run.stderr and "layer 1" in run.stderr, run.describe()


def test_layer_near_the_ratio_is_read(tmp_path: Path) -> None:
    """The guard is a ratio, not a size: 200 MB of zeros under the 256 MiB floor is read."""
    blob = _gzip(_zero_member_tar(200 * MB))
    path = tmp_path / "ok.tar"
    path.write_bytes(docker_archive([blob]))
    run = run_cli(["lint", str(path)])
    assert_clean_end(run, max_seconds=30)
    assert run.returncode in (0, 1), run.describe()


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_archive_decompression_bomb(tmp_path: Path, kind: str) -> None:
    """A compressed docker-archive (docker save | zstd) inflates into the temp dir: the same
    guard must stop it before it fills the disk."""
    def archive() -> Iterator[bytes]:
        yield member("manifest.json", b"[]")
        yield from _zero_member_tar(4096 * MB if kind == "zstd" else 300 * MB)

    data = _zstd(archive()) if kind == "zstd" else _gzip(archive())
    path = tmp_path / "bomb.tar.z"
    path.write_bytes(data)
    run = run_cli(["lint", str(path)])
    assert_clean_end(run, max_seconds=30)
    assert run.returncode == 2 and "decompression bomb" in run.stderr, run.describe()


@pytest.mark.slow
def test_a_million_tiny_files(tmp_path: Path) -> None:
    """1,000,000 empty files in 1,000 directories (a 512 MB uncompressed layer): findings, in
    well under a minute, with memory bounded by the entry limit."""
    chunks = list(tiny_files_tar(1_000_000))
    size = sum(len(c) for c in chunks)
    path = tmp_path / "tiny.tar"
    with open(path, "wb") as out:
        for chunk in docker_archive_stream(iter(chunks), size):
            out.write(chunk)
    del chunks
    run = run_cli(["lint", "--format", "json", str(path)], timeout=120)
    print(f"1M files: {run.seconds:.1f}s, peak RSS {run.peak_rss_mb:.0f} MB")
    assert_clean_end(run, max_seconds=50, max_rss_mb=BASE_RSS_MB + 900)
    assert run.returncode in (0, 1), run.describe()


def test_entry_limit_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the entry limit (lowered here so the test stays small) the layer is refused."""
    from goimglint.errors import InputError
    from goimglint.image import layer as layer_mod
    from goimglint.image.archive import open_targets

    monkeypatch.setattr(layer_mod, "MAX_ENTRIES", 5000)
    chunks = list(tiny_files_tar(6000))
    path = tmp_path / "many.tar"
    path.write_bytes(docker_archive([b"".join(chunks)]))
    with tempfile.TemporaryDirectory() as tmp:
        target = open_targets(str(path), tmp)[0]
        with pytest.raises(InputError, match="more than 5000 files and directories"):
            target.load(tmp)


# -- Ctrl-C -------------------------------------------------------------------------------------


def test_ctrl_c_while_reading_stdin_removes_the_temp_dir(tmp_path: Path) -> None:
    """SIGINT while a large image trickles in on stdin: exit 130, one line, temp dir gone."""
    tmp, home, cwd = tmp_path / "tmp", tmp_path / "home", tmp_path / "cwd"
    for d in (tmp, home, cwd):
        d.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "goimglint", "lint", "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=cwd, env=child_env(tmp, home, debug=False))
    assert proc.stdin is not None
    stop = threading.Event()

    def feed() -> None:  # a slow pipe: 64 KiB every 10 ms of a 4 GiB layer
        assert proc.stdin is not None
        try:
            for chunk in docker_archive_stream(zeros(4096 * MB, 64 * 1024), 4096 * MB):
                if stop.is_set():
                    break
                proc.stdin.write(chunk)
                time.sleep(0.01)
        except (OSError, ValueError):  # the pipe broke, or communicate() closed it
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    deadline = time.monotonic() + 30
    while not any(tmp.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    spooled = [p for p in tmp.rglob("*")]
    assert spooled, "goimglint never created its temp dir"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        stop.set()
    assert proc.returncode == 130, (proc.returncode, err)
    lines = [ln for ln in err.decode().splitlines() if ln.strip()]
    assert lines == ["goimglint: error: interrupted"], err
    assert list(tmp.iterdir()) == [], list(tmp.rglob("*"))
    assert list(cwd.iterdir()) == [] and list(home.iterdir()) == []


@pytest.mark.parametrize("when", [0.0, 0.5, 1.5])
def test_ctrl_c_while_loading_removes_the_temp_dir(tmp_path: Path, when: float) -> None:
    """SIGINT at different moments of reading a large gzip image (spooling, inflating)."""
    def layer() -> Iterator[bytes]:
        yield from tiny_files_tar(400_000)

    blob = _gzip(layer(), 1)
    image = tmp_path / "img.tar"
    image.write_bytes(docker_archive([blob]))
    tmp, home, cwd = tmp_path / "tmp", tmp_path / "home", tmp_path / "cwd"
    for d in (tmp, home, cwd):
        d.mkdir()
    with open(image, "rb") as stdin:
        proc = subprocess.Popen([sys.executable, "-m", "goimglint", "lint", "-"], stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                                env=child_env(tmp, home, debug=False))
        deadline = time.monotonic() + 30
        while not any(tmp.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.01)  # the handler is installed long before the temp dir exists
        time.sleep(when)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    # Either interrupted (130) or, on a fast machine, already finished (0/1).
    assert proc.returncode in (0, 1, 130), (proc.returncode, err)
    if proc.returncode == 130:
        assert [ln for ln in err.decode().splitlines() if ln.strip()] == [
            "goimglint: error: interrupted"], err
    assert list(tmp.iterdir()) == [], list(tmp.rglob("*"))
    assert os.listdir(cwd) == [] and os.listdir(home) == []


def test_tar_helper_roundtrip() -> None:
    """The hand-made headers are real tar: Python's tarfile lists them."""
    import io
    import tarfile

    data = tar([member("a", b"x"), member("d/", typeflag=b"5"), member("l", typeflag=b"2",
                                                                      linkname="a")])
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert tf.getnames() == ["a", "d", "l"]
        assert tf.getmember("l").linkname == "a"
