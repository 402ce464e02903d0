"""`brightline reports ...` and `brightline holds ...`: reports of confirmed cases, preservation and legal holds."""

from __future__ import annotations

import getpass
import json
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from brightline.cli.context import CliContext, fail, get_context
from brightline.errors import BrightlineError
from brightline.reporting.holds import HoldService
from brightline.reporting.service import ReportService
from brightline.reporting.types import ReportInfo
from brightline.reporting.wiring import report_service_from_settings
from brightline.store.models import utcnow

reports_app = typer.Typer(
    help="Reports of confirmed cases to NCMEC's CyberTipline (or a drop folder).", no_args_is_help=True
)
holds_app = typer.Typer(help="Legal holds on cases: place, release, list, check.", no_args_is_help=True)

ActorOption = Annotated[
    str | None, typer.Option("--actor", help="Who is acting, for the case history; default cli:<login name>.")
]


def _actor(actor: str | None) -> str:
    return actor or f"cli:{getpass.getuser()}"


def _reports(cli: CliContext, *, sending: bool = False) -> ReportService:
    return report_service_from_settings(cli.db, cli.settings, require_credentials=sending)


def _when(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")


def _print_report(cli: CliContext, info: ReportInfo, as_json: bool, xml: bool) -> None:
    if as_json:
        typer.echo(json.dumps(info.as_dict(documents=xml)))
        return
    if xml:
        typer.echo(info.report_xml)
        for document in info.file_xml:
            typer.echo(document)
        return
    for key, value in info.as_dict().items():
        cli.out.print(f"{key}: {value}", highlight=False)


@reports_app.command("list")
def reports_list(
    ctx: typer.Context,
    case: Annotated[int | None, typer.Option("--case", help="Only this case's reports.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="pending, submitted, finished, failed, retracted.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per report.")] = False,
) -> None:
    """List reports, newest first."""
    cli = get_context(ctx)
    try:
        found = _reports(cli).list(case_id=case, status=status, limit=limit)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    table = Table("id", "case", "destination", "status", "remote id", "attempts", "created", "preserved until")
    for r in found:
        if as_json:
            typer.echo(json.dumps(r.as_dict()))
        table.add_row(
            str(r.id),
            str(r.case_id),
            r.destination,
            r.status,
            r.remote_id or "",
            str(r.attempts),
            _when(r.created_at),
            _when(r.preserve_until),
        )
    if not as_json:
        cli.out.print(table if found else "no reports")


@reports_app.command("show")
def reports_show(
    ctx: typer.Context,
    report_id: Annotated[int, typer.Argument(metavar="ID", help="Report id (see `reports list`).")],
    xml: Annotated[bool, typer.Option("--xml", help="Print the exact XML documents sent.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="As one JSON object.")] = False,
) -> None:
    """Show one report: status, remote ids, errors; --xml prints exactly what was sent."""
    cli = get_context(ctx)
    try:
        info = _reports(cli).get(report_id)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    _print_report(cli, info, as_json, xml)


@reports_app.command("send")
def reports_send(
    ctx: typer.Context,
    case_id: Annotated[int, typer.Argument(metavar="CASE_ID", help="A case a reviewer confirmed.")],
    actor: ActorOption = None,
    resubmit: Annotated[
        bool, typer.Option("--resubmit", help="Send again a report whose last submission got no answer.")
    ] = False,
) -> None:
    """Report a confirmed case (or resume its unfinished report). Refused for any case no human confirmed."""
    cli = get_context(ctx)
    try:
        info = _reports(cli, sending=True).create_and_send(case_id, actor=_actor(actor), resubmit=resubmit)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"report {info.id} of case {case_id}: {info.status} ({info.destination} id {info.remote_id})")


@reports_app.command("retract")
def reports_retract(
    ctx: typer.Context,
    report_id: Annotated[int, typer.Argument(metavar="ID", help="Report id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the case).")],
    actor: ActorOption = None,
) -> None:
    """Withdraw a report at its destination and mark it retracted."""
    cli = get_context(ctx)
    try:
        info = _reports(cli, sending=True).retract(report_id, actor=_actor(actor), reason=reason)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"report {info.id} retracted")


@holds_app.command("place")
def holds_place(
    ctx: typer.Context,
    case_id: Annotated[int, typer.Argument(metavar="CASE_ID", help="The case to hold.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (e.g. the legal request's reference).")],
    days: Annotated[int | None, typer.Option("--days", min=1, help="Expire after N days; default: never.")] = None,
    actor: ActorOption = None,
) -> None:
    """Put a case under legal hold: none of its data is deleted while the hold is active."""
    cli = get_context(ctx)
    expires = utcnow() + timedelta(days=days) if days is not None else None
    try:
        hold = HoldService(cli.db).place(case_id, reason=reason, actor=_actor(actor), expires_at=expires)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"hold {hold.id} on case {case_id} until {_when(hold.expires_at) or 'released'}")


@holds_app.command("release")
def holds_release(
    ctx: typer.Context,
    hold_id: Annotated[int, typer.Argument(metavar="HOLD_ID", help="Hold id (see `holds list`).")],
    actor: ActorOption = None,
) -> None:
    """Release a legal hold."""
    cli = get_context(ctx)
    try:
        hold = HoldService(cli.db).release(hold_id, actor=_actor(actor))
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"hold {hold.id} on case {hold.case_id} released")


@holds_app.command("list")
def holds_list(
    ctx: typer.Context,
    case: Annotated[int | None, typer.Option("--case", help="Only this case's holds.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per hold.")] = False,
) -> None:
    """List active legal holds."""
    cli = get_context(ctx)
    try:
        holds = HoldService(cli.db).active(case)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    table = Table("id", "case", "reason", "by", "placed", "expires")
    for h in holds:
        if as_json:
            typer.echo(json.dumps(h.as_dict()))
        table.add_row(str(h.id), str(h.case_id), h.reason, h.created_by, _when(h.created_at), _when(h.expires_at))
    if not as_json:
        cli.out.print(table if holds else "no active holds")


@holds_app.command("check")
def holds_check(
    ctx: typer.Context,
    case_id: Annotated[int, typer.Argument(metavar="CASE_ID", help="The case.")],
) -> None:
    """Say how long a case must be kept (reports' preservation and holds); exit 1 while it is protected."""
    cli = get_context(ctx)
    try:
        preservation = HoldService(cli.db).preserved_until(case_id)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    typer.echo(json.dumps(preservation.as_dict()))
    raise typer.Exit(1 if preservation.protects(utcnow()) else 0)
