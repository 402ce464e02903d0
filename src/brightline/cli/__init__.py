"""The brightline command line (Typer)."""

from brightline.cli.app import app, main

__all__ = ["app", "main"]
