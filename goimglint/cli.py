"""Command line: `goimglint IMAGE...` lints; `inspect`, `rules`, `explain` tell.

Exit codes: 0 nothing at or above --fail-on; 1 findings at or above it; 2 usage or input
error (one line on stderr, no traceback); 130 interrupted."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from goimglint import __version__

SUBCOMMANDS = {"lint", "inspect", "rules", "explain"}
EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED = 1, 2, 130

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Lint container images for Go binaries: will they start, how fast, and what will "
    "bite them at run time. `goimglint IMAGE...` is short for `goimglint lint IMAGE...`.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    note = "note"
    never = "never"


class InspectFormat(str, Enum):
    text = "text"
    json = "json"


class Fatal(Exception):
    """Ends the run with exit code 2 and this one-line message."""


def _err(message: str) -> None:
    first = " ".join(str(message).split())
    sys.stderr.write(f"goimglint: error: {first}\n")


class Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.label = ""
        self.shown = False

    def status(self, label: str) -> None:
        self.label = label
        self.update(0, 0)

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if total:
            width = 30
            filled = int(width * done / total)
            bar = "#" * filled + "-" * (width - filled)
            text = f"\r{self.label[:40]:40} [{bar}] {done / 1e6:8.1f}/{total / 1e6:.1f} MB"
        else:
            text = f"\r{self.label[:80]:80}"
        sys.stderr.write(text)
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()
            self.shown = False


def _parse_platform(value: str | None):  # type: ignore[no-untyped-def]
    from goimglint.image.model import Platform

    if value is None:
        return None
    try:
        return Platform.parse(value)
    except ValueError as exc:
        raise Fatal(str(exc)) from None


@app.command("lint")
def lint_command(
    images: Annotated[list[str], typer.Argument(
        help="Image inputs: docker-archive or OCI archive tar, OCI layout dir, root "
        "filesystem dir, ELF file, or - for standard input.", show_default=False)],
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")
                      ] = OutputFormat.text,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report "
                      "to this file instead of standard output.")] = None,
    fail_on: Annotated[FailOn | None, typer.Option("--fail-on", help="Lowest level that "
                       "makes the exit code 1 (default: error, or the config's fail-on).",
                       show_default=False)] = None,
    platform: Annotated[str | None, typer.Option("--platform", help="Only this platform "
                        "of a multi-platform index: os/arch or os/arch/variant.")] = None,
    image: Annotated[str | None, typer.Option("--image", help="Only this image of a "
                     "multi-image archive: NAME:TAG.")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="Config file (default: goimglint.toml or the tool.goimglint table of "
        "pyproject.toml, searched upward).")] = None,
    dockerfile: Annotated[Path | None, typer.Option("--dockerfile", help="Dockerfile the "
                          "image was built from: SARIF locations point at its lines.")] = None,
    baseline: Annotated[Path | None, typer.Option("--baseline", help="Earlier SARIF or "
                        "JSON report: only findings not in it are reported.")] = None,
    write_baseline: Annotated[Path | None, typer.Option("--write-baseline", help="Write "
                              "this run's findings as a baseline file.")] = None,
    today: Annotated[str | None, typer.Option("--today", help="Date (YYYY-MM-DD) for "
                     "support-window rules, for reproducible runs.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Text format: print only "
                     "findings, no summary.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")
                           ] = False,
) -> None:
    """Lint images; exit 1 when a finding is at or above --fail-on."""
    from goimglint import lint

    code = lint.run_lint(lint.LintOptions(
        images=images, format=format.value, output=output,
        fail_on=fail_on.value if fail_on else None, platform=_parse_platform(platform),
        image=image, config=config, dockerfile=dockerfile, baseline=baseline,
        write_baseline=write_baseline, today=today or "", quiet=quiet,
        progress=Progress(not no_progress),
    ))
    raise typer.Exit(code)


@app.command("inspect")
def inspect_command(
    images: Annotated[list[str], typer.Argument(help="Image inputs (as for lint).",
                                                show_default=False)],
    format: Annotated[InspectFormat, typer.Option("--format", "-f", help="Output format.")
                      ] = InspectFormat.text,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    platform: Annotated[str | None, typer.Option("--platform")] = None,
    image: Annotated[str | None, typer.Option("--image")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress")] = False,
) -> None:
    """Print the facts goimglint derives: config, layers, binaries, loader and Go facts."""
    from goimglint.engine import analyse
    from goimglint.report.inspect import render_inspect_json, render_inspect_text

    progress = Progress(not no_progress)
    try:
        analyses = list(analyse(images, image=image, platform=_parse_platform(platform),
                                with_findings=False, status=progress.status,
                                progress=progress.update))
    finally:
        progress.clear()
    render = render_inspect_json if format is InspectFormat.json else render_inspect_text
    from goimglint.lint import write_report

    write_report(render(analyses), output)


@app.command("rules")
def rules_command(
    format: Annotated[InspectFormat, typer.Option("--format", "-f")] = InspectFormat.text,
) -> None:
    """List every rule: id, name, default level, title."""
    import json

    from goimglint.catalog import load_catalog

    catalog = load_catalog()
    metas = [catalog.rules[k] for k in sorted(catalog.rules)]
    if format is InspectFormat.json:
        rows = [{"id": m.id, "name": m.name, "slug": m.slug, "level": m.level.value,
                 "tags": list(m.tags), "short_description": m.short_description}
                for m in metas]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    for m in metas:
        sys.stdout.write(f"{m.id}  {m.slug:32} {m.level.value:8} {m.short_description}\n")


@app.command("explain")
def explain_command(rule: Annotated[str, typer.Argument(help="Rule id or slug, e.g. GIL101.")]
                    ) -> None:
    """Print a rule's documentation: why it matters and how to fix it."""
    from goimglint.catalog import load_catalog

    catalog = load_catalog()
    wanted = rule.strip()
    for m in catalog.rules.values():
        if wanted.upper() == m.id or wanted.lower() in (m.slug, m.name.lower()):
            sys.stdout.write(f"{m.id} {m.slug} ({m.level.value})\n\n{m.short_description}\n\n"
                             f"{m.full_description}\n\n{m.help_markdown.strip()}\n")
            return
    raise Fatal(f"no rule {rule!r}; `goimglint rules` lists them")


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["--version"], ["-V"]):
        # Answered before importing anything else: start-up cost matters in CI.
        sys.stdout.write(f"goimglint {__version__}\n")
        sys.exit(0)
    if args and args[0] not in SUBCOMMANDS and args[0] not in ("-h", "--help"):
        args.insert(0, "lint")
    sys.exit(_dispatch(args))


ExcTypes = tuple[type[BaseException], ...]


def _click_exceptions() -> tuple[ExcTypes, ExcTypes, ExcTypes]:
    """(Exit, Abort, UsageError) classes of click and of the click that typer vendors."""
    import importlib

    exits: list[type[BaseException]] = []
    aborts: list[type[BaseException]] = []
    usages: list[type[BaseException]] = []
    for name in ("click.exceptions", "typer._click.exceptions"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        for bucket, attr in ((exits, "Exit"), (aborts, "Abort"), (usages, "UsageError")):
            cls = getattr(mod, attr, None)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                bucket.append(cls)
    return tuple(exits), tuple(aborts), tuple(usages)


def _dispatch(args: list[str]) -> int:
    from goimglint.errors import InputError, PathLoopError, UsageError

    exits, aborts, usages = _click_exceptions()

    debug = bool(os.environ.get("GOIMGLINT_DEBUG"))
    try:
        # without standalone mode click returns a command's typer.Exit code instead of raising
        code = app(args=args, prog_name="goimglint", standalone_mode=False)
        if code == EXIT_INTERRUPTED:
            _err("interrupted")  # typer turns Ctrl-C into a silent exit code 130
        return int(code) if isinstance(code, int) else 0
    except typer.Exit as exc:
        return int(exc.exit_code)
    except exits as exc:
        return int(getattr(exc, "exit_code", 0))
    except aborts:
        _err("interrupted")
        return EXIT_INTERRUPTED
    except usages as exc:
        message = exc.format_message() or "no image given"  # type: ignore[attr-defined]
        _err(f"{message} (see goimglint --help)")
        return EXIT_ERROR
    except (InputError, UsageError, PathLoopError, Fatal) as exc:
        _err(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except (OSError, MemoryError, RecursionError) as exc:
        if debug:
            raise
        _err(f"{type(exc).__name__}: {exc}")
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback, for any input
        if debug:
            raise
        _err(f"internal error ({type(exc).__name__}: {exc}); set GOIMGLINT_DEBUG=1 for a "
             "traceback and please report it")
        return EXIT_ERROR
