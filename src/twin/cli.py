"""Command line: `twin ingest`, `twin serve`, `twin demo`, `twin layers ...`.

Only this module prints and chooses exit codes; everything it calls raises TwinError subclasses.
"""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="twin: open 3D digital twin for municipalities")


def main() -> None:
    """Console-script entry point."""
    app()
