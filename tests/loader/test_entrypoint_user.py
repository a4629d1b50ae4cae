"""Entrypoint/Cmd resolution (GIL106) and config User (GIL107), checked against a real
execve inside the root where the kernel decides."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.loader.conftest import Bins
from tests.loader.rootfs import (
    IS_ROOT,
    chroot_run,
    findings,
    glibc_root,
    image_facts,
    install,
)

needs_root = pytest.mark.root


def gil106(fs: list) -> list:  # type: ignore[type-arg]
    return [f for f in fs if f.rule_id == "GIL106"]


def real_start(root: Path, argv: list[str], uid: int | None = None,
               gid: int | None = None) -> bool:
    return chroot_run(root, argv, uid=uid, gid=gid).returncode == 0


@needs_root
def test_shell_form_without_shell(tmp_path: Path, bins: Bins) -> None:
    root = tmp_path / "root"
    root.mkdir()
    install(bins.go_static, root, "/app")
    argv = ["/bin/sh", "-c", "/app"]
    facts = image_facts(root, cmd=argv)
    [f] = gil106(findings(facts))
    assert f.variant == "no-shell" and f.config_key == "Cmd"
    if IS_ROOT:
        assert not real_start(root, argv)
    facts = image_facts(root, entrypoint=["/app"])
    assert not gil106(findings(facts)) and facts.system.entrypoint.executable == "/app"
    if IS_ROOT:
        assert real_start(root, ["/app"])


@needs_root
@pytest.mark.parametrize("shebang,ok", [("#!/bin/sh", True), ("#!/bin/bash", False),
                                        ("#! /bin/sh -e", True),
                                        ("#!/usr/bin/env python3", False)])
def test_script_interpreter(tmp_path: Path, bins: Bins, shebang: str, ok: bool) -> None:
    root = glibc_root(tmp_path / "root")
    install(bins.go_cgo, root, "/app/hello")
    script = root / "entry.sh"
    script.write_text(f"{shebang}\nexec /app/hello\n")
    script.chmod(0o755)
    facts = image_facts(root, entrypoint=["/entry.sh"])
    problems = gil106(findings(facts))
    assert (not problems) == ok, problems
    ep = facts.system.entrypoint
    assert ep.kind == "script"
    if ok:
        assert ep.executable == "/usr/bin/dash"  # /bin/sh -> dash under usrmerge
    else:
        assert problems[0].variant == "interpreter-missing"
    if IS_ROOT:
        assert real_start(root, ["/entry.sh"]) == ok


@needs_root
@pytest.mark.parametrize("mode,user,ok", [(0o755, "", True), (0o644, "", False),
                                          (0o700, "nobody", False), (0o755, "nobody", True),
                                          (0o750, "65534:0", True)])
def test_execute_permission(tmp_path: Path, bins: Bins, mode: int, user: str,
                            ok: bool) -> None:
    root = glibc_root(tmp_path / "root")
    install(bins.go_static, root, "/app/hello", mode=mode)
    facts = image_facts(root, entrypoint=["/app/hello"], user=user)
    problems = gil106(findings(facts))
    assert (not problems) == ok, problems
    if IS_ROOT:
        uid = gid = None
        if user:
            uid, gid = facts.system.user.uid, facts.system.user.gid
        assert real_start(root, ["/app/hello"], uid=uid, gid=gid) == ok


@needs_root
def test_not_elf_nor_script(tmp_path: Path) -> None:
    root = glibc_root(tmp_path / "root")
    (root / "app").write_bytes(b"MZ\x90\x00 not a linux program\n")
    (root / "app").chmod(0o755)
    facts = image_facts(root, entrypoint=["/app"])
    [f] = gil106(findings(facts))
    assert f.variant == "exec-format"
    if IS_ROOT:
        assert not real_start(root, ["/app"])


@needs_root
def test_symlink_loop_entrypoint(tmp_path: Path, bins: Bins) -> None:
    """A looping symlink is ELOOP for execve and for Go's LookPath stat, not "not found";
    on PATH the loop is skipped and the next directory is tried."""
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "app").symlink_to("/loop")
    (root / "loop").symlink_to("/app")
    facts = image_facts(root, entrypoint=["/app"])
    [f] = gil106(findings(facts))
    assert f.variant == "missing"
    assert "too many levels of symbolic links" in f.args["detail"], f.args["detail"]
    if IS_ROOT:
        run = chroot_run(root, ["/app"])
        assert run.returncode != 0 and "Too many levels of symbolic links" in run.stderr
    install(bins.go_static, root, "/bin/app")
    (root / "usr" / "local" / "bin").mkdir(parents=True)
    (root / "usr" / "local" / "bin" / "app").symlink_to("/app")  # first on PATH: a loop
    facts = image_facts(root, cmd=["app"])
    assert not gil106(findings(facts))
    assert facts.system.entrypoint.resolved == "/bin/app"
    if IS_ROOT:
        assert real_start(root, ["app"])


def test_path_lookup_and_working_dir(tmp_path: Path, bins: Bins) -> None:
    root = tmp_path / "root"
    root.mkdir()
    install(bins.go_static, root, "/srv/bin/app")
    # Not on Docker's default PATH.
    facts = image_facts(root, cmd=["app"])
    [f] = gil106(findings(facts))
    assert f.variant == "missing" and "not found in $PATH" in f.args["detail"]
    assert facts.system.entrypoint.path_default
    # On the image's PATH.
    facts = image_facts(root, cmd=["app", "--flag"], env=["PATH=/usr/bin:/srv/bin"])
    assert not gil106(findings(facts))
    assert facts.system.entrypoint.path == "/srv/bin/app"
    # Relative to WorkingDir.
    facts = image_facts(root, cmd=["./bin/app"], working_dir="/srv")
    assert not gil106(findings(facts)) and facts.system.entrypoint.resolved == "/srv/bin/app"
    facts = image_facts(root, cmd=["./bin/app"], working_dir="/")
    assert gil106(findings(facts))
    # No command at all.
    facts = image_facts(root)
    assert gil106(findings(facts))[0].variant == "no-command"


def test_shell_form_command_not_found(tmp_path: Path, bins: Bins) -> None:
    root = glibc_root(tmp_path / "root", ldconfig=False)
    install(bins.go_static, root, "/usr/local/bin/app")
    facts = image_facts(root, cmd=["/bin/sh", "-c", "exec app --port 80"])
    assert not gil106(findings(facts))
    assert facts.system.entrypoint.shell_command_resolved == "/usr/local/bin/app"
    facts = image_facts(root, cmd=["/bin/sh", "-c", "FOO=1 exec server --port 80"])
    [f] = gil106(findings(facts))
    assert f.variant == "shell-command" and f.uncertain


@pytest.mark.parametrize("spec,problem", [
    ("", None), ("root", None), ("nobody", None), ("1000", None), ("1000:1000", None),
    ("app", "user"), ("nobody:nogroup", None), ("nobody:staff", "group"), ("0:staff", "group"),
])
def test_user_resolution(tmp_path: Path, spec: str, problem: str | None) -> None:
    root = glibc_root(tmp_path / "root", ldconfig=False, shell=False)
    facts = image_facts(root, cmd=["/bin/true"], user=spec)
    found = [f for f in findings(facts) if f.rule_id == "GIL107"]
    if problem is None:
        assert not found
    else:
        assert found and found[0].args["missing"] == problem


def test_user_without_passwd(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    facts = image_facts(root, cmd=["/app"], user="app")
    assert any(f.rule_id == "GIL107" for f in findings(facts))
    facts = image_facts(root, cmd=["/app"], user="65532:65532")
    assert not any(f.rule_id == "GIL107" for f in findings(facts))
    assert (facts.system.user.uid, facts.system.user.gid) == (65532, 65532)


def test_user_supplementary_groups(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("app:x:1000:1000::/home/app:/bin/sh\n")
    (root / "etc/group").write_text("app:x:1000:\ndocker:x:999:app,other\n")
    facts = image_facts(root, cmd=["/app"], user="app")
    assert facts.system.user.uid == 1000 and facts.system.user.supplementary_gids == [999]
