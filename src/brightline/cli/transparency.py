"""`brightline transparency report`: the yearly transparency report from the audit log and scan counters."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from brightline.cli.context import EXIT_FAILED, fail, get_context
from brightline.errors import BrightlineError
from brightline.privacy.transparency import parse_day, report_period
from brightline.privacy.transparency_render import check_format, render_transparency
from brightline.privacy.transparency_source import build_transparency_report
from brightline.store.models import utcnow

transparency_app = typer.Typer(
    help="Transparency reports (EU Regulation 2021/1232 Art. 3) from the audit log and scan counters.",
    no_args_is_help=True,
)


@transparency_app.command("report")
def transparency_report(
    ctx: typer.Context,
    start: Annotated[
        str | None, typer.Option("--from", help="First UTC day (YYYY-MM-DD); default 364 days before --to.")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last UTC day, included (YYYY-MM-DD); default today.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json, html or pdf.")] = "json",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Write the transparency report of a period: volumes, matches, reviews, error rates, reports, appeals."""
    cli = get_context(ctx)
    try:
        kind = check_format(fmt)
        period = report_period(
            None if start is None else parse_day(start, "--from"),
            None if end is None else parse_day(end, "--to"),
            utcnow().date(),
        )
        data = render_transparency(build_transparency_report(cli.db, period, cli.settings), kind)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        typer.echo(f"error: {output}: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    cli.err.print(f"wrote {output} ({kind}, {period.start} to {period.end})", highlight=False)
