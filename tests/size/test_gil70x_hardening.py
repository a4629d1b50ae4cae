"""GIL701 (runs as root) and GIL702 (setuid/setgid files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.builder import Dir, File, HostFile, Layer
from goimglint.catalog import load_catalog, render_template
from tests.size.sizeutil import analysis_of, findings, host_file, recipe, write

PASSWD = (b"root:x:0:0:root:/root:/bin/sh\n"
          b"toor:x:0:0:second root:/root:/bin/sh\n"
          b"app:x:1000:1000:app:/home/app:/sbin/nologin\n")


@pytest.mark.parametrize("user,fires,variant", [
    ("", True, "unset"),
    ("0", True, ""),
    ("root", True, ""),
    ("0:0", True, ""),
    ("root:app", True, ""),
    ("toor", True, ""),  # uid 0 in the image's /etc/passwd
    ("1000", False, ""),
    ("1000:1000", False, ""),
    ("app", False, ""),
    ("65534:65534", False, ""),
])
def test_runs_as_root(tmp_path: Path, hello_static_stripped: Path, user: str, fires: bool,
                      variant: str) -> None:
    r = recipe([Layer([Dir("/etc"), File("/etc/passwd", PASSWD),
                       HostFile("/app", hello_static_stripped)])],
               entrypoint=["/app"], user=user)
    a = analysis_of(write(r, tmp_path / "img.tar"))
    got = findings(a, "GIL701")
    assert bool(got) is fires
    if fires:
        (f,) = got
        assert f.variant == variant and f.config_key == "User"
        meta = load_catalog()["GIL701"]
        template = meta.variants[variant].message if variant else meta.message
        text = render_template(template or meta.message, f.args)
        assert "root" in text
        if user == "toor":
            assert "uid 0 in /etc/passwd" in text


def test_rootfs_directory_has_no_user_to_judge(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_bytes(PASSWD)
    a = analysis_of(root)
    assert a.facts.size.runs_as_root is None
    assert findings(a, "GIL701") == []


def test_setuid_and_setgid_files_are_listed_per_layer(tmp_path: Path) -> None:
    su = host_file("/usr/bin/su")
    r = recipe([
        Layer([Dir("/usr"), Dir("/usr/bin"), HostFile("/usr/bin/su", su, mode=0o4755),
               File("/usr/bin/wall", b"\x7fELF" + b"\0" * 60, mode=0o2755),
               File("/usr/bin/plain", b"#!/bin/sh\n", mode=0o755),
               Dir("/var"), Dir("/var/mail", mode=0o2775)],  # setgid dir: not a file
              created_by="ADD base.tar /"),
        Layer([Dir("/usr"), Dir("/usr/local"), Dir("/usr/local/bin"),
               File("/usr/local/bin/helper", b"\x7fELF" + b"\0" * 60, mode=0o6755)],
              created_by="RUN chmod ug+s /usr/local/bin/helper"),
    ], user="1000")
    a = analysis_of(write(r, tmp_path / "img.tar"))
    files = [(f.path, f.setuid, f.setgid, f.layer) for f in a.facts.size.setid_files]
    assert files == [("/usr/bin/su", True, False, 0), ("/usr/bin/wall", False, True, 0),
                     ("/usr/local/bin/helper", True, True, 1)]
    got = sorted((f.layer, f.args["count"]) for f in findings(a, "GIL702"))
    assert got == [(0, 2), (1, 1)]
    f = [f for f in findings(a, "GIL702") if f.layer == 1][0]
    text = render_template(load_catalog()["GIL702"].message, f.args)
    assert "/usr/local/bin/helper (setuid+setgid 6755)" in text
    assert "RUN chmod ug+s" in text


def test_no_setuid_finding_without_setuid_files(tmp_path: Path,
                                                hello_static_stripped: Path) -> None:
    r = recipe([Layer([HostFile("/app", hello_static_stripped)])], entrypoint=["/app"])
    a = analysis_of(write(r, tmp_path / "img.tar"))
    assert a.facts.size.setid_files == [] and findings(a, "GIL702") == []


def test_security_rules_carry_severity() -> None:
    catalog = load_catalog()
    for rule_id in ("GIL701", "GIL702"):
        meta = catalog[rule_id]
        assert meta.is_security and meta.security_severity is not None
