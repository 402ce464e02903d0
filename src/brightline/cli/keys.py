"""`brightline keys ...`: create, list and revoke API keys for the HTTP service."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from brightline.auth.keys import SCOPES
from brightline.cli.context import fail, get_context
from brightline.errors import BrightlineError

keys_app = typer.Typer(help="API keys for the HTTP service: create, list, revoke.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="Who or what the key is for.")],
    scopes: Annotated[str, typer.Option("--scopes", help=f"Comma-separated: {','.join(SCOPES)}.")],
    rate_limit: Annotated[
        int | None, typer.Option("--rate-limit", help="Requests per minute; default: the service's setting.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the key and its details as JSON.")] = False,
) -> None:
    """Create an API key and print it; it is shown this once and cannot be recovered."""
    cli = get_context(ctx)
    try:
        token, info = cli.api_keys.create(name, scopes.split(","), rate_limit_per_minute=rate_limit, actor="cli")
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    if as_json:
        typer.echo(json.dumps({"key": token, **info.as_dict()}))
    else:
        typer.echo(token)
    cli.err.print(
        f"created API key {info.id} ({info.name}, scopes {','.join(sorted(info.scopes))}); "
        "store it now: it will not be shown again",
        highlight=False,
    )


@keys_app.command("list")
def keys_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per key.")] = False,
) -> None:
    """List API keys (never their secrets)."""
    cli = get_context(ctx)
    try:
        keys = cli.api_keys.list()
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    table = Table("id", "name", "prefix", "scopes", "rate limit", "created", "last used", "revoked")
    for k in keys:
        if as_json:
            typer.echo(json.dumps(k.as_dict()))
        table.add_row(
            str(k.id),
            k.name,
            k.prefix,
            ",".join(sorted(k.scopes)),
            "default" if not k.rate_limit_per_minute else f"{k.rate_limit_per_minute}/min",
            k.created_at.isoformat(timespec="seconds"),
            "never" if k.last_used_at is None else k.last_used_at.isoformat(timespec="seconds"),
            "" if k.revoked_at is None else k.revoked_at.isoformat(timespec="seconds"),
        )
    if not as_json:
        cli.out.print(table if keys else "no API keys yet: brightline keys create --name N --scopes S")


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context,
    key_id: Annotated[int, typer.Argument(metavar="ID", help="Id of the key to revoke (see `keys list`).")],
) -> None:
    """Revoke an API key; a running service stops accepting it within its cache TTL (30 s)."""
    cli = get_context(ctx)
    try:
        info = cli.api_keys.revoke(key_id, actor="cli")
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"revoked API key {info.id} ({info.name})", highlight=False)
