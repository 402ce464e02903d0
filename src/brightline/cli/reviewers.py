"""`brightline reviewers ...`: accounts for the reviewer console (add, list, deactivate)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from brightline.auth.reviewers import ReviewerService
from brightline.cli.context import fail, get_context
from brightline.errors import BrightlineError, ValidationError

reviewers_app = typer.Typer(help="Reviewer console accounts: add, list, deactivate.", no_args_is_help=True)


@reviewers_app.command("add")
def reviewers_add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name (letters, digits, '.', '_', '-', '@').")],
    role: Annotated[str, typer.Option("--role", help="reviewer or admin.")] = "reviewer",
    display_name: Annotated[str, typer.Option("--display-name", help="Name shown in the console.")] = "",
    daily_cap: Annotated[
        int | None, typer.Option("--daily-cap", min=0, help="Items per UTC day; default: BRIGHTLINE_REVIEW_DAILY_CAP.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
    ] = False,
) -> None:
    """Add a reviewer; the password is asked for twice unless --password-stdin is given."""
    cli = get_context(ctx)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        if not password:
            raise ValidationError("no password given")
        info = ReviewerService(cli.db).create(
            username, password, role=role, display_name=display_name, daily_cap=daily_cap, actor="cli"
        )
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"added {info.role} {info.username} (id {info.id})", highlight=False)


@reviewers_app.command("list")
def reviewers_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per reviewer.")] = False,
) -> None:
    """List reviewers with role, cap, state and last login (never password hashes)."""
    cli = get_context(ctx)
    try:
        found = ReviewerService(cli.db).list()
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    if as_json:
        for r in found:
            typer.echo(json.dumps(r.as_dict()))
        return
    table = Table("id", "username", "name", "role", "daily cap", "active", "last login")
    for r in found:
        table.add_row(
            str(r.id),
            r.username,
            r.display_name,
            r.role,
            "default" if r.daily_cap is None else str(r.daily_cap),
            "yes" if r.active else "no",
            "never" if r.last_login_at is None else r.last_login_at.isoformat(timespec="seconds"),
        )
    cli.out.print(table if found else "no reviewers yet: brightline reviewers add USERNAME")


@reviewers_app.command("deactivate")
def reviewers_deactivate(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name of the reviewer.")],
) -> None:
    """Stop a reviewer logging in and end their sessions; their past decisions stay on record."""
    cli = get_context(ctx)
    try:
        info = ReviewerService(cli.db).deactivate(username, actor="cli")
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"deactivated {info.username}", highlight=False)
