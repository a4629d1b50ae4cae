"""Real root filesystems and binaries for the loader tests, and the real loaders as oracles.

Roots are built from the host's own Debian files (glibc 2.36 loader and libraries, Debian's
musl package, dash) so that ``chroot ROOT`` runs the image's loader for real. Compiled test
programs are cached under the goimglint cache directory keyed by source and command."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from fixtures.gobuild import cache_dir  # noqa: E402
from goimglint.facts.collect import collect_facts  # noqa: E402
from goimglint.facts.model import ImageFacts  # noqa: E402
from goimglint.findings import Finding  # noqa: E402
from goimglint.image.fs import MergedFS  # noqa: E402
from goimglint.image.model import ImageConfig, Platform  # noqa: E402

TRIPLET = "x86_64-linux-gnu"
HOST_LIBDIR = Path("/usr/lib") / TRIPLET
HOST_MUSL = Path("/usr/lib/x86_64-linux-musl/libc.so")
IS_ROOT = os.geteuid() == 0
GLIBC_LIBS = ("libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "libresolv.so.2",
              "librt.so.1")


# -- roots -----------------------------------------------------------------------------------


def _copy(src: Path, dest: Path, mode: int | None = None) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    os.chmod(dest, mode if mode is not None else (src.stat().st_mode & 0o7777))


def _symlink(target: str, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(target, link)


def glibc_root(root: Path, usrmerge: bool = True, ldconfig: bool = True,
               shell: bool = True, libs: Sequence[str] = GLIBC_LIBS) -> Path:
    """A Debian bookworm-like root: the host's ld.so and libraries in the multiarch layout,
    /etc/ld.so.conf(.d) as Debian ships them, a cache written by the real ldconfig."""
    root.mkdir(parents=True, exist_ok=True)
    if usrmerge:
        libdir = root / "usr/lib" / TRIPLET
        for name, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin"),
                             ("sbin", "usr/sbin")):
            (root / target).mkdir(parents=True, exist_ok=True)
            _symlink(target, root / name)
        _symlink(f"/lib/{TRIPLET}/ld-linux-x86-64.so.2", root / "usr/lib64/ld-linux-x86-64.so.2")
        bindir = root / "usr/bin"
    else:
        libdir = root / "lib" / TRIPLET
        (root / "usr/lib" / TRIPLET).mkdir(parents=True, exist_ok=True)
        _symlink(f"/lib/{TRIPLET}/ld-linux-x86-64.so.2", root / "lib64/ld-linux-x86-64.so.2")
        bindir = root / "bin"
    _copy(HOST_LIBDIR / "ld-linux-x86-64.so.2", libdir / "ld-linux-x86-64.so.2")
    for lib in libs:
        _copy(HOST_LIBDIR / lib, libdir / lib)
    if shell:
        _copy(Path("/usr/bin/dash"), bindir / "dash", 0o755)
        _symlink("dash", bindir / "sh")
    etc = root / "etc"
    (etc / "ld.so.conf.d").mkdir(parents=True, exist_ok=True)
    (etc / "ld.so.conf").write_text("include /etc/ld.so.conf.d/*.conf\n\n")
    (etc / "ld.so.conf.d/libc.conf").write_text("# libc default configuration\n/usr/local/lib\n")
    (etc / "ld.so.conf.d" / f"{TRIPLET}.conf").write_text(
        f"# Multiarch support\n/usr/local/lib/{TRIPLET}\n/lib/{TRIPLET}\n/usr/lib/{TRIPLET}\n")
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    (etc / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (root / "tmp").mkdir(exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    (root / "proc").mkdir(exist_ok=True)
    if ldconfig:
        run_ldconfig(root)
    return root


def run_ldconfig(root: Path) -> None:
    """The real ldconfig, reading ROOT/etc/ld.so.conf and writing ROOT/etc/ld.so.cache."""
    subprocess.run(["ldconfig", "-r", str(root)], check=True, capture_output=True)


def musl_root(root: Path, path_file: str | None = None, shell: bool = False) -> Path:
    """An Alpine-like root: Debian's musl loader at /lib/ld-musl-x86_64.so.1, no /lib64."""
    root.mkdir(parents=True, exist_ok=True)
    _copy(HOST_MUSL, root / "lib/ld-musl-x86_64.so.1", 0o755)
    _symlink("ld-musl-x86_64.so.1", root / "lib/libc.musl-x86_64.so.1")
    (root / "usr/lib").mkdir(parents=True, exist_ok=True)
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "proc").mkdir(exist_ok=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:root\n")
    if path_file is not None:
        (root / "etc/ld-musl-x86_64.path").write_text(path_file)
    return root


def install(src: Path, root: Path, dest: str, mode: int = 0o755) -> str:
    _copy(src, root / dest.lstrip("/"), mode)
    return dest


# -- compiling -------------------------------------------------------------------------------


def compile_c(name: str, source: str, argv: Sequence[str], out_name: str = "out") -> Path:
    """Compile ``source`` with ``argv`` (``{src}`` and ``{out}`` substituted), cached."""
    key = hashlib.sha256(repr((source, list(argv), _tool_id(argv[0]))).encode()).hexdigest()[:16]
    out = cache_dir() / "loader-bin" / f"{name}-{key}" / out_name
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent.parent) as tmp:
        src = Path(tmp) / f"{name}.c"
        src.write_text(source)
        tmp_out = Path(tmp) / out_name
        cmd = [a.replace("{src}", str(src)).replace("{out}", str(tmp_out)) for a in argv]
        env = dict(os.environ)
        env.setdefault("ZIG_GLOBAL_CACHE_DIR", str(cache_dir() / "zig"))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)
        if proc.returncode != 0:
            raise RuntimeError(f"compiling {name} failed: {' '.join(cmd)}\n{proc.stderr}")
        os.replace(tmp_out, out)
    return out


def _tool_id(tool: str) -> str:
    if tool == sys.executable:
        return "zig"
    return shutil.which(tool) or tool


ZIG = [sys.executable, "-m", "ziglang", "cc"]


def patchelf(path: Path, *args: str) -> Path:
    """A patched copy of ``path`` (the cached original stays untouched)."""
    key = hashlib.sha256(repr((str(path), args)).encode()).hexdigest()[:16]
    out = path.parent / f"{path.name}.patched-{key}"
    if not out.exists():
        tmp = out.with_suffix(".tmp")
        shutil.copyfile(path, tmp)
        subprocess.run(["patchelf", *args, str(tmp)], check=True, capture_output=True)
        os.replace(tmp, out)
    return out


# -- the model ---------------------------------------------------------------------------------


def image_facts(root: Path, entrypoint: Sequence[str] | None = None,
                cmd: Sequence[str] | None = None, env: Sequence[str] = (),
                user: str = "", working_dir: str = "", architecture: str = "amd64",
                has_config: bool = True) -> ImageFacts:
    """goimglint's facts for a root directory with a given config (via the lead's
    collect_facts, so the wiring is what the CLI uses)."""
    fs = MergedFS.from_directory(str(root))
    config = ImageConfig(platform=Platform("linux", architecture), env=list(env), user=user,
                         entrypoint=list(entrypoint) if entrypoint is not None else None,
                         cmd=list(cmd) if cmd is not None else None,
                         working_dir=working_dir, has_config=has_config)
    image = types.SimpleNamespace(fs=fs, config=config, reference="test/loader:latest",
                                  layers=[])
    return collect_facts(image)  # type: ignore[arg-type]


def findings(facts: ImageFacts) -> list[Finding]:
    from goimglint.checks.loader import CHECKS

    out: list[Finding] = []
    for fn in CHECKS.values():
        out.extend(fn(facts))
    return out


def binary(facts: ImageFacts, path: str):  # type: ignore[no-untyped-def]
    for b in facts.binaries:
        if b.path == path:
            return b
    raise AssertionError(f"{path} not among the analysed binaries: "
                         f"{[b.path for b in facts.binaries]}")


def model_paths(load) -> dict[str, str | None]:  # type: ignore[no-untyped-def]
    """name -> loader spelling of the resolved file, first occurrence of each name."""
    out: dict[str, str | None] = {}
    for dep in load.dependencies:
        out.setdefault(dep.name, dep.path if dep.found else None)
    return out


# -- the real loaders --------------------------------------------------------------------------


@dataclass
class RealRun:
    returncode: int
    stdout: str
    stderr: str
    libs: dict[str, str | None] = field(default_factory=dict)  # name -> path (None: not found)


@contextlib.contextmanager
def proc_mounted(root: Path) -> Iterator[None]:
    """/proc inside the root, as in a container ($ORIGIN of the executable needs it)."""
    (root / "proc").mkdir(exist_ok=True)
    proc = subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        import pytest

        pytest.skip(f"cannot mount /proc in the test root: {proc.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(root / "proc")], check=False)


def chroot_run(root: Path, argv: Sequence[str], env: Sequence[str] = (), cwd: str = "/",
               uid: int | None = None, gid: int | None = None, timeout: float = 30) -> RealRun:
    """Run argv inside the root with exactly the image's Env, as the runtime does: chroot and
    chdir happen in the child, so no host program sees the LD_* variables."""
    environ = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    environ.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")

    def enter() -> None:
        os.chroot(root)
        os.chdir(cwd)
        if gid is not None:
            os.setgroups([])
            os.setgid(gid)
        if uid is not None:
            os.setuid(uid)

    try:
        proc = subprocess.run(list(argv), env=environ, capture_output=True, timeout=timeout,
                              preexec_fn=enter)
    except OSError as exc:  # execve itself failed: what the runtime reports
        return RealRun(-1, "", f"exec {argv[0]}: {exc.strerror}")
    return RealRun(proc.returncode, proc.stdout.decode(errors="replace"),
                   proc.stderr.decode(errors="replace"))


_LDD_LINE = re.compile(r"^\t(\S+) => (?:(not found)|(\S+) \(0x[0-9a-f]+\))$")


def glibc_trace(root: Path, binary_path: str, env: Sequence[str] = ()) -> RealRun:
    """``LD_TRACE_LOADED_OBJECTS=1 BINARY`` inside the root: glibc's own resolution."""
    run = chroot_run(root, [binary_path], [*env, "LD_TRACE_LOADED_OBJECTS=1"])
    for line in run.stdout.splitlines():
        m = _LDD_LINE.match(line)
        if m:
            run.libs.setdefault(m.group(1), None if m.group(2) else m.group(3))
    return run


def musl_list(root: Path, binary_path: str, env: Sequence[str] = ()) -> RealRun:
    """``/lib/ld-musl-x86_64.so.1 --list BINARY`` inside the root."""
    run = chroot_run(root, ["/lib/ld-musl-x86_64.so.1", "--list", binary_path], env)
    for line in run.stdout.splitlines():
        m = _LDD_LINE.match(line)
        if m:
            run.libs.setdefault(m.group(1), None if m.group(2) else m.group(3))
    for m in re.finditer(r"Error loading shared library (\S+): ", run.stderr):
        run.libs.setdefault(m.group(1), None)
    return run
