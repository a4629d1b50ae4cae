"""GIL303's question "does libnss_<name>.so.2 resolve?" is answered by the loader model as
glibc's dlopen() from libc would: the ld.so.cache counts, a stale cache does not."""

from __future__ import annotations

import shutil
from pathlib import Path

from fixtures.gobuild import go_build
from goimglint.checks.golang import CHECKS as GO_CHECKS
from tests.loader.rootfs import compile_c, glibc_root, image_facts, install, run_ldconfig

NSSWITCH = "hosts: files mymachines dns\n"


def _root(tmp_path: Path, module_dir: str | None, ldconfig_after: bool) -> Path:
    root = glibc_root(tmp_path / "root")
    cgo = go_build("hello", env={"CGO_ENABLED": "1"})
    install(cgo, root, "/app")
    (root / "etc/nsswitch.conf").write_text(NSSWITCH)
    if module_dir is not None:
        # A real shared object with the module's soname (ldconfig keys the cache by soname);
        # only the lookup is judged, not its symbols.
        module = compile_c("libnss_mymachines", "int _nss_mymachines_stub(void) { return 0; }\n",
                           ["gcc", "-shared", "-fPIC",
                            "-Wl,-soname,libnss_mymachines.so.2", "-o", "{out}", "{src}"])
        dest = root / module_dir.lstrip("/")
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(module, dest / "libnss_mymachines.so.2")
        if ldconfig_after:
            run_ldconfig(root)
    return root


def _gil303(root: Path) -> list[str]:
    facts = image_facts(root, entrypoint=["/app"])
    return [f.args.get("module", f.path) for f in GO_CHECKS["GIL303"](facts)]


def test_module_missing_fires(tmp_path: Path) -> None:
    assert _gil303(_root(tmp_path, None, False))


def test_module_in_trusted_dir_resolves(tmp_path: Path) -> None:
    facts_root = _root(tmp_path, "/usr/lib/x86_64-linux-gnu", False)
    assert not _gil303(facts_root)


def test_module_in_conf_dir_needs_the_cache(tmp_path: Path) -> None:
    # /usr/local/lib is listed in ld.so.conf but is not a trusted directory: only a cache
    # regenerated after the COPY makes dlopen find the module.
    assert _gil303(_root(tmp_path / "stale", "/usr/local/lib", False))
    assert not _gil303(_root(tmp_path / "fresh", "/usr/local/lib", True))
