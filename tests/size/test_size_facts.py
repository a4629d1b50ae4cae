"""Size facts: bytes per layer and per instruction, distro, package database, shell, and the
`inspect` JSON that shows them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.builder import EmptyStep, File, HostFile, Layer
from goimglint.facts.size import parse_os_release
from tests.conftest import CliResult
from tests.size.sizeutil import analysis_of, debian_root_ops, recipe, write


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_debian_userland_facts(tmp_path: Path, compression: str) -> None:
    # /etc/os-release is a symlink to /usr/lib/os-release, as on Debian: its bytes must be
    # kept from compressed layers too.
    r = recipe([Layer(debian_root_ops())], compression=compression)  # type: ignore[arg-type]
    s = analysis_of(write(r, tmp_path / "img.tar")).facts.size
    assert (s.distro_id, s.distro_version, s.os_release) == ("debian", "12", "/etc/os-release")
    assert s.distro_name == "Debian GNU/Linux 12 (bookworm)"
    assert s.package_databases == ["/var/lib/dpkg/status"]
    assert s.shell == "/usr/bin/dash" and s.userland and s.userland_layer == 0


def test_bytes_per_layer_and_instruction(tmp_path: Path, hello_static_stripped: Path) -> None:
    app_size = hello_static_stripped.stat().st_size
    r = recipe([
        Layer([File("/a", b"1" * 1000), File("/b", b"2" * 234)], created_by="ADD x /"),
        EmptyStep("ENV A=1"),
        Layer([HostFile("/app", hello_static_stripped)], created_by="COPY app /app"),
        EmptyStep('ENTRYPOINT ["/app"]'),
    ], entrypoint=["/app"])
    a = analysis_of(write(r, tmp_path / "img.tar"))
    s = a.facts.size
    assert [ls.content_bytes for ls in s.layers] == [1234, app_size]
    assert [ls.stored_bytes for ls in s.layers] == [layer.size for layer in a.facts.layers]
    assert s.stored_bytes == sum(layer.size for layer in a.facts.layers)
    assert [(i.created_by, i.layer, i.content_bytes) for i in s.instructions] == [
        ("ADD x /", 0, 1234), ("ENV A=1", None, 0), ("COPY app /app", 1, app_size),
        ('ENTRYPOINT ["/app"]', None, 0)]
    assert s.total_bytes == 1234 + app_size and s.total_files == 3
    assert not s.userland and s.shell == "" and s.distro_id == ""


def test_inspect_json_shows_size_facts(tmp_path: Path, goimglint: Callable[..., CliResult],
                                       hello_static_stripped: Path) -> None:
    r = recipe([Layer(debian_root_ops(), created_by="ADD rootfs.tar /"),
                Layer([HostFile("/app", hello_static_stripped)], created_by="COPY app /app")],
               entrypoint=["/app"])
    path = write(r, tmp_path / "img.tar")
    res = goimglint("inspect", "--format", "json", path)
    assert res.returncode == 0, res.stderr
    size = res.json()["images"][0]["size"]
    assert size["distro_id"] == "debian" and size["package_managers"] == ["dpkg"]
    assert [ls["index"] for ls in size["layers"]] == [0, 1]
    assert size["scratch"]["all_static_go"] is True
    assert size["binaries"][0]["path"] == "/app"


def test_parse_os_release_quoting() -> None:
    text = ('NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.1\n'
            "PRETTY_NAME='Alpine Linux v3.20'\n# comment\nBAD LINE\n"
            'HOME_URL="https://alpinelinux.org/\\"x\\""\n')
    fields = parse_os_release(text)
    assert fields["ID"] == "alpine" and fields["VERSION_ID"] == "3.20.1"
    assert fields["NAME"] == "Alpine Linux" and fields["PRETTY_NAME"] == "Alpine Linux v3.20"
    assert fields["HOME_URL"] == 'https://alpinelinux.org/"x"'
    assert "BAD LINE" not in fields
