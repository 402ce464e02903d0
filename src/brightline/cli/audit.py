"""`brightline audit ...`: verify the hash chain, export it, take anchors of its head, show the latest events."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from brightline.cli.context import EXIT_MATCH, fail, get_context
from brightline.errors import BrightlineError
from brightline.privacy.audit import anchor, anchor_key_from_settings, export_jsonl, read_anchors, verify
from brightline.store.audit import AuditLog

audit_app = typer.Typer(help="The tamper-evident audit log: verify, export, anchor, tail.", no_args_is_help=True)

# Exit status of `audit verify` when the chain is broken (errors reading it exit 2 like everywhere).
EXIT_BROKEN = EXIT_MATCH


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    anchor_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--anchor",
            metavar="FILE",
            help="Anchor file from `audit anchor` (repeatable); the chain must still hold it.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Walk the chain; exit 1 naming the first broken record if any row was changed, deleted or inserted."""
    cli = get_context(ctx)
    try:
        anchors = [item for path in anchor_files or [] for item in read_anchors(_read(path))]
        result = verify(cli.db, anchors=anchors, key=anchor_key_from_settings(cli.settings) if anchors else None)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    elif result.ok:
        cli.out.print(
            f"audit chain intact: {result.checked} records, head {result.head_id} {result.head_hash}"
            + (f", {len(anchors)} anchor(s) matched" if anchors else ""),
            highlight=False,
        )
    else:
        cli.err.print(
            f"[red]audit chain broken at record {result.first_broken_id}:[/red] {escape(result.reason)} "
            f"({result.checked} records before it are intact)",
            highlight=False,
        )
    if not result.ok:
        raise typer.Exit(EXIT_BROKEN)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BrightlineError(f"cannot read {path}: {exc.strerror}") from None


@audit_app.command("export")
def audit_export(
    ctx: typer.Context,
    since_id: Annotated[int, typer.Option("--since-id", min=0, help="Only records after this id.")] = 0,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")] = None,
) -> None:
    """Write the audit records as JSON Lines (one record a line, with its hashes)."""
    cli = get_context(ctx)
    try:
        if output is None:
            count = export_jsonl(cli.db, sys.stdout, since_id=since_id)
        else:
            with output.open("w", encoding="utf-8") as out:
                count = export_jsonl(cli.db, out, since_id=since_id)
    except OSError as exc:
        raise fail(cli, f"cannot write {output}: {exc.strerror}") from None
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.err.print(f"exported {count} audit records", highlight=False)


@audit_app.command("anchor")
def audit_anchor(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")] = None,
) -> None:
    """Print the chain head's digest, signed: keep it outside the database to catch a rewritten chain."""
    cli = get_context(ctx)
    try:
        digest = anchor(cli.db, key=anchor_key_from_settings(cli.settings))
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    text = json.dumps(digest, sort_keys=True)
    if output is None:
        typer.echo(text)
        return
    try:
        output.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise fail(cli, f"cannot write {output}: {exc.strerror}") from None
    cli.err.print(f"anchor of record {digest['id']} written to {output}", highlight=False)


@audit_app.command("tail")
def audit_tail(
    ctx: typer.Context,
    count: Annotated[int, typer.Option("-n", "--lines", min=1, max=10000, help="How many records.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per record.")] = False,
) -> None:
    """Show the latest audit records, oldest first."""
    cli = get_context(ctx)
    try:
        log = AuditLog(cli.db)
        head_id, _ = log.head()
        records = log.records(since_id=max(0, head_id - count), limit=count)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    if as_json:
        for record in records:
            typer.echo(json.dumps(record.as_dict(), sort_keys=True))
        return
    table = Table("id", "time", "actor", "action", "subject", "details")
    for record in records:
        table.add_row(
            str(record.id),
            record.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(record.actor),
            escape(record.action),
            escape(record.subject),
            escape(json.dumps(record.details, sort_keys=True)),
        )
    cli.out.print(table if records else "the audit log is empty")
