"""Run ``python -m goimglint`` the way a hostile-input test needs it: GOIMGLINT_DEBUG=1 (a
parser bug crashes instead of hiding behind the catch-all), TMPDIR, HOME and the working
directory fresh and empty, peak RSS of the child measured with wait4's rusage, and a wall
clock limit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The interpreter with goimglint and its imports already costs this much; limits below are
# on top of what an input may add.
BASE_RSS_MB = 150


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float
    leftovers: list[str]  # files left in TMPDIR, HOME or the working directory

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]

    def describe(self) -> str:
        return (f"rc={self.returncode} {self.seconds:.1f}s {self.peak_rss_mb:.0f}MB "
                f"leftovers={self.leftovers[:5]}\nstderr: {self.stderr[-3000:]}\n"
                f"stdout: {self.stdout[:1000]}")


# Peak RSS is measured by a small launcher that starts goimglint and waits for it: a child
# forked straight from pytest would inherit pytest's own high-water mark at exec time.
_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""


def _listing(*dirs: Path) -> list[str]:
    out = []
    for d in dirs:
        for root, subdirs, files in os.walk(d):
            out += [os.path.join(root, n) for n in subdirs + files]
    return sorted(out)


def child_env(tmp: Path, home: Path, debug: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "GOIMGLINT"))}
    env.update(TMPDIR=str(tmp), HOME=str(home), PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
               XDG_CACHE_HOME=str(home / ".cache"), NO_COLOR="1")
    if debug:
        env["GOIMGLINT_DEBUG"] = "1"
    return env


def run_cli(args: Iterable[str | os.PathLike[str]], timeout: float = 60.0,
            stdin_path: Path | None = None, debug: bool = True) -> Run:
    """Run the CLI in a fresh sandbox; stdout/stderr go to files so no pipe can block."""
    with tempfile.TemporaryDirectory(prefix="gil-hostile-") as box:
        boxp = Path(box)
        tmp, home, cwd = boxp / "tmp", boxp / "home", boxp / "cwd"
        for d in (tmp, home, cwd):
            d.mkdir()
        out_path, err_path, rss_path = boxp / "stdout", boxp / "stderr", boxp / "rss"
        with open(out_path, "wb") as out, open(err_path, "wb") as err, \
                open(stdin_path or os.devnull, "rb") as stdin:
            start = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER, str(rss_path), sys.executable, "-m",
                 "goimglint", *[str(a) for a in args]],
                stdin=stdin, stdout=out, stderr=err, cwd=cwd, env=child_env(tmp, home, debug),
                start_new_session=True)
            rc = _wait(proc, timeout)
            seconds = time.monotonic() - start
        return Run(rc, out_path.read_text(errors="replace"), err_path.read_text(errors="replace"),
                   seconds, int(rss_path.read_text()) / 1024, _listing(tmp, home, cwd))


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and goimglint
        proc.wait()
        raise TimeoutError(f"goimglint still running after {timeout:.0f}s (a hang)") from None


def assert_clean_end(run: Run, max_seconds: float, max_rss_mb: float = BASE_RSS_MB + 100,
                     allowed: tuple[int, ...] = (0, 1, 2)) -> None:
    """The contract of issue 8 for one run: findings (0/1) or one ``goimglint: error:`` line
    (2), never a traceback; within time and memory; nothing left behind."""
    assert run.returncode in allowed, run.describe()
    assert "Traceback" not in run.stderr, run.describe()
    if run.returncode == 2:
        assert len(run.error_lines) == 1, run.describe()
        assert run.error_lines[0].startswith("goimglint: error: "), run.describe()
        assert "internal error" not in run.error_lines[0], run.describe()
    assert run.seconds < max_seconds, run.describe()
    assert run.peak_rss_mb < max_rss_mb, run.describe()
    assert run.leftovers == [], run.describe()
