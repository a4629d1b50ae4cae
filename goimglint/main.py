"""Console entry point. `--version` is answered here, before the CLI framework and the
analysis modules are imported: CI calls it often and start-up cost matters."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["--version"], ["-V"]):
        from goimglint import __version__

        sys.stdout.write(f"goimglint {__version__}\n")
        sys.exit(0)
    from goimglint.cli import main as cli_main

    cli_main(args)
