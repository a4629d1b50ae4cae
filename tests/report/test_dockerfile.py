"""Dockerfile parsing and history -> Dockerfile line mapping, on history written by real
builders: Debian's buildah (classic ``/bin/sh -c #(nop) ...`` format, offline FROM scratch
builds) and BuildKit's created_by strings as moby/buildkit's dockerfile2llb writes them."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goimglint.dockerfile import (
    DockerfileError,
    go_build_outputs,
    locate,
    map_history,
    parse_created_by,
    parse_dockerfile,
    substitute,
)

# --- parser -----------------------------------------------------------------------------------


def test_continuations_comments_and_substitution() -> None:
    df = parse_dockerfile(b"""\
ARG BASE=alpine:3.20
FROM ${BASE} AS build
ARG OUT=/out
ENV CGO_ENABLED=0 \\
    GOFLAGS="-trimpath -mod=mod"
WORKDIR src
RUN mkdir -p $OUT && \\
# a comment inside a continuation is skipped

    go build -o ${OUT}/app ./cmd/app
FROM scratch
COPY --from=build --chmod=0755 ${MISSING:-/out}/app /app
""")
    build, final = df.stages
    assert build.base == "alpine:3.20" and build.name == "build"
    env, workdir, run = build.instructions[1:]
    assert (env.start_line, env.end_line) == (4, 5)
    assert (run.start_line, run.end_line) == (7, 10)
    assert run.env == {"OUT": "/out", "CGO_ENABLED": "0", "GOFLAGS": "-trimpath -mod=mod"}
    assert run.workdir == "/src"
    assert go_build_outputs(run) == ["/out/app"]
    copy = final.instructions[0]
    assert copy.flags == {"from": "build", "chmod": "0755"}
    assert copy.expanded_body == "/out/app /app"


HEREDOCS = """\
FROM golang:1.23 AS build
RUN <<EOF
set -e
CGO_ENABLED=0 go build -o /out/app .
EOF
RUN <<-"SCRIPT" bash
\tcd /src && go build -o=bin/tool ./tool
\tSCRIPT
COPY <<CONF1 <<CONF2 /etc/
a
CONF1
b
CONF2
USER nobody
"""


def test_heredocs() -> None:
    df = parse_dockerfile(HEREDOCS)
    run1, run2, copy, user = df.final.instructions
    assert (run1.start_line, run1.end_line) == (2, 5)
    assert run1.heredocs[0].content == "set -e\nCGO_ENABLED=0 go build -o /out/app .\n"
    assert go_build_outputs(run1) == ["/out/app"]
    assert (run2.start_line, run2.end_line) == (6, 8)
    assert not run2.heredocs[0].expand and run2.heredocs[0].chomp
    assert go_build_outputs(run2) == ["/src/bin/tool"]
    assert [d.name for d in copy.heredocs] == ["CONF1", "CONF2"]
    assert (copy.start_line, copy.end_line) == (9, 13)
    assert user.start_line == 14


def test_escape_directive() -> None:
    df = parse_dockerfile("# escape=`\nFROM scratch\nENV A=1 `\n    B=2\nUSER x\n")
    env, user = df.final.instructions
    assert (env.start_line, env.end_line, user.start_line) == (3, 4, 5)
    assert env.body == "A=1     B=2"


def test_substitute_forms() -> None:
    env = {"A": "x", "E": ""}
    assert substitute("$A ${A} ${B:-d} ${E:-d} ${E-d} ${A:+y} ${B:+y} \\$A", env) == \
        "x x d d  y  $A"


@pytest.mark.parametrize("data", [b"", b"RUN x\n", b"\xff\xfe\x00", b"FROM\n" * 3,
                                  b"# escape=x\nFROM a\n", b"FROM a\nRUN <<EOF\nno end",
                                  b"FROM a\n" + b"RUN x \\\n" * 5000])
def test_hostile_dockerfiles_raise_only_dockerfile_error(data: bytes) -> None:
    try:
        parse_dockerfile(data)
    except DockerfileError:
        pass


def test_created_by_formats() -> None:
    step = parse_created_by("RUN |2 GOARCH=amd64 OUT=/out /bin/sh -c go build -o $OUT/app . "
                            "# buildkit")
    assert (step.keyword, step.body, step.buildkit) == (
        "RUN", "/bin/sh -c go build -o $OUT/app .", True)
    step = parse_created_by("/bin/sh -c #(nop) COPY file:9e04a3 in /app ")
    assert (step.keyword, step.classic_copy) == ("COPY", True)
    step = parse_created_by("|1 X=1 /bin/sh -c make")
    assert (step.keyword, step.body) == ("RUN", "/bin/sh -c make")
    assert parse_created_by("/bin/sh -c apt-get update").keyword == "RUN"
    assert parse_created_by("bazel build //app:image").keyword == ""


# --- BuildKit history, as dockerfile2llb writes it ------------------------------------------

BUILDKIT_DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM golang:1.23 AS build
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/.cache/go-build \\
    CGO_ENABLED=1 go build \\
      -ldflags "-X main.version=${VERSION}" \\
      -o /out/server ./cmd/server
RUN <<EOF
go build -o /out/migrate ./cmd/migrate
EOF

FROM debian:12-slim
ARG PORT=8080
RUN apt-get update && \\
    apt-get install -y --no-install-recommends ca-certificates && \\
    rm -rf /var/lib/apt/lists/*
COPY --from=build /out/server /usr/local/bin/
COPY --from=build --chmod=0755 /out/migrate /usr/local/bin/migrate
ENV GODEBUG=netdns=cgo \\
    PORT=${PORT}
WORKDIR app
USER 65532:65532
EXPOSE ${PORT}
ENTRYPOINT ["/usr/local/bin/server"]
CMD ["--port", "8080"]
"""

# debian:12-slim's own history, then ours; strings as BuildKit's dispatchRun, dispatchCopy,
# dispatchEnv, dispatchWorkdir... commit them (commitToHistory adds " # buildkit" to steps
# that ran in a build state; WORKDIR, ENV, USER... have none).
BUILDKIT_HISTORY = [
    "# debian.sh --arch 'amd64' out/ 'bookworm' '@1717372800'",
    'CMD ["bash"]',
    "ARG PORT=8080",
    "RUN |1 PORT=8080 /bin/sh -c apt-get update &&     apt-get install -y "
    "--no-install-recommends ca-certificates &&     rm -rf /var/lib/apt/lists/* # buildkit",
    "COPY /out/server /usr/local/bin/ # buildkit",
    "COPY --chmod=0755 /out/migrate /usr/local/bin/migrate # buildkit",
    "ENV GODEBUG=netdns=cgo PORT=8080",
    "WORKDIR /app",
    "USER 65532:65532",
    "EXPOSE map[8080/tcp:{}]",
    'ENTRYPOINT ["/usr/local/bin/server"]',
    'CMD ["--port" "8080"]',
]


def test_buildkit_history_maps_to_lines() -> None:
    df = parse_dockerfile(BUILDKIT_DOCKERFILE)
    hmap = map_history(df, BUILDKIT_HISTORY)
    lines = {i: (s.instruction.start_line, s.exact) for i, s in hmap.steps.items()}
    assert lines == {2: (15, True), 3: (16, True), 4: (19, True), 5: (20, True),
                     6: (21, True), 7: (23, True), 8: (24, True), 9: (25, False),
                     10: (26, True), 11: (27, True)}
    assert hmap.first_own == 2
    # the base image's layer -> the final stage's FROM line
    assert locate(hmap, 0, "/usr/bin/bash").reason == "base-image"
    assert locate(hmap, 0).start_line == 14
    # binaries copied from the build stage -> their go build lines
    server = locate(hmap, 4, "/usr/local/bin/server")
    assert (server.reason, server.start_line, server.end_line) == ("go-build", 6, 9)
    migrate = locate(hmap, 5, "/usr/local/bin/migrate")
    assert (migrate.reason, migrate.start_line, migrate.end_line) == ("go-build", 10, 12)
    # a file that the COPY did not bring from a go build -> the COPY line itself
    other = locate(hmap, 4, "/usr/local/bin/other")
    assert (other.reason, other.start_line) == ("instruction", 19)
    env = locate(hmap, 6)
    assert (env.start_line, env.end_line) == (21, 22)


def test_two_go_builds_of_one_output_are_not_certain() -> None:
    df = parse_dockerfile("""\
FROM golang AS build
RUN go build -o /out/app ./v1
RUN go build -o /out/app ./v2
FROM scratch
COPY --from=build /out/app /app
""")
    hmap = map_history(df, ["COPY /out/app /app # buildkit"])
    loc = locate(hmap, 0, "/app")
    assert (loc.reason, loc.start_line) == ("instruction", 5)


def test_unrelated_history_maps_nothing() -> None:
    df = parse_dockerfile("FROM scratch\nCOPY a /a\n")
    hmap = map_history(df, ["bazel build //x", "apko"])
    assert hmap.steps == {}
    assert locate(hmap, 1, "/a").reason == "unmapped"


# --- buildah: real history ------------------------------------------------------------------

GO_SHIM = """#!/bin/sh
# Stands in for the Go toolchain inside a FROM scratch builder stage: copies the real
# prebuilt static Go binary to the -o path, so the RUN line reads like a real go build.
while [ $# -gt 0 ]; do
  if [ "$1" = "-o" ]; then out="$2"; fi
  shift
done
/bin/busybox mkdir -p "$(/bin/busybox dirname "$out")"
/bin/busybox cp /prebuilt/hello "$out"
"""

MULTI_STAGE = """\
FROM scratch AS builder
COPY busybox /bin/sh
COPY busybox /bin/busybox
COPY go /usr/local/bin/go
COPY hello /prebuilt/hello
ARG OUT=/out
ENV CGO_ENABLED=0
RUN /bin/busybox mkdir -p /src && \\
    cd /src && \\
    go build -trimpath \\
      -o ${OUT}/app .

FROM scratch
COPY --from=builder /out/app /app
COPY busybox /bin/
ENV GODEBUG=netdns=go+1 \\
    FOO=bar
USER 65534
ENTRYPOINT ["/app"]
"""

SINGLE_STAGE = """\
FROM localhost/goimglint-test-base:1
ARG GREETING=hello
COPY hello /usr/local/bin/hello
RUN /bin/busybox mkdir -p /etc && \\
    # comment lines inside a continuation are dropped
    echo "hosts: files dns" > /etc/nsswitch.conf
ENV GREETING=${GREETING} \\
    GODEBUG=netdns=go
WORKDIR /srv
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/hello"]
"""

BASE = """\
FROM scratch
COPY busybox /bin/sh
COPY busybox /bin/busybox
"""


def _buildah(context: Path, dockerfile: str, tag: str) -> list[dict[str, object]]:
    """Build with buildah (one layer per instruction) and return the config history."""
    (context / "Dockerfile").write_text(dockerfile)
    common = ["buildah", "--storage-driver", "vfs"]
    subprocess.run([*common, "bud", "--layers", "--isolation", "chroot", "-f",
                    str(context / "Dockerfile"), "-t", tag, str(context)],
                   check=True, capture_output=True, timeout=300)
    archive = context / f"{tag.replace(':', '_').replace('/', '_')}.tar"
    subprocess.run([*common, "push", tag, f"oci-archive:{archive}"], check=True,
                   capture_output=True, timeout=300)
    with tarfile.open(archive) as tar:
        def read(name: str) -> dict[str, object]:
            member = tar.extractfile(name)
            assert member is not None
            return json.loads(member.read())

        index = read("index.json")
        manifests = index["manifests"]
        assert isinstance(manifests, list)
        manifest = read("blobs/" + manifests[0]["digest"].replace(":", "/"))
        config_ref = manifest["config"]
        assert isinstance(config_ref, dict)
        config = read("blobs/" + config_ref["digest"].replace(":", "/"))
    return config["history"]  # type: ignore[return-value]


def _layer_history_index(history: list[dict[str, object]], layer: int) -> int:
    """History index of the entry that produced layer ``layer`` (what the loader records)."""
    n = -1
    for i, entry in enumerate(history):
        if not entry.get("empty_layer"):
            n += 1
            if n == layer:
                return i
    raise AssertionError(f"no layer {layer}")


@pytest.fixture(scope="module")
def buildah_context(tmp_path_factory: pytest.TempPathFactory, go_hello_static: Path) -> Path:
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed (apt-get install buildah)")
    busybox = shutil.which("busybox")
    if busybox is None or "static" not in subprocess.run(
            ["file", "-L", busybox], capture_output=True, text=True).stdout:
        pytest.skip("a static busybox is needed (apt-get install busybox-static)")
    ctx = tmp_path_factory.mktemp("buildah")
    shutil.copy(busybox, ctx / "busybox")
    shutil.copy(go_hello_static, ctx / "hello")
    (ctx / "go").write_text(GO_SHIM)
    (ctx / "go").chmod(0o755)
    return ctx


@pytest.mark.root
def test_buildah_multi_stage(buildah_context: Path) -> None:
    history = _buildah(buildah_context, MULTI_STAGE, "localhost/goimglint-test-multi:1")
    created = [str(h["created_by"]) for h in history]
    df = parse_dockerfile(MULTI_STAGE)
    hmap = map_history(df, created)
    # layer 0 is COPY --from=builder /out/app /app -> the go build RUN (lines 8-11)
    app = locate(hmap, _layer_history_index(history, 0), "/app")
    assert (app.reason, app.start_line, app.end_line, app.exact) == ("go-build", 8, 11, True)
    # layer 1 is COPY busybox /bin/ -> that COPY line
    sh = locate(hmap, _layer_history_index(history, 1), "/bin/busybox")
    assert (sh.reason, sh.start_line) == ("instruction", 15)
    by_keyword = {s.instruction.keyword: (s.instruction.start_line, s.instruction.end_line)
                  for s in hmap.steps.values()}
    assert by_keyword["ENV"] == (16, 17)
    assert by_keyword["USER"] == (18, 18)
    assert by_keyword["ENTRYPOINT"] == (19, 19)
    assert all(s.exact for s in hmap.steps.values())


@pytest.mark.root
def test_buildah_single_stage_on_a_base_image(buildah_context: Path) -> None:
    _buildah(buildah_context, BASE, "localhost/goimglint-test-base:1")
    history = _buildah(buildah_context, SINGLE_STAGE, "localhost/goimglint-test-single:1")
    created = [str(h["created_by"]) for h in history]
    df = parse_dockerfile(SINGLE_STAGE)
    hmap = map_history(df, created)
    # the base image's two layers come first and point at FROM
    for layer in (0, 1):
        loc = locate(hmap, _layer_history_index(history, layer), "/bin/sh")
        assert (loc.reason, loc.start_line) == ("base-image", 1)
    hello = locate(hmap, _layer_history_index(history, 2), "/usr/local/bin/hello")
    assert (hello.reason, hello.start_line, hello.exact) == ("instruction", 3, True)
    nss = locate(hmap, _layer_history_index(history, 3), "/etc/nsswitch.conf")
    assert (nss.start_line, nss.end_line, nss.exact) == (4, 6, True)
    lines = sorted((s.instruction.keyword, s.instruction.start_line)
                   for s in hmap.steps.values() if s.exact)
    assert ("ENV", 7) in lines and ("WORKDIR", 9) in lines and ("USER", 10) in lines


# --- defensive parsing ------------------------------------------------------------------------

_WORDS = ["FROM ", "RUN ", "COPY ", "ENV ", "ARG ", "AS ", "--from=", "<<EOF", "<<-X", "EOF",
          "X", "\\", "\n", "\t", " ", "${A:-b}", "$A", "=", '"', "'", "[", "]", "#", "`",
          "# escape=`\n", "go build -o ", "/out/app", "&&", "cd ", "\r\n", "\x00", "é"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), max_size=60), st.lists(st.text(max_size=40),
                                                                  max_size=8))
def test_fuzzed_dockerfiles_and_history(parts: list[str], history: list[str]) -> None:
    text = "".join(parts)
    try:
        df = parse_dockerfile(text.encode("utf-8", "surrogatepass"))
    except DockerfileError:
        return
    hmap = map_history(df, history + ["COPY /out/app /app # buildkit"])
    for i in range(len(history) + 1):
        loc = locate(hmap, i, "/app")
        assert loc.start_line >= 1 and loc.end_line >= loc.start_line
