"""`brightline source add|list|remove|sync|status|resume|feedback-retry`: keep banks in sync with hash-list feeds."""

from __future__ import annotations

import getpass
import json
import sys
import time
from typing import Annotated

import typer
from rich.table import Table

from brightline.cli.context import CliContext, fail, get_context
from brightline.errors import BrightlineError, ValidationError
from brightline.sources.catalog import SourceInfo
from brightline.sources.service import SourceService, source_service_from_settings
from brightline.sources.sync import SyncResult

source_app = typer.Typer(
    help="Hash-list sources: feeds that keep banks in sync (NCMEC, StopNCII, ThreatExchange, HTTPS, files).",
    no_args_is_help=True,
)


def _service(cli: CliContext) -> SourceService:
    return source_service_from_settings(cli.db, cli.settings)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"{what} must look like name=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _read_secret(name: str) -> str:
    """A credential from a hidden prompt, or one line of stdin when it is not a terminal (never from argv)."""
    if sys.stdin.isatty():
        return str(typer.prompt(f"credential {name}", hide_input=True))
    line = sys.stdin.readline()
    if not line:
        raise ValidationError(f"credential {name}: nothing on standard input (one line per --credential)")
    return line.rstrip("\r\n")


@source_app.command("add")
def source_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Source name (also the provenance name of its entries).")],
    kind: Annotated[str, typer.Option("--kind", help="file, http_feed, brightline, ncmec, stopncii, threatexchange.")],
    bank: Annotated[str, typer.Option("--bank", help="Default target bank.")],
    option: Annotated[list[str] | None, typer.Option("--option", help="Source option name=value.")] = None,
    credential: Annotated[
        list[str] | None, typer.Option("--credential", help="Name of a secret, read from a prompt or stdin.")
    ] = None,
    bank_map: Annotated[
        list[str] | None, typer.Option("--bank-map", help="category=bank: entries of that category go there.")
    ] = None,
) -> None:
    """Configure a source; credentials are sealed with the evidence key and never printed."""
    cli = get_context(ctx)
    try:
        options = _pairs(option or [], "--option")
        mapping = _pairs(bank_map or [], "--bank-map")
        secrets = {n.strip(): _read_secret(n.strip()) for n in credential or []}
        info = _service(cli).catalog.add(
            name, kind=kind, bank=bank, options=options, credentials=secrets, bank_map=mapping, actor=_actor()
        )
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"added source {info.name} ({info.kind}) -> bank {info.bank}", highlight=False)


def _when(value: object) -> str:
    return "-" if value is None else str(value)[:19].replace("T", " ")


@source_app.command("list")
def source_list(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="One JSON object per source.")] = False
) -> None:
    """Configured sources with their state and last success."""
    cli = get_context(ctx)
    try:
        sources = _service(cli).catalog.list()
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    if as_json:
        for info in sources:
            typer.echo(json.dumps(info.as_dict()))
        return
    table = Table("name", "kind", "bank", "state", "last success", "added", "removed", "malformed")
    for info in sources:
        state = info.state if info.enabled else "disabled"
        table.add_row(
            info.name,
            info.kind,
            info.bank,
            state,
            _when(info.last_success_at),
            str(info.totals["added"]),
            str(info.totals["removed"]),
            str(info.totals["malformed"]),
        )
    cli.out.print(table)


@source_app.command("remove")
def source_remove(
    ctx: typer.Context,
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Forget a source and its queued feedback; entries it supplied stay in their banks."""
    cli = get_context(ctx)
    if not yes and not typer.confirm(f"remove source {name!r}?"):
        raise typer.Exit(1)
    try:
        _service(cli).catalog.remove(name, actor=_actor())
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"removed source {name}", highlight=False)


def _print_result(cli: CliContext, result: SyncResult) -> None:
    cli.out.print(
        f"{result.source}: {result.status}, {result.batches} batches, +{result.added} ~{result.changed} "
        f"-{result.removed} (unknown removals {result.unknown_removals}, malformed {result.malformed})"
        + (f": {result.message}" if result.message else ""),
        highlight=False,
    )


@source_app.command("sync")
def source_sync(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="One source; default: every enabled, active one.")] = None,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit (default: repeat until stopped).")] = False,
    interval: Annotated[
        float | None, typer.Option("--interval", help="Seconds between passes (default: setting).")
    ] = None,
) -> None:
    """Sync now: fetch each source's changes after its checkpoint, committing batch by batch."""
    cli = get_context(ctx)
    service = _service(cli)
    every = interval if interval is not None else cli.settings.source_sync_seconds or 300.0
    failed = False
    while True:
        try:
            results = [service.engine.sync(name, actor=_actor())] if name else service.engine.sync_all(actor=_actor())
            service.sender.deliver()
        except BrightlineError as exc:
            raise fail(cli, exc) from None
        for result in results:
            _print_result(cli, result)
            failed = failed or result.status in ("failed", "paused")
        if once:
            raise typer.Exit(2 if failed else 0)
        time.sleep(every)


def _status_lines(info: SourceInfo) -> list[str]:
    lag = info.lag_seconds()
    lines = [
        f"source {info.name} ({info.kind}) -> bank {info.bank}" + (f", map {info.bank_map}" if info.bank_map else ""),
        f"  state: {info.state if info.enabled else 'disabled'}"
        + (f" ({info.paused_reason})" if info.paused_reason else ""),
        f"  last success: {_when(info.last_success_at)}; last batch: {_when(info.last_batch_at)}; "
        f"lag: {'-' if lag is None else f'{lag:.0f} s'}",
        "  totals: " + ", ".join(f"{k} {v}" for k, v in info.totals.items()),
        "  feedback: " + ", ".join(f"{k} {v}" for k, v in info.feedback.items()),
    ]
    if info.last_error:
        lines.append(f"  last error ({_when(info.last_error_at)}): {info.last_error}")
    lines.extend(f"  problem: {p}" for p in info.problems[-5:])
    return lines


@source_app.command("status")
def source_status(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="One source; default: all.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
) -> None:
    """Last success, lag, counts, errors, pause reason and feedback queue of each source."""
    cli = get_context(ctx)
    try:
        catalog = _service(cli).catalog
        sources = [catalog.get(name)] if name else catalog.list()
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    if as_json:
        typer.echo(json.dumps([s.as_dict() for s in sources] if name is None else sources[0].as_dict()))
        return
    for info in sources:
        for line in _status_lines(info):
            cli.out.print(line, highlight=False, markup=False)


@source_app.command("pause")
def source_pause(
    ctx: typer.Context,
    name: str,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the status and the audit log.")] = "",
) -> None:
    """Stop a source's syncs until it is resumed (a suspect feed, a list owner's request)."""
    cli = get_context(ctx)
    try:
        _service(cli).engine.pause(name, reason, actor=_actor())
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"paused {name}; `brightline source resume {name}` starts it again", highlight=False, markup=False)


@source_app.command("resume")
def source_resume(
    ctx: typer.Context,
    name: str,
    sync: Annotated[bool, typer.Option("--sync/--no-sync", help="Run the sync at once (default yes).")] = True,
) -> None:
    """Confirm a paused source: the change the safety check held back is applied by the next sync."""
    cli = get_context(ctx)
    service = _service(cli)
    try:
        service.engine.resume(name, actor=_actor())
        if sync:
            _print_result(cli, service.engine.sync(name, actor=_actor()))
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    if not sync:
        cli.out.print(f"resumed {name}; the next sync applies the held change", highlight=False)


@source_app.command("feedback-retry")
def source_feedback_retry(
    ctx: typer.Context, name: Annotated[str | None, typer.Argument(help="One source; default: all.")] = None
) -> None:
    """Queue failed feedback again and send what is due now."""
    cli = get_context(ctx)
    service = _service(cli)
    try:
        requeued = service.sender.retry_failed(name)
        report = service.sender.deliver()
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(
        f"requeued {requeued}; sent {report.sent}, retrying {report.retried}, failed {report.failed}", highlight=False
    )
