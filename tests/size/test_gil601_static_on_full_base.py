"""GIL601: a static Go binary on a distribution base, and the bytes scratch would drop."""

from __future__ import annotations

import os
from pathlib import Path

from fixtures.builder import Dir, File, HostFile, Layer
from goimglint.catalog import load_catalog, render_template
from tests.size.sizeutil import (
    analysis_of,
    debian_root_ops,
    findings,
    host_file,
    merged_file_bytes,
    recipe,
    write,
)

BASE = Layer(debian_root_ops(), created_by="ADD rootfs.tar / # debian-ish base")


def _app_layer(binary: Path, path: str = "/app") -> Layer:
    return Layer([HostFile(path, binary)], created_by=f"COPY app {path} # buildkit")


def test_static_go_on_debian_drops_everything_but_the_binary(
        tmp_path: Path, hello_static_stripped: Path) -> None:
    r = recipe([BASE, _app_layer(hello_static_stripped)], entrypoint=["/app"])
    a = analysis_of(write(r, tmp_path / "img.tar"))
    s = a.facts.size
    assert s.distro_id == "debian" and s.package_managers == ["dpkg"]
    assert s.shell == "/usr/bin/dash" and s.userland
    total = merged_file_bytes(r)
    assert s.total_bytes == total
    (f,) = findings(a, "GIL601")
    binary_size = hello_static_stripped.stat().st_size
    # hello resolves names but uses no CA roots, zoneinfo or os/user: only the binary stays.
    assert [k.what for k in s.scratch.keep] == ["binary"]
    assert f.args["drop_bytes"] == total - binary_size
    assert f.variant == "self_contained"
    assert f.layer == 0 and f.path == "/app"


def test_kept_support_files_follow_the_packages_used(
        tmp_path: Path, features_x509_tz_user: Path) -> None:
    r = recipe([BASE, _app_layer(features_x509_tz_user, "/usr/local/bin/svc")],
               entrypoint=["svc"], cmd=["--serve"])
    a = analysis_of(write(r, tmp_path / "img.tar"))
    (f,) = findings(a, "GIL601")
    kept = {k.what: (k.path, k.size) for k in a.facts.size.scratch.keep}
    size = os.path.getsize
    expected = {
        "binary": ("/usr/local/bin/svc", size(features_x509_tz_user)),
        "ca-certificates": ("/etc/ssl/certs/ca-certificates.crt",
                            size(host_file("/etc/ssl/certs/ca-certificates.crt"))),
        "zoneinfo": ("/usr/share/zoneinfo",
                     size(host_file("/usr/share/zoneinfo/UTC"))
                     + size(host_file("/usr/share/zoneinfo/Europe/Paris"))),
        "passwd": ("/etc/passwd", size(host_file("/etc/passwd"))),
        "group": ("/etc/group", size(host_file("/etc/group"))),
    }
    assert kept == expected
    assert f.args["drop_bytes"] == merged_file_bytes(r) - sum(v[1] for v in expected.values())
    assert f.variant == ""
    # The ready Dockerfile copies exactly the kept files and keeps the command.
    meta = load_catalog()["GIL601"]
    snippet = render_template(meta.fixes[0].dockerfile, f.args)
    assert "FROM scratch" in snippet and "CGO_ENABLED=0" in snippet
    for what, (path, _) in expected.items():
        if what != "binary":
            assert f"COPY --from={a.facts.reference} {path} {path}" in snippet
    assert "COPY --from=build /out/svc /usr/local/bin/svc" in snippet
    assert 'ENTRYPOINT ["svc"]' in snippet and 'CMD ["--serve"]' in snippet
    message = render_template(meta.message, f.args)
    assert "Debian GNU/Linux 12" in message and "/etc/ssl/certs/ca-certificates.crt" in message


def test_no_finding_on_scratch(tmp_path: Path, hello_static_stripped: Path) -> None:
    r = recipe([_app_layer(hello_static_stripped)], entrypoint=["/app"])
    a = analysis_of(write(r, tmp_path / "img.tar"))
    assert not a.facts.size.userland
    assert a.facts.size.scratch.all_static_go
    assert findings(a, "GIL601") == []


def test_no_finding_for_shell_form(tmp_path: Path, hello_static_stripped: Path) -> None:
    r = recipe([BASE, _app_layer(hello_static_stripped)],
               entrypoint=["/bin/sh", "-c", "exec /app"])
    a = analysis_of(write(r, tmp_path / "img.tar"))
    assert [x.kind for x in a.facts.size.scratch.executables][0] == "shell"
    assert findings(a, "GIL601") == []


def test_no_finding_for_a_script_entrypoint(tmp_path: Path, hello_static_stripped: Path) -> None:
    script = File("/entrypoint.sh", b"#!/bin/sh\nexec /app \"$@\"\n", mode=0o755)
    r = recipe([BASE, _app_layer(hello_static_stripped), Layer([script])],
               entrypoint=["/entrypoint.sh"])
    a = analysis_of(write(r, tmp_path / "img.tar"))
    assert [x.kind for x in a.facts.size.scratch.executables] == ["script"]
    assert findings(a, "GIL601") == []


def test_no_finding_when_an_argument_runs_another_program(
        tmp_path: Path, hello_static_stripped: Path) -> None:
    # A static Go wrapper that runs ls from the userland: ls needs libc.
    r = recipe([BASE, _app_layer(hello_static_stripped)], entrypoint=["/app", "/usr/bin/ls"])
    a = analysis_of(write(r, tmp_path / "img.tar"))
    kinds = [x.kind for x in a.facts.size.scratch.executables]
    assert kinds == ["go-static", "elf-dynamic"]
    assert findings(a, "GIL601") == []


def test_no_finding_for_a_dynamic_go_binary(tmp_path: Path, hello_cgo: Path) -> None:
    r = recipe([BASE, _app_layer(hello_cgo)], entrypoint=["/app"])
    a = analysis_of(write(r, tmp_path / "img.tar"))
    assert [x.kind for x in a.facts.size.scratch.executables] == ["go-dynamic"]
    assert findings(a, "GIL601") == []


def test_no_finding_on_a_distroless_like_base(tmp_path: Path,
                                              hello_static_stripped: Path) -> None:
    # distroless static: os-release, per-package status.d files, CA bundle, no shell.
    base = Layer([Dir("/etc"), Dir("/usr"), Dir("/usr/lib"), Dir("/var"), Dir("/var/lib"),
                  Dir("/var/lib/dpkg"), Dir("/var/lib/dpkg/status.d"),
                  HostFile("/usr/lib/os-release", host_file("/usr/lib/os-release"), mode=0o644),
                  File("/var/lib/dpkg/status.d/base", b"Package: base-files\n"),
                  File("/etc/passwd", b"root:x:0:0:root:/root:/sbin/nologin\n"
                                      b"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")])
    r = recipe([base, _app_layer(hello_static_stripped)], entrypoint=["/app"], user="65532")
    a = analysis_of(write(r, tmp_path / "img.tar"))
    s = a.facts.size
    assert s.distro_id == "debian" and not s.userland and s.package_managers == []
    assert findings(a, "GIL601") == []
