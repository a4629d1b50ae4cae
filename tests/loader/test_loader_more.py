"""More loader semantics against the real glibc: DF_1_NODEFLIB, secure (setuid) mode,
LD_PRELOAD from the image Env; and the hygiene rules GIL110, GIL201 and GIL202."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.loader.conftest import MAIN_FOO_C, Bins
from tests.loader.rootfs import (
    IS_ROOT,
    binary,
    chroot_run,
    compile_c,
    findings,
    glibc_root,
    image_facts,
    install,
    patchelf,
)
from tests.loader.test_loader_real import check_against_reality, rule_ids

needs_root = pytest.mark.root


@needs_root
def test_nodeflib_skips_cache_and_default_dirs(tmp_path: Path, bins: Bins) -> None:
    main = compile_c("main_foo_nodeflib", MAIN_FOO_C,
                     ["gcc", "-Wl,-z,nodefaultlib", "-o", "{out}", "{src}", str(bins.libfoo)],
                     "main")
    root = glibc_root(tmp_path / "root", ldconfig=False)
    install(main, root, "/usr/bin/main")
    install(bins.libfoo, root, "/usr/lib/x86_64-linux-gnu/libfoo.so.1")
    from tests.loader.rootfs import run_ldconfig
    run_ldconfig(root)
    load, fs = check_against_reality(root, "/usr/bin/main", expect_start=False)
    assert load.nodeflib
    assert "GIL102" in rule_ids(fs)


@needs_root
def test_setuid_binary_ignores_ld_library_path(tmp_path: Path, bins: Bins) -> None:
    root = glibc_root(tmp_path / "root")
    install(bins.main_foo, root, "/usr/bin/main", mode=0o4755)
    install(bins.libfoo, root, "/opt/b/libfoo.so.1")
    env = ["LD_LIBRARY_PATH=/opt/b"]
    for user, ok in (("", True), ("nobody", False)):
        facts = image_facts(root, entrypoint=["/usr/bin/main"], env=env, user=user)
        load = binary(facts, "/usr/bin/main").load
        assert load.starts is ok, load.failure
        if IS_ROOT:
            uid = facts.system.user.uid if user else None
            gid = facts.system.user.gid if user else None
            real = chroot_run(root, ["/usr/bin/main"], env, uid=uid, gid=gid)
            assert (real.returncode == 0) == ok, real


@needs_root
def test_ld_preload_env(tmp_path: Path, bins: Bins) -> None:
    root = glibc_root(tmp_path / "root")
    install(bins.go_cgo, root, "/app/hello")
    install(bins.libfoo, root, "/opt/p/libfoo.so.1")
    env = ["LD_PRELOAD=/opt/p/libfoo.so.1 libnothere.so"]
    load, fs = check_against_reality(root, "/app/hello", env=env, expect_start=True)
    pre = {f.args["name"]: f for f in fs if f.rule_id == "GIL109"}
    assert pre["/opt/p/libfoo.so.1"].variant == ""
    assert pre["libnothere.so"].variant == "unresolved"
    assert [p.found for p in load.preloads] == [True, False]


def test_dynamic_go_binary(tmp_path: Path, bins: Bins) -> None:
    root = glibc_root(tmp_path / "root", ldconfig=False, shell=False)
    install(bins.go_cgo, root, "/app/cgo")
    install(bins.go_static, root, "/app/static")
    facts = image_facts(root, entrypoint=["/app/cgo"])
    b = binary(facts, "/app/cgo")
    if b.go is None or "CGO_ENABLED" not in b.go.settings:
        pytest.skip("Go build info reader not available yet (gofacts)")
    fs = findings(facts)
    assert [f.binary for f in fs if f.rule_id == "GIL110"] == ["/app/cgo"]


@pytest.mark.parametrize("rpath,problem", [
    ("/tmp/lib", "world-writable"), ("lib", "relative"), ("/opt/a::/opt/b", "empty"),
    ("/home/ci/build/lib", "absent"), ("$ORIGIN/../lib", None), ("/usr/lib", None),
    ("/dev/shm/x", "world-writable"), ("/srv/drop", "world-writable"),
])
def test_insecure_rpath(tmp_path: Path, bins: Bins, rpath: str, problem: str | None) -> None:
    root = glibc_root(tmp_path / "root", ldconfig=False, shell=False)
    for d in ("opt/a", "opt/b", "app/lib", "srv/drop"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "srv/drop", 0o777)
    install(patchelf(bins.go_cgo, "--set-rpath", rpath), root, "/app/bin")
    facts = image_facts(root, entrypoint=["/app/bin"])
    found = [f for f in findings(facts) if f.rule_id == "GIL201"]
    if problem is None:
        assert not found
    else:
        assert found and found[0].variant == problem
        assert "patchelf" in str(found[0].args) or found[0].args["target"]
    # patchelf writes DT_RUNPATH: no GIL202.
    assert not any(f.rule_id == "GIL202" for f in findings(facts))


def test_rpath_note(tmp_path: Path, bins: Bins) -> None:
    root = glibc_root(tmp_path / "root", ldconfig=False, shell=False)
    install(patchelf(bins.go_cgo, "--force-rpath", "--set-rpath", "/usr/lib"), root, "/app/bin")
    facts = image_facts(root, entrypoint=["/app/bin"])
    [note] = [f for f in findings(facts) if f.rule_id == "GIL202"]
    assert note.args["rpath"] == "/usr/lib"


def test_inspect_facts_are_json(tmp_path: Path, bins: Bins) -> None:
    import dataclasses
    import json

    root = glibc_root(tmp_path / "root", shell=False)
    install(bins.main_bar, root, "/usr/bin/main")
    facts = image_facts(root, entrypoint=["/usr/bin/main"])
    text = json.dumps(dataclasses.asdict(facts.system))
    assert "debian-multiarch" in text
    load = binary(facts, "/usr/bin/main").load
    data = json.loads(json.dumps(dataclasses.asdict(load)))
    dep = next(d for d in data["dependencies"] if d["name"] == "libbar.so.1")
    assert not dep["found"] and dep["searched"][0]["directory"] == "/etc/ld.so.cache"
