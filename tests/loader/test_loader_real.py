"""The loader model against the real loaders: for every scenario the model's resolved path of
each library equals what glibc's ld.so (LD_TRACE_LOADED_OBJECTS) or musl (--list) reports in
the same root, every error-level finding coincides with a real start failure under chroot,
and a binary without one starts."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from goimglint.catalog import load_catalog
from goimglint.findings import Finding, Level
from tests.loader.conftest import Bins
from tests.loader.rootfs import (
    IS_ROOT,
    binary,
    chroot_run,
    findings,
    glibc_root,
    glibc_trace,
    image_facts,
    install,
    model_paths,
    musl_list,
    musl_root,
    patchelf,
    proc_mounted,
    run_ldconfig,
)

CATALOG = load_catalog()


def level_of(f: Finding) -> Level:
    rule = CATALOG[f.rule_id]
    if f.level is not None:
        return f.level
    variant = rule.variants.get(f.variant)
    if variant is not None and variant.level is not None:
        return variant.level
    return rule.level


def errors_for(all_findings: list[Finding], path: str) -> list[Finding]:
    return [f for f in all_findings if level_of(f) is Level.ERROR and f.binary == path]


def rule_ids(all_findings: list[Finding], path: str | None = None) -> set[str]:
    return {f.rule_id for f in all_findings if path is None or f.binary == path}


def check_against_reality(root: Path, path: str, env: Sequence[str] = (),
                          entrypoint: Sequence[str] | None = None,
                          expect_start: bool | None = None, proc: bool = False,
                          argv: Sequence[str] | None = None) -> tuple[object, list[Finding]]:
    """Model the root, then (as root) compare with the real loader and a real start."""
    facts = image_facts(root, entrypoint=entrypoint or [path], env=env)
    all_findings = findings(facts)
    load = binary(facts, path).load
    assert load is not None
    errors = errors_for(all_findings, path)
    # The model's verdict and its error findings agree with each other.
    assert (load.starts is False) == bool(errors), (load.failure, errors)
    if expect_start is not None:
        assert load.starts is expect_start, (load.failure, load.dependencies)
    if not IS_ROOT:
        return load, all_findings
    ctx = proc_mounted(root) if proc else _nullcontext()
    with ctx:
        if load.interpreter_found and not load.arch_mismatch and not load.libc_mismatch:
            real = (musl_list(root, path, env) if load.loader == "musl"
                    else glibc_trace(root, path, env))
            model = {k: v for k, v in model_paths(load).items()}
            interp_names = {d.name for d in load.dependencies if d.how == "interpreter"}
            for name, real_path in real.libs.items():
                assert model.get(name) == real_path, (name, model, real.libs, real.stderr)
            for name in model:
                if name in interp_names or load.loader == "musl" and name.startswith("libc."):
                    continue
                if load.failure and name not in real.libs:
                    continue  # the real loader stopped earlier (fatal candidate)
                assert name in real.libs, (name, model, real.libs, real.stdout, real.stderr)
        run = chroot_run(root, list(argv or [path]), env)
    started = run.returncode == 0
    assert started == (not errors), (run, errors, load.failure)
    return load, all_findings


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


needs_root = pytest.mark.root


# -- glibc -------------------------------------------------------------------------------------


@needs_root
@pytest.mark.parametrize("usrmerge", [True, False], ids=["usrmerge", "split-usr"])
def test_cgo_go_binary_in_debian_root(tmp_path: Path, bins: Bins, usrmerge: bool) -> None:
    root = glibc_root(tmp_path / "root", usrmerge=usrmerge)
    install(bins.go_cgo, root, "/app/hello")
    load, fs = check_against_reality(root, "/app/hello", expect_start=True)
    assert model_paths(load)["libc.so.6"] == "/lib/x86_64-linux-gnu/libc.so.6"
    dep = load.dependencies[0]
    assert dep.how == "ld.so.cache"
    assert rule_ids(fs, "/app/hello") == {"GIL110"}


@needs_root
def test_default_dirs_without_cache(tmp_path: Path, bins: Bins) -> None:
    root = glibc_root(tmp_path / "root", ldconfig=False)
    install(bins.main_foo, root, "/usr/bin/main")
    install(bins.libfoo, root, "/usr/lib/libfoo.so.1")
    load, _ = check_against_reality(root, "/usr/bin/main", expect_start=True)
    by_name = {d.name: d for d in load.dependencies}
    assert by_name["libfoo.so.1"].how == "default"
    # usrmerge: /lib -> usr/lib, and /lib comes before /usr/lib among the trusted directories.
    assert by_name["libfoo.so.1"].path == "/lib/libfoo.so.1"
    assert by_name["libfoo.so.1"].resolved == "/usr/lib/libfoo.so.1"


@needs_root
@pytest.mark.parametrize("libdir", ["/usr/local/lib", "/opt/vendor/lib"])
@pytest.mark.parametrize("regenerate", [True, False], ids=["ldconfig-rerun", "stale-cache"])
def test_ld_so_conf_library_needs_the_cache(tmp_path: Path, bins: Bins, libdir: str,
                                            regenerate: bool) -> None:
    root = glibc_root(tmp_path / "root")
    install(bins.main_foo, root, "/usr/bin/main")
    install(bins.libfoo, root, f"{libdir}/libfoo.so.1")
    if libdir.startswith("/opt"):
        (root / "etc/ld.so.conf.d/vendor.conf").write_text(f"{libdir}\n")
    if regenerate:
        run_ldconfig(root)
    load, fs = check_against_reality(root, "/usr/bin/main", expect_start=regenerate)
    dep = next(d for d in load.dependencies if d.name == "libfoo.so.1")
    if regenerate:
        assert dep.how == "ld.so.cache" and dep.path == f"{libdir}/libfoo.so.1"
        assert "GIL108" not in rule_ids(fs)
    else:
        assert not dep.found
        assert [d.directory for d in dep.searched] == [
            "/etc/ld.so.cache", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib",
            "/usr/lib"]
        assert {"GIL102", "GIL108"} <= rule_ids(fs)
        stale = next(f for f in fs if f.rule_id == "GIL108")
        assert stale.args["path"] == f"{libdir}/libfoo.so.1"


@needs_root
@pytest.mark.parametrize("fmt", ["old", "compat", "new"])
def test_cache_formats(tmp_path: Path, bins: Bins, fmt: str) -> None:
    root = glibc_root(tmp_path / "root", ldconfig=False)
    install(bins.main_foo, root, "/usr/bin/main")
    install(bins.libfoo, root, "/usr/local/lib/libfoo.so.1")
    subprocess.run(["ldconfig", "-c", fmt, "-r", str(root)], check=True, capture_output=True)
    load, _ = check_against_reality(root, "/usr/bin/main", expect_start=True)
    dep = next(d for d in load.dependencies if d.name == "libfoo.so.1")
    assert dep.how == "ld.so.cache"


@needs_root
@pytest.mark.parametrize("tag", ["rpath", "runpath"])
def test_rpath_is_inherited_runpath_is_not(tmp_path: Path, bins: Bins, tag: str) -> None:
    root = glibc_root(tmp_path / "root")
    flag = ["--force-rpath"] if tag == "rpath" else []
    main = patchelf(bins.main_bar, *flag, "--set-rpath", "/opt/lib")
    install(main, root, "/usr/bin/main")
    install(bins.libbar, root, "/opt/lib/libbar.so.1")
    install(bins.libfoo, root, "/opt/lib/libfoo.so.1")
    load, fs = check_against_reality(root, "/usr/bin/main", expect_start=(tag == "rpath"))
    foo = next(d for d in load.dependencies if d.name == "libfoo.so.1")
    if tag == "rpath":
        assert foo.how == "rpath" and foo.via == "/usr/bin/main"
        assert "GIL202" in rule_ids(fs)
    else:
        assert not foo.found and foo.requester == "/opt/lib/libbar.so.1"
        assert "GIL102" in rule_ids(fs) and "GIL202" not in rule_ids(fs)


@needs_root
@pytest.mark.parametrize("tag", ["rpath", "runpath"])
def test_ld_library_path_precedence(tmp_path: Path, bins: Bins, tag: str) -> None:
    root = glibc_root(tmp_path / "root")
    flag = ["--force-rpath"] if tag == "rpath" else []
    install(patchelf(bins.main_foo, *flag, "--set-rpath", "/opt/a"), root, "/usr/bin/main")
    install(bins.libfoo, root, "/opt/a/libfoo.so.1")
    install(bins.libfoo, root, "/opt/b/libfoo.so.1")
    env = ["LD_LIBRARY_PATH=/opt/b"]
    load, _ = check_against_reality(root, "/usr/bin/main", env=env, expect_start=True)
    foo = next(d for d in load.dependencies if d.name == "libfoo.so.1")
    assert foo.path == ("/opt/a/libfoo.so.1" if tag == "rpath" else "/opt/b/libfoo.so.1")


@needs_root
@pytest.mark.parametrize("token", ["$ORIGIN/../lib", "${ORIGIN}/../lib"])
def test_origin_uses_the_real_path_of_the_executable(tmp_path: Path, bins: Bins,
                                                     token: str) -> None:
    root = glibc_root(tmp_path / "root")
    install(patchelf(bins.main_foo, "--set-rpath", token), root, "/app/bin/main")
    install(bins.libfoo, root, "/app/lib/libfoo.so.1")
    (root / "usr/local/bin").mkdir(parents=True, exist_ok=True)
    os.symlink("/app/bin/main", root / "usr/local/bin/main")
    load, fs = check_against_reality(root, "/app/bin/main", expect_start=True, proc=True,
                                     entrypoint=["/usr/local/bin/main"])
    foo = next(d for d in load.dependencies if d.name == "libfoo.so.1")
    assert foo.path == "/app/bin/../lib/libfoo.so.1" and foo.how == "runpath"
    assert "GIL201" not in rule_ids(fs)


@needs_root
def test_lib_token(tmp_path: Path, bins: Bins) -> None:
    root = glibc_root(tmp_path / "root")
    install(patchelf(bins.main_foo, "--set-rpath", "/opt/$LIB"), root, "/usr/bin/main")
    install(bins.libfoo, root, "/opt/lib/x86_64-linux-gnu/libfoo.so.1")
    load, _ = check_against_reality(root, "/usr/bin/main", expect_start=True)
    foo = next(d for d in load.dependencies if d.name == "libfoo.so.1")
    assert foo.path == "/opt/lib/x86_64-linux-gnu/libfoo.so.1"


@needs_root
@pytest.mark.parametrize("wrong", ["libfoo32", "libfoo_arm"])
def test_wrong_class_or_machine_is_skipped(tmp_path: Path, bins: Bins, wrong: str) -> None:
    root = glibc_root(tmp_path / "root")
    install(patchelf(bins.main_foo, "--set-rpath", "/opt/wrong:/opt/good"), root,
            "/usr/bin/main")
    install(getattr(bins, wrong), root, "/opt/wrong/libfoo.so.1")
    install(bins.libfoo, root, "/opt/good/libfoo.so.1")
    load, _ = check_against_reality(root, "/usr/bin/main", expect_start=True)
    foo = next(d for d in load.dependencies if d.name == "libfoo.so.1")
    assert foo.path == "/opt/good/libfoo.so.1"
    assert any(s.startswith("/opt/wrong/libfoo.so.1: wrong") for s in foo.skipped)


@needs_root
@pytest.mark.parametrize("bad,error", [
    ("script", "invalid ELF header"), ("short", "file too short"),
    ("directory", "cannot read file data: Error 21"),  # EISDIR, as ld.so prints it
])
def test_bad_candidate_is_fatal(tmp_path: Path, bins: Bins, bad: str, error: str) -> None:
    root = glibc_root(tmp_path / "root")
    install(patchelf(bins.main_foo, "--set-rpath", "/opt/bad:/opt/good"), root, "/usr/bin/main")
    (root / "opt/bad").mkdir(parents=True)
    target = root / "opt/bad/libfoo.so.1"
    if bad == "script":
        # A linker script where a library should be (as libc.so is in -dev packages).
        target.write_text("/* GNU ld script */\nOUTPUT_FORMAT(elf64-x86-64)\n"
                          "GROUP ( /opt/good/libfoo.so.1 )\n")
    elif bad == "short":
        target.write_text("INPUT(-lfoo)\n")
    else:
        target.mkdir()
    install(bins.libfoo, root, "/opt/good/libfoo.so.1")
    load, fs = check_against_reality(root, "/usr/bin/main", expect_start=False)
    foo = next(d for d in load.dependencies if d.name == "libfoo.so.1")
    assert foo.fatal and foo.error == error
    assert any(f.rule_id == "GIL102" and f.variant == "bad-candidate" for f in fs)
    if IS_ROOT:
        assert error in chroot_run(root, ["/usr/bin/main"]).stderr


@needs_root
def test_newer_glibc_symbol_version(tmp_path: Path, bins: Bins) -> None:
    root = glibc_root(tmp_path / "root")
    install(bins.hello_new_glibc, root, "/usr/bin/hello")
    load, fs = check_against_reality(root, "/usr/bin/hello", expect_start=False)
    problem = next(f for f in fs if f.rule_id == "GIL103")
    assert "GLIBC_2.38" in problem.args["versions"]
    assert problem.args["libc_version"] == "2.36"
    if IS_ROOT:
        assert "GLIBC_2.38' not found" in chroot_run(root, ["/usr/bin/hello"]).stderr


@needs_root
def test_aarch64_binary_in_amd64_image(tmp_path: Path, bins: Bins) -> None:
    root = glibc_root(tmp_path / "root")
    install(bins.hello_arm64, root, "/usr/bin/hello")
    load, fs = check_against_reality(root, "/usr/bin/hello", expect_start=False)
    assert rule_ids(fs, "/usr/bin/hello") == {"GIL104"}


@needs_root
def test_scratch(tmp_path: Path, bins: Bins) -> None:
    root = tmp_path / "root"
    root.mkdir()
    install(bins.go_cgo, root, "/app")
    load, fs = check_against_reality(root, "/app", expect_start=False)
    assert load.interpreter_found is False
    assert rule_ids(fs, "/app") == {"GIL101", "GIL110"}
    install(bins.go_static, root, "/app")
    load, fs = check_against_reality(root, "/app", expect_start=True)
    assert not fs


@needs_root
def test_preload_file(tmp_path: Path, bins: Bins) -> None:
    root = glibc_root(tmp_path / "root")
    install(bins.go_cgo, root, "/app/hello")
    (root / "etc/ld.so.preload").write_text("libmissing.so\n")
    load, fs = check_against_reality(root, "/app/hello", expect_start=True)
    pre = [f for f in fs if f.rule_id == "GIL109"]
    assert pre and pre[0].variant == "unresolved"
    if IS_ROOT:
        assert "cannot be preloaded" in chroot_run(root, ["/app/hello"]).stderr
    install(bins.libfoo, root, "/usr/lib/x86_64-linux-gnu/libfoo.so.1")
    (root / "etc/ld.so.preload").write_text("/usr/lib/x86_64-linux-gnu/libfoo.so.1\n")
    load, fs = check_against_reality(root, "/app/hello", expect_start=True)
    assert [p.path for p in load.preloads] == ["/usr/lib/x86_64-linux-gnu/libfoo.so.1"]
    assert any(f.rule_id == "GIL109" and f.variant == "" for f in fs)
    if IS_ROOT:
        assert "libfoo.so.1" in glibc_trace(root, "/app/hello").stdout


# -- musl --------------------------------------------------------------------------------------


@needs_root
def test_musl_binaries(tmp_path: Path, bins: Bins) -> None:
    root = musl_root(tmp_path / "root")
    install(bins.musl_hello, root, "/usr/bin/hello")
    load, fs = check_against_reality(root, "/usr/bin/hello", expect_start=True)
    assert load.loader == "musl"
    assert model_paths(load) == {"libc.so": "/lib/ld-musl-x86_64.so.1"}
    install(bins.musl_main_foo, root, "/usr/bin/main")
    install(bins.musl_libfoo, root, "/usr/lib/libfoo.so.1")
    load, _ = check_against_reality(root, "/usr/bin/main", expect_start=True)
    assert model_paths(load)["libfoo.so.1"] == "/usr/lib/libfoo.so.1"


@needs_root
@pytest.mark.parametrize("path_file", ["/opt/lib\n", "", "/opt/lib:/usr/lib"])
def test_musl_path_file(tmp_path: Path, bins: Bins, path_file: str) -> None:
    root = musl_root(tmp_path / "root", path_file=path_file)
    install(bins.musl_main_foo, root, "/usr/bin/main")
    install(bins.musl_libfoo, root, "/usr/lib/libfoo.so.1")
    expect = "/usr/lib" in path_file
    load, fs = check_against_reality(root, "/usr/bin/main", expect_start=expect)
    if not expect:
        assert "GIL102" in rule_ids(fs)


@needs_root
def test_musl_runpath_is_inherited_and_first_candidate_wins(tmp_path: Path, bins: Bins) -> None:
    root = musl_root(tmp_path / "root")
    install(patchelf(bins.musl_main_foo, "--set-rpath", "/opt/wrong:/opt/good"), root,
            "/usr/bin/main")
    install(bins.libfoo_arm, root, "/opt/wrong/libfoo.so.1")
    install(bins.musl_libfoo, root, "/opt/good/libfoo.so.1")
    load, fs = check_against_reality(root, "/usr/bin/main", expect_start=False)
    foo = next(d for d in load.dependencies if d.name == "libfoo.so.1")
    assert foo.path == "/opt/wrong/libfoo.so.1" and foo.fatal
    assert "GIL102" in rule_ids(fs, "/usr/bin/main")
    # The same with a 32-bit candidate: musl refuses to map it, still no fallback.
    install(bins.libfoo32, root, "/opt/wrong/libfoo.so.1")
    load, fs = check_against_reality(root, "/usr/bin/main", expect_start=False)
    foo = next(d for d in load.dependencies if d.name == "libfoo.so.1")
    assert not foo.found and foo.fatal and foo.error == "Exec format error"


@needs_root
def test_glibc_binary_in_musl_image(tmp_path: Path, bins: Bins) -> None:
    root = musl_root(tmp_path / "root")
    install(bins.go_cgo, root, "/app")
    load, fs = check_against_reality(root, "/app", expect_start=False)
    assert rule_ids(fs, "/app") == {"GIL105", "GIL110"}  # GIL101 folded into GIL105


@needs_root
def test_musl_binary_in_glibc_image(tmp_path: Path, bins: Bins) -> None:
    root = glibc_root(tmp_path / "root")
    install(bins.musl_hello, root, "/usr/bin/hello")
    load, fs = check_against_reality(root, "/usr/bin/hello", expect_start=False)
    assert rule_ids(fs, "/usr/bin/hello") == {"GIL105"}


# -- a real Go binary from a Debian package ------------------------------------------------------


def _debian_go_binary() -> Path:
    """fzf from Debian bookworm (Go, cgo, NEEDED libc.so.6), extracted with dpkg-deb."""
    from fixtures.gobuild import cache_dir

    base = cache_dir() / "debs"
    base.mkdir(parents=True, exist_ok=True)
    target = base / "fzf-root/usr/bin/fzf"
    if target.exists():
        return target
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("needs apt-get and dpkg-deb to fetch the Debian fzf package")
    debs = sorted(base.glob("fzf_*.deb"))
    if not debs:
        proc = subprocess.run(["apt-get", "download", "fzf"], cwd=base, capture_output=True)
        debs = sorted(base.glob("fzf_*.deb"))
        if proc.returncode != 0 or not debs:
            pytest.skip(f"apt-get download fzf failed: {proc.stderr.decode()[-200:]}")
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(base / "fzf-root")], check=True)
    return target


@needs_root
def test_debian_packaged_go_binary(tmp_path: Path) -> None:
    fzf = _debian_go_binary()
    root = glibc_root(tmp_path / "root")
    install(fzf, root, "/usr/bin/fzf")
    load, fs = check_against_reality(root, "/usr/bin/fzf", expect_start=True,
                                     argv=["/usr/bin/fzf", "--version"])
    assert [(d.name, d.path, d.how) for d in load.dependencies][0] == (
        "libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", "ld.so.cache")
    assert load.objects[0].path == "/usr/bin/fzf"
    assert load.objects[1].resolved == "/usr/lib/x86_64-linux-gnu/libc.so.6"


@needs_root
def test_glibc_binary_through_musl_compat_loader(tmp_path: Path, bins: Bins) -> None:
    """libc6-compat style: /lib64/ld-linux-x86-64.so.2 -> musl. musl runs the glibc binary and
    satisfies libc.so.6 itself; the model says so and downgrades GIL105."""
    root = musl_root(tmp_path / "root")
    (root / "lib64").mkdir()
    os.symlink("/lib/ld-musl-x86_64.so.1", root / "lib64/ld-linux-x86-64.so.2")
    install(bins.go_cgo, root, "/app")
    load, fs = check_against_reality(root, "/app", expect_start=True)
    assert load.loader == "musl" and load.libc_compat
    assert model_paths(load) == {"libc.so.6": "/lib64/ld-linux-x86-64.so.2"}
    assert [f.variant for f in fs if f.rule_id == "GIL105"] == ["compat"]


@needs_root
def test_no_cache_at_all(tmp_path: Path, bins: Bins) -> None:
    root = glibc_root(tmp_path / "root", ldconfig=False)
    install(bins.main_foo, root, "/usr/bin/main")
    install(bins.libfoo, root, "/usr/local/lib/libfoo.so.1")
    load, fs = check_against_reality(root, "/usr/bin/main", expect_start=False)
    assert [f.variant for f in fs if f.rule_id == "GIL108"] == ["no-cache"]


def test_inspect_cli_shows_the_tree(tmp_path: Path, goimglint) -> None:  # type: ignore[no-untyped-def]
    fzf = _debian_go_binary()
    root = glibc_root(tmp_path / "root")
    install(fzf, root, "/usr/bin/fzf")
    result = goimglint("inspect", str(root))
    assert result.returncode == 0, result.stderr
    assert ("libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 -> "
            "/usr/lib/x86_64-linux-gnu/libc.so.6 [ld.so.cache]") in result.stdout
