"""musl binds every symbol at start-up: the model's unbound symbols against musl's own
"Error relocating" lines, for a musl program whose library is older than the one it was
linked against, and for weak references that must not count. Plus: the dynamic-symbol reader
raises only ElfError on damaged real objects."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from goimglint.facts.elf import ElfError, parse_elf, read_dynamic_symbols
from tests.field.oracle import relocation_errors, run_in_root
from tests.loader.rootfs import binary, compile_c, findings, image_facts, install, musl_root

LIB_OLD = "int foo(void) { return 1; }\n"
LIB_NEW = "int foo(void) { return 1; }\nint foo_new(void) { return 2; }\n"
LIB_NEW_WEAK = LIB_NEW + "int foo_opt(void) { return 3; }\n"
MAIN = """#include <stdio.h>
int foo(void); int foo_new(void);
extern int foo_opt(void) __attribute__((weak));
int main(void) { printf("%d %d\\n", foo(), foo_new() + (foo_opt ? foo_opt() : 0)); return 0; }
"""


def _musl_build(name: str, source: str, *args: str, out: str = "out") -> Path:
    if shutil.which("musl-gcc") is None:
        pytest.skip("musl-gcc is not installed (apt-get install musl-tools)")
    return compile_c(name, source, ["musl-gcc", *args, "-o", "{out}", "{src}"], out)


@pytest.fixture(scope="module")
def musl_programs() -> dict[str, Path]:
    shared = ("-shared", "-fPIC", "-Wl,-soname,libfoo.so.1")
    new = _musl_build("field_libfoo_new", LIB_NEW_WEAK, *shared, out="libfoo.so.1")
    old = _musl_build("field_libfoo_old", LIB_OLD, *shared, out="libfoo.so.1")
    without_opt = _musl_build("field_libfoo_noopt", LIB_NEW, *shared, out="libfoo.so.1")
    app = compile_c("field_musl_app", MAIN, ["musl-gcc", "-o", "{out}", "{src}", str(new)],
                    "app")
    return {"new": new, "old": old, "no-opt": without_opt, "app": app}


@pytest.mark.root
@pytest.mark.parametrize("library", ("new", "old", "no-opt"))
def test_musl_symbols_match_reality(library: str, musl_programs: dict[str, Path],
                                    tmp_path: Path) -> None:
    root = musl_root(tmp_path / "root")
    install(musl_programs["app"], root, "/app")
    install(musl_programs[library], root, "/usr/lib/libfoo.so.1")
    facts = image_facts(root, entrypoint=["/app"])
    load = binary(facts, "/app").load
    real = run_in_root(root, ["/app"])
    # The old library lacks foo_new (fatal); the missing foo_opt is a weak reference (fine).
    assert (real.returncode == 127) == (library == "old"), real.stderr
    model = {(m.requester, m.symbol) for m in load.missing_symbols}
    assert model == relocation_errors(real), real.stderr
    assert load.starts == (real.returncode == 0), (real.returncode, real.stderr)
    gil103 = [f for f in findings(facts) if f.rule_id == "GIL103"]
    if real.returncode == 0:
        assert not gil103 and not load.missing_symbols
    else:
        assert load.failure == real.stderr.splitlines()[0]
        assert [f.variant for f in gil103] == ["musl-symbol"]
        assert gil103[0].args["symbols"] == "foo_new"


def test_dynamic_symbols_hostile_bytes_raise_only_elf_error(musl_programs: dict[str, Path]
                                                            ) -> None:
    rng = random.Random(20261128)
    seeds = [p.read_bytes() for p in (musl_programs["app"], musl_programs["new"])]
    host_musl = Path("/usr/lib/x86_64-linux-musl/libc.so")
    if host_musl.exists():
        seeds.append(host_musl.read_bytes())
    checked = 0
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        elf = parse_elf(bytes(data))
        dyn = next(s for s in elf.segments if s.type == 2)
        for _ in range(rng.randint(1, 8)):
            i = (rng.randrange(dyn.offset, dyn.offset + dyn.filesz) if rng.random() < 0.8
                 else rng.randrange(len(data)))
            data[i] = rng.randrange(256)
        try:
            damaged = parse_elf(bytes(data))
        except ElfError:
            continue
        try:
            read_dynamic_symbols(bytes(data), damaged)
        except ElfError:
            pass
        checked += 1
    assert checked > 1000
