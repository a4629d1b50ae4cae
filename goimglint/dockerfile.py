"""Dockerfile parsing and mapping of image history onto Dockerfile lines.

An image's config ``history[].created_by`` records, per build step, a rendering of the
instruction that ran: the classic builder and buildah write ``/bin/sh -c #(nop) ENV A=b`` or
``/bin/sh -c go build ...`` (RUN), BuildKit writes ``RUN /bin/sh -c go build ... # buildkit``,
``COPY /out/app /app # buildkit``, ``ENV A=b``. :func:`map_history` aligns those entries with
the instructions of the final stage (and the stages it is built ``FROM``), so a finding about a
layer or a config setting can point at the line that produced it. The parser follows the
BuildKit frontend's rules: parser directives (``# escape=``), line continuations (comment and
blank lines inside a continuation are skipped), heredocs (``<<EOF``, ``<<-EOF``, quoted
delimiters), stages (``FROM x AS name``) and ARG/ENV substitution in the instructions the
builder expands (FROM, COPY, ADD, ENV, ARG, LABEL, USER, WORKDIR, EXPOSE, VOLUME,
STOPSIGNAL)."""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

MAX_DOCKERFILE_BYTES = 4 << 20
MAX_INSTRUCTIONS = 20_000
MAX_ALIGN_CELLS = 250_000  # bound on the history x instructions alignment table
MAX_ALIGN_INSTRUCTIONS = 1_000  # the final stage's last instructions that are aligned

EXPANDED = {"FROM", "COPY", "ADD", "ENV", "ARG", "LABEL", "USER", "WORKDIR", "EXPOSE",
            "VOLUME", "STOPSIGNAL"}
KEYWORDS = EXPANDED | {"RUN", "CMD", "ENTRYPOINT", "SHELL", "HEALTHCHECK", "ONBUILD",
                       "MAINTAINER"}
DEFAULT_SHELL = ("/bin/sh", "-c")


class DockerfileError(ValueError):
    """The Dockerfile cannot be parsed (not text, too big, no FROM...)."""


@dataclass(slots=True)
class Heredoc:
    name: str
    content: str
    chomp: bool  # <<- strips leading tabs
    expand: bool  # unquoted delimiter: variables expand when the builder runs it


@dataclass(slots=True)
class Instruction:
    keyword: str  # upper case
    args: str  # text after the keyword, continuations joined, heredoc bodies not included
    start_line: int  # 1-based, first line of the instruction
    end_line: int  # last line (continuations and heredoc bodies included)
    stage: int
    flags: dict[str, str] = field(default_factory=dict)  # --from=builder -> {"from": "builder"}
    body: str = ""  # args without the leading --flags
    heredocs: list[Heredoc] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # ARG/ENV in scope before it runs
    workdir: str = "/"
    shell: tuple[str, ...] = DEFAULT_SHELL

    @property
    def expanded_body(self) -> str:
        """The body as the builder sees it (variables substituted where the builder does)."""
        if self.keyword in EXPANDED:
            return substitute(self.body, self.env)
        return self.body


@dataclass(slots=True)
class Stage:
    index: int
    base: str  # FROM argument, expanded
    name: str  # "" when unnamed
    from_line: int
    instructions: list[Instruction] = field(default_factory=list)
    parent: int | None = None  # index of the earlier stage this one is built FROM


@dataclass(slots=True)
class Dockerfile:
    stages: list[Stage]
    global_args: dict[str, str]
    escape: str = "\\"

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage_by_ref(self, ref: str) -> Stage | None:
        """A stage by name (case-insensitive) or by index, as ``COPY --from`` names it."""
        for stage in self.stages:
            if stage.name and stage.name.lower() == ref.lower():
                return stage
        if ref.isdigit() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None

    def chain(self, stage: Stage) -> list[Stage]:
        """The stage and the earlier stages it is built FROM, oldest first."""
        out = [stage]
        seen = {stage.index}
        while out[0].parent is not None and out[0].parent not in seen:
            seen.add(out[0].parent)
            out.insert(0, self.stages[out[0].parent])
        return out


# --- parsing --------------------------------------------------------------------------------

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"(?<!<)<<(-?)\s*([\"']?)([A-Za-z0-9_.-]+)\2")


def parse_dockerfile(data: bytes | str, build_args: Mapping[str, str] | None = None
                     ) -> Dockerfile:
    """Parse a Dockerfile. Raises only DockerfileError."""
    if isinstance(data, bytes):
        if len(data) > MAX_DOCKERFILE_BYTES:
            raise DockerfileError("Dockerfile is larger than 4 MiB")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DockerfileError(f"Dockerfile is not UTF-8 text: {exc}") from None
    else:
        text = data
        if len(text) > MAX_DOCKERFILE_BYTES:
            raise DockerfileError("Dockerfile is larger than 4 MiB")
    try:
        return _parse(text, dict(build_args or {}))
    except DockerfileError:
        raise
    except (ValueError, IndexError, KeyError, RecursionError) as exc:  # defensive: never leak
        raise DockerfileError(f"cannot parse Dockerfile: {exc}") from None


def _parse(text: str, build_args: dict[str, str]) -> Dockerfile:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    escape = "\\"
    i = 0
    # Parser directives: only at the very top, before any other comment, blank or instruction.
    seen_directives: set[str] = set()
    while i < len(lines):
        m = _DIRECTIVE.match(lines[i].strip())
        if not m or m.group(1).lower() in seen_directives:
            break
        seen_directives.add(m.group(1).lower())
        if m.group(1).lower() == "escape":
            if m.group(2) not in ("\\", "`"):
                raise DockerfileError(f"invalid escape directive {m.group(2)!r}")
            escape = m.group(2)
        i += 1
    continuation = re.compile(re.escape(escape) + r"[ \t]*$")

    raw: list[tuple[str, str, int, int, list[Heredoc]]] = []
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i
        parts: list[str] = []
        current = line
        while True:
            if continuation.search(current):
                parts.append(continuation.sub("", current))
                i += 1
                # skip comment and empty lines inside a continuation, as BuildKit does
                while i < len(lines) and (not lines[i].strip() or
                                          lines[i].lstrip().startswith("#")):
                    i += 1
                if i >= len(lines):
                    break
                current = lines[i]
                continue
            parts.append(current)
            break
        logical = "".join(parts).strip()
        end = min(i, len(lines) - 1)
        i += 1
        keyword, _, rest = logical.partition(" ")
        if not keyword:
            continue
        keyword = keyword.upper()
        rest = rest.strip()
        if "\t" in keyword:
            keyword, _, more = keyword.partition("\t")
            rest = (more + " " + rest).strip()
        heredocs: list[Heredoc] = []
        if keyword in ("RUN", "COPY", "ADD"):
            for m in _HEREDOC.finditer(rest):
                chomp, quote, name = m.group(1) == "-", m.group(2), m.group(3)
                doc_lines: list[str] = []
                while i < len(lines):
                    candidate = lines[i].lstrip("\t") if chomp else lines[i]
                    i += 1
                    if candidate == name:
                        break
                    doc_lines.append(candidate)
                end = i - 1
                heredocs.append(Heredoc(name, "\n".join(doc_lines) +
                                        ("\n" if doc_lines else ""), chomp, not quote))
        raw.append((keyword, rest, start + 1, end + 1, heredocs))
        if len(raw) > MAX_INSTRUCTIONS:
            raise DockerfileError(f"more than {MAX_INSTRUCTIONS} instructions")

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    env: dict[str, str] = {}
    workdir = "/"
    shell: tuple[str, ...] = DEFAULT_SHELL
    stage_env: dict[int, dict[str, str]] = {}
    stage_wd: dict[int, str] = {}
    stage_shell: dict[int, tuple[str, ...]] = {}
    for keyword, rest, start, end, heredocs in raw:
        flags, body = split_flags(rest)
        if keyword == "FROM":
            if stages:
                stage_env[stages[-1].index] = env
                stage_wd[stages[-1].index] = workdir
                stage_shell[stages[-1].index] = shell
            words = body.split()
            base = substitute(words[0], global_args) if words else ""
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else ""
            stage = Stage(len(stages), base, name, start)
            parent = next((s for s in reversed(stages)
                           if s.name and s.name.lower() == base.lower()), None)
            if parent is not None:
                stage.parent = parent.index
                env = dict(stage_env.get(parent.index, {}))
                workdir = stage_wd.get(parent.index, "/")
                shell = stage_shell.get(parent.index, DEFAULT_SHELL)
            else:
                env, workdir, shell = {}, "/", DEFAULT_SHELL
            stages.append(stage)
            continue
        if not stages:
            if keyword == "ARG":
                for key, value in _key_values(body, legacy=False):
                    global_args[key] = build_args.get(key, substitute(value or "",
                                                                       global_args))
            continue  # anything else before FROM is an error for the builder; ignore
        inst = Instruction(keyword, rest, start, end, stages[-1].index, flags, body,
                           heredocs, dict(env), workdir, shell)
        stages[-1].instructions.append(inst)
        if keyword == "ARG":
            for key, value in _key_values(body, legacy=False):
                if key in build_args:
                    env[key] = build_args[key]
                elif value is not None:
                    env[key] = substitute(value, env)
                elif key in global_args:
                    env[key] = global_args[key]
        elif keyword == "ENV":
            for key, value in _key_values(body, legacy=True):
                env[key] = substitute(value or "", env)
        elif keyword == "WORKDIR":
            workdir = posixpath.normpath(posixpath.join(workdir, substitute(body, env).strip()
                                                        or "/"))
        elif keyword == "SHELL":
            try:
                parsed = json.loads(body)
                if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
                    shell = tuple(parsed)
            except ValueError:
                pass
    if not stages:
        raise DockerfileError("no FROM instruction")
    return Dockerfile(stages, global_args, escape)


def split_flags(rest: str) -> tuple[dict[str, str], str]:
    """Leading ``--name=value`` / ``--name`` flags and the remaining text."""
    flags: dict[str, str] = {}
    body = rest
    while True:
        m = re.match(r"--([A-Za-z][A-Za-z0-9-]*)(?:=(\"[^\"]*\"|'[^']*'|\S*))?\s*", body)
        if not m:
            break
        value = m.group(2) or ""
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        flags[m.group(1).lower()] = value
        body = body[m.end():]
    return flags, body.strip()


def _split_words(text: str) -> list[str]:
    try:
        lexer = shlex.shlex(text, posix=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        return list(lexer)
    except ValueError:
        return text.split()


def _key_values(body: str, *, legacy: bool) -> list[tuple[str, str | None]]:
    """``K=V K2="v 2"`` pairs (or the legacy ``ENV K value with spaces`` form)."""
    words = _split_words(body)
    if not words:
        return []
    if legacy and "=" not in words[0]:
        key, _, value = body.strip().partition(" ")
        return [(key, " ".join(_split_words(value.strip())) if value.strip() else "")]
    out: list[tuple[str, str | None]] = []
    for word in words:
        key, sep, value = word.partition("=")
        out.append((key, value if sep else None))
    return out


_VAR = re.compile(r"\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])([^}]*))?\}|"
                  r"\$([A-Za-z_][A-Za-z0-9_]*)")


def substitute(text: str, env: Mapping[str, str]) -> str:
    """``$X``, ``${X}``, ``${X:-default}``, ``${X:+alt}`` (and the ``-``/``+`` forms), as the
    Dockerfile frontend expands them; ``\\$`` stays a literal ``$``; unset variables are empty."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "\\$":
            return "$"
        name = m.group(1) or m.group(4)
        op, word = m.group(2), m.group(3) or ""
        value = env.get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return substitute(word, env)
            return value
        if op in (":+", "+"):
            if value is None or (op == ":+" and value == ""):
                return ""
            return substitute(word, env)
        return value or ""

    return _VAR.sub(repl, text)


# --- history ----------------------------------------------------------------------------------

@dataclass(slots=True)
class HistoryStep:
    """What a history ``created_by`` says ran."""

    keyword: str  # "" when the producer is not a Dockerfile builder we know
    body: str
    buildkit: bool
    classic_copy: bool = False  # "COPY file:<sha> in <dest>": sources are hashed away


_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s*")
_RUN_ARGS = re.compile(r"^\|(\d+)\s+")
_ARG_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=\S*\s+")


def _strip_run_args(text: str) -> str:
    m = _RUN_ARGS.match(text)
    if not m:
        return text
    rest = text[m.end():]
    for _ in range(int(m.group(1))):
        w = _ARG_WORD.match(rest)
        if not w:
            break
        rest = rest[w.end():]
    return rest


def parse_created_by(created_by: str) -> HistoryStep:
    text = created_by.strip()
    buildkit = text.endswith("# buildkit")
    if buildkit:
        text = text[: -len("# buildkit")].rstrip()
    m = _NOP.match(text)
    if m:
        keyword, _, body = text[m.end():].strip().partition(" ")
        keyword = keyword.upper()
        body = body.strip()
        classic_copy = keyword in ("COPY", "ADD") and bool(
            re.match(r"^(file|dir|multi):[0-9a-f]+ in ", body))
        return HistoryStep(keyword, body, buildkit, classic_copy)
    first, _, rest = text.partition(" ")
    if first in KEYWORDS:
        body = rest.strip()
        if first == "RUN":
            body = _strip_run_args(body)
        return HistoryStep(first, body, buildkit)
    stripped = _strip_run_args(text)
    if stripped != text or text.startswith(("/bin/sh -c ", "/bin/bash -c ", "cmd /S /C ")):
        return HistoryStep("RUN", stripped, buildkit)  # classic builder RUN
    return HistoryStep("", text, buildkit)


def _norm(text: str) -> str:
    return " ".join(text.split())


def _run_text(inst: Instruction) -> str:
    """The command text a RUN records, as BuildKit builds it (heredocs included)."""
    body = inst.body
    if inst.heredocs:
        if _HEREDOC.fullmatch(body.strip()) and len(inst.heredocs) == 1:
            doc = inst.heredocs[0]
            if doc.content.startswith("#!"):
                return "/dev/pipes/" + doc.name
            return doc.content
        return body + "".join("\n" + d.content + d.name for d in inst.heredocs)
    exec_form = _json_list(body)
    if exec_form is not None:
        return " ".join(exec_form)
    return body


def _json_list(text: str) -> list[str] | None:
    text = text.strip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _history_cmd_list(body: str) -> list[str]:
    parsed = _json_list(body)
    if parsed is not None:
        return parsed
    if body.startswith("[") and body.endswith("]"):  # Go %q of a []string: ["a" "b"]
        items = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
        try:
            return [json.loads(f'"{item}"') for item in items]
        except ValueError:
            return items
    return [*DEFAULT_SHELL, body]


def _inst_cmd_list(inst: Instruction) -> list[str]:
    parsed = _json_list(inst.body)
    if parsed is not None:
        return parsed
    return [*inst.shell, inst.body]


def _copy_words(text: str) -> list[str]:
    return [w for w in text.split() if not w.startswith("--")]


def match_score(step: HistoryStep, inst: Instruction) -> int:
    """3: the history entry renders this instruction; 1: same kind only; 0: different."""
    if not step.keyword or step.keyword != inst.keyword:
        return 0
    kw = inst.keyword
    exact = False
    if kw == "RUN":
        want = _norm(_run_text(inst))
        got = _norm(step.body)
        exact = bool(want) and (got == want or got.endswith(" " + want))
    elif kw in ("COPY", "ADD"):
        words = _copy_words(inst.expanded_body) if not _json_list(inst.body) else \
            [substitute(w, inst.env) for w in (_json_list(inst.body) or [])]
        if step.classic_copy:
            dest = step.body.split(" in ", 1)[1].strip() if " in " in step.body else ""
            exact = bool(words) and _same_path(dest, words[-1], inst.workdir)
        else:
            got_words = _copy_words(step.body)
            exact = got_words == words or (
                bool(got_words) and bool(words) and got_words[:-1] == words[:-1]
                and _same_path(got_words[-1], words[-1], inst.workdir))
    elif kw in ("ENV", "LABEL", "ARG"):
        want_keys = [k for k, _ in _key_values(inst.body, legacy=kw != "ARG")]
        got_keys = [k for k, _ in _key_values(step.body, legacy=kw != "ARG")]
        exact = bool(want_keys) and want_keys == got_keys
    elif kw in ("CMD", "ENTRYPOINT"):
        exact = _history_cmd_list(step.body) == _inst_cmd_list(inst) or \
            _norm(step.body) == _norm(inst.body)
    elif kw == "WORKDIR":
        exact = _same_path(step.body, inst.expanded_body, inst.workdir)
    elif kw in ("USER", "STOPSIGNAL"):
        exact = _norm(step.body) == _norm(inst.expanded_body)
    return 3 if exact else 1


def _same_path(a: str, b: str, workdir: str) -> bool:
    a, b = a.strip(), b.strip()
    if a == b:
        return True
    na = posixpath.normpath(posixpath.join(workdir, a)) if a else ""
    nb = posixpath.normpath(posixpath.join(workdir, b)) if b else ""
    return bool(na) and na == nb


@dataclass(slots=True)
class MappedStep:
    instruction: Instruction
    exact: bool  # the history entry renders this instruction (not only the same keyword)


@dataclass(slots=True)
class HistoryMap:
    dockerfile: Dockerfile
    steps: dict[int, MappedStep]  # history index -> instruction
    first_own: int | None  # first history index produced by the Dockerfile (base image before)

    def from_base_image(self, history_index: int) -> bool:
        return self.first_own is not None and history_index < self.first_own


def map_history(dockerfile: Dockerfile, created_by: Sequence[str]) -> HistoryMap:
    """Align history entries (oldest first) with the final stage's instructions.

    Weighted longest-common-subsequence: an exact rendering scores 3, a keyword-only match 1;
    among equal alignments the one using later history entries wins, so instructions of the
    base image's own history (which come first) are not taken for ours."""
    final = dockerfile.final
    insts = [inst for stage in dockerfile.chain(final) for inst in stage.instructions]
    insts = insts[-MAX_ALIGN_INSTRUCTIONS:]
    steps = [parse_created_by(c) for c in created_by]
    offset = 0
    if insts and len(steps) * len(insts) > MAX_ALIGN_CELLS:
        keep = max(1, MAX_ALIGN_CELLS // len(insts))
        offset = len(steps) - keep
        steps = steps[offset:]
    n, m = len(insts), len(steps)
    score = [[match_score(steps[j], insts[i]) for j in range(m)] for i in range(n)]
    # best[i][j]: best total aligning insts[i:] with steps[j:]
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, below = best[i], best[i + 1]
        for j in range(m - 1, -1, -1):
            value = max(row[j + 1], below[j])
            s = score[i][j]
            if s and s + below[j + 1] > value:
                value = s + below[j + 1]
            row[j] = value
    mapped: dict[int, MappedStep] = {}
    i = j = 0
    while i < n and j < m:
        if best[i][j] == best[i][j + 1]:
            j += 1  # prefer leaving the earlier history entry unmatched
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            mapped[j + offset] = MappedStep(insts[i], score[i][j] == 3)
            i += 1
            j += 1
    # Keyword-only matches are trusted only when the alignment also has exact matches
    # around them; alone they could be the base image's instructions.
    if mapped and not any(s.exact for s in mapped.values()):
        mapped = {}
    first_own = min(mapped) if mapped else None
    return HistoryMap(dockerfile, mapped, first_own)


# --- locating a finding -----------------------------------------------------------------------

@dataclass(slots=True)
class DockerfileLocation:
    start_line: int
    end_line: int
    instruction: Instruction | None  # None when pointing at a FROM line
    exact: bool  # certain: the history entry renders this instruction exactly
    reason: str  # "instruction", "go-build", "base-image", "unmapped"


_SHELL_SPLIT = re.compile(r"&&|\|\||;|\n|\|")


def go_build_outputs(inst: Instruction) -> list[str]:
    """Absolute output paths of the ``go build -o X`` commands in a RUN instruction."""
    if inst.keyword != "RUN":
        return []
    text = _run_text(inst)
    cwd = inst.workdir
    outs: list[str] = []
    for command in _SHELL_SPLIT.split(text):
        words = _split_words(command.strip())
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words = words[1:]  # CGO_ENABLED=0 go build ...
        if not words:
            continue
        if words[0] == "cd" and len(words) >= 2:
            cwd = posixpath.normpath(posixpath.join(cwd, substitute(words[1], inst.env)))
            continue
        if posixpath.basename(words[0]) != "go" or len(words) < 2 or words[1] != "build":
            continue
        for k, word in enumerate(words[2:], start=2):
            output = ""
            if word == "-o" and k + 1 < len(words):
                output = words[k + 1]
            elif word.startswith("-o="):
                output = word[3:]
            if output:
                output = substitute(output, inst.env)
                outs.append(posixpath.normpath(posixpath.join(cwd, output)))
                break
    return outs


def _copy_sources_for(inst: Instruction, image_path: str) -> list[str]:
    """Paths in the source stage that a COPY would have put at ``image_path``."""
    words = _json_list(inst.body) or _copy_words(inst.body)
    words = [substitute(w, inst.env) for w in words]
    if len(words) < 2:
        return []
    *sources, dest = words
    dest_abs = posixpath.normpath(posixpath.join(inst.workdir, dest))
    dest_is_dir = dest.endswith("/") or len(sources) > 1
    target = posixpath.normpath(image_path)
    candidates: list[str] = []
    for src in sources:
        src_abs = posixpath.normpath(posixpath.join("/", src))
        if not dest_is_dir and target == dest_abs:
            candidates.append(src_abs)
        if target == posixpath.join(dest_abs, posixpath.basename(src_abs)):
            candidates.append(src_abs)
        if target.startswith(dest_abs.rstrip("/") + "/"):  # src is a directory copied in
            candidates.append(posixpath.join(src_abs, target[len(dest_abs.rstrip("/")) + 1:]))
    return sorted(set(candidates))


def go_build_for_copy(dockerfile: Dockerfile, inst: Instruction, image_path: str
                      ) -> Instruction | None:
    """The RUN that built the binary ``COPY --from=<stage>`` put at ``image_path``, when
    exactly one ``go build -o`` in that stage (or the stages it is built FROM) wrote it."""
    ref = inst.flags.get("from")
    if inst.keyword != "COPY" or not ref or not image_path:
        return None
    source = dockerfile.stage_by_ref(substitute(ref, inst.env))
    if source is None or source.index >= inst.stage:
        return None
    wanted = set(_copy_sources_for(inst, image_path))
    if not wanted:
        return None
    builds = [run for stage in dockerfile.chain(source) for run in stage.instructions
              if wanted & set(go_build_outputs(run))]
    return builds[0] if len(builds) == 1 else None


def locate(hmap: HistoryMap, history_index: int | None, image_path: str = ""
           ) -> DockerfileLocation:
    """The Dockerfile lines for a finding produced by history entry ``history_index``."""
    final = hmap.dockerfile.final
    from_line = hmap.dockerfile.chain(final)[0].from_line
    if history_index is not None:
        step = hmap.steps.get(history_index)
        if step is not None:
            inst = step.instruction
            if step.exact and image_path:
                build = go_build_for_copy(hmap.dockerfile, inst, image_path)
                if build is not None:
                    return DockerfileLocation(build.start_line, build.end_line, build, True,
                                              "go-build")
            return DockerfileLocation(inst.start_line, inst.end_line, inst, step.exact,
                                      "instruction")
        if hmap.from_base_image(history_index):
            return DockerfileLocation(from_line, from_line, None, True, "base-image")
    return DockerfileLocation(final.from_line, final.from_line, None, False, "unmapped")
