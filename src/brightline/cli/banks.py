"""`brightline bank ...`: create, list, import, export and edit hash lists."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from brightline.banks import EntryInput
from brightline.banks.feedback import FEEDBACK_FORMATS, false_positive_feedback, render_feedback
from brightline.banks.transfer import export_bank_file, import_bank_file
from brightline.cli.context import EXIT_MATCH, EXIT_OK, expand_paths, fail, get_context
from brightline.errors import BrightlineError
from brightline.matching.regions import PDQ_SIGNALS, default_media_signals, signals_for
from brightline.signals.hashing import hash_file

bank_app = typer.Typer(
    help="Hash lists (banks): create, import, export, add media, edit entries.", no_args_is_help=True
)

FORMAT_HELP = "csv, tsv, jsonl or hex; default: from the file extension."
_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]


@bank_app.command("create")
def bank_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank name (letters, digits, - _ .).")],
    threshold: Annotated[int | None, typer.Option(help="PDQ match distance for this bank.")] = None,
    domain: Annotated[str, typer.Option(help="List domain, e.g. csam, ncii, other.")] = "other",
    description: Annotated[str, typer.Option(help="Free-text description.")] = "",
) -> None:
    """Create an empty bank."""
    cli = get_context(ctx)
    try:
        info = cli.banks.create_bank(name, domain=domain, threshold=threshold, description=description, actor="cli")
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"created bank {info.name} (domain {info.domain})", highlight=False)


@bank_app.command("list")
def bank_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per bank.")] = False,
) -> None:
    """List banks with their entry counts."""
    cli = get_context(ctx)
    try:
        banks = cli.banks.list_banks()
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    table = Table("name", "domain", "threshold", "entries", "enabled", "description")
    for b in banks:
        if as_json:
            typer.echo(json.dumps(b.as_dict()))
        table.add_row(
            b.name,
            b.domain,
            "default" if b.threshold is None else str(b.threshold),
            str(b.entry_count),
            str(b.enabled_count) if b.enabled else "bank disabled",
            b.description,
        )
    if not as_json:
        cli.out.print(table if banks else "no banks yet: brightline bank create NAME")


@bank_app.command("show")
def bank_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank name.")],
    limit: Annotated[int, typer.Option(help="Entries to show.")] = 50,
    offset: Annotated[int, typer.Option(help="Entries to skip.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per entry.")] = False,
) -> None:
    """Show a bank's entries."""
    cli = get_context(ctx)
    try:
        entries = cli.banks.list_entries(name, limit=limit, offset=offset)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    table = Table("id", "signal", "value", "category", "source", "enabled", "note")
    for e in entries:
        if as_json:
            typer.echo(json.dumps(e.as_dict()))
        table.add_row(str(e.id), e.signal_type, e.value, e.category, e.source, str(e.enabled), e.note or "")
    if not as_json:
        cli.out.print(table)


@bank_app.command("rename")
def bank_rename(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="Current name.")],
    new: Annotated[str, typer.Argument(help="New name.")],
) -> None:
    """Rename a bank."""
    cli = get_context(ctx)
    try:
        cli.banks.rename_bank(old, new, actor="cli")
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"renamed {old} to {new}", highlight=False)


@bank_app.command("delete")
def bank_delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank to delete with all its entries.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a bank and all of its entries."""
    cli = get_context(ctx)
    if not yes and not typer.confirm(f"delete bank {name} and all its entries?"):
        raise typer.Exit(EXIT_OK)
    try:
        cli.banks.delete_bank(name, actor="cli")
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"deleted bank {name}", highlight=False)


@bank_app.command("import")
def bank_import(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank to import into.")],
    file: Annotated[Path, typer.Argument(help="Hash list file.")],
    fmt: Annotated[str | None, typer.Option("--format", help=FORMAT_HELP)] = None,
    signal_type: Annotated[str, typer.Option(help="Signal type of plain hex lists.")] = "pdq",
    source: Annotated[str | None, typer.Option(help="Provenance recorded on every entry.")] = None,
) -> None:
    """Import a hash list atomically: every line is checked first; any bad line imports nothing."""
    cli = get_context(ctx)
    try:
        report = import_bank_file(
            cli.banks, name, file, fmt=fmt, default_signal_type=signal_type, source=source, actor="cli"
        )
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"imported {report.added} new entries into {name} ({report.unchanged} already present)")


@bank_app.command("export")
def bank_export(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank to export.")],
    file: Annotated[Path, typer.Argument(help="Output file.")],
    fmt: Annotated[str | None, typer.Option("--format", help=FORMAT_HELP)] = None,
) -> None:
    """Export a bank's entries (re-importable)."""
    cli = get_context(ctx)
    try:
        count = export_bank_file(cli.banks, name, file, fmt=fmt, actor="cli")
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"exported {count} entries to {file}", highlight=False)


@bank_app.command("add")
def bank_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank to add to.")],
    paths: Annotated[list[Path], typer.Argument(help="Media files or folders; hashed, never stored.")],
    category: Annotated[str, typer.Option(help="Category, e.g. A1, A2, B1, B2 or free text.")] = "",
    source: Annotated[str, typer.Option(help="Provenance recorded on the entries.")] = "local",
    note: Annotated[str | None, typer.Option(help="Note on every entry (default: the file name).")] = None,
    signals: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated signal types to add (pdq means vpdq for videos); default"
            " pdq,pdq_regions,md5,sha256 (pdq_regions only with BRIGHTLINE_REGION_HASHES)."
        ),
    ] = None,
    allow_low_quality: Annotated[bool, typer.Option(help="Add PDQ hashes below the quality floor.")] = False,
) -> None:
    """Hash media files into a bank. The media themselves are not kept. Exit 1 if a file failed."""
    cli = get_context(ctx)
    chosen = signals.split(",") if signals is not None else default_media_signals(cli.settings.region_hashes)
    wanted = [s.strip() for s in chosen if s.strip()]
    options = cli.hash_options(exact=True, dihedral=False, known="pdq_regions" in wanted)
    entries: list[EntryInput] = []
    failed = 0
    for path in expand_paths(paths):
        try:
            hashes = hash_file(path, options)
        except BrightlineError as exc:
            failed += 1
            cli.err.print(f"[red]{path}[/red]: {exc}", highlight=False)
            continue
        values = hashes.signals()
        # A video has no still PDQ: pdq means its vPDQ frames, pdq_regions its vpdq_regions.
        wanted_here = signals_for(wanted, hashes)
        for frames in ("vpdq", "vpdq_regions"):
            if frames in wanted_here and frames not in values:
                cli.err.print(f"{path}: no frame could be hashed; {frames} not added")
                wanted_here.remove(frames)
        for signal in wanted_here:
            if signal in PDQ_SIGNALS and hashes.quality < cli.settings.min_quality and not allow_low_quality:
                cli.err.print(f"{path}: PDQ quality {hashes.quality} is below {cli.settings.min_quality}; not added")
                continue
            if signal not in values:
                raise fail(cli, f"media hashing does not produce signal type {signal!r}")
            entries.append(EntryInput(signal, values[signal], source=source, category=category, note=note or path.name))
    try:
        result = cli.banks.add_entries(name, entries, actor="cli")
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"added {result.added} entries to {name} ({result.unchanged} already present)")
    raise typer.Exit(EXIT_MATCH if failed else EXIT_OK)


def _edit(ctx: typer.Context, name: str, ids: list[int], action: str) -> None:
    cli = get_context(ctx)
    try:
        if action == "remove":
            count = cli.banks.remove_entries(name, ids, actor="cli")
        else:
            count = cli.banks.set_entries_enabled(name, ids, action == "enable", actor="cli")
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"{action}d {count} entries in {name}")


@bank_app.command("remove")
def bank_remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank.")],
    entry_ids: Annotated[list[int], typer.Argument(help="Entry ids to delete.")],
) -> None:
    """Delete entries from a bank."""
    _edit(ctx, name, entry_ids, "remove")


@bank_app.command("disable")
def bank_disable(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank.")],
    entry_ids: Annotated[list[int], typer.Argument(help="Entry ids to stop matching.")],
) -> None:
    """Stop matching entries without deleting them."""
    _edit(ctx, name, entry_ids, "disable")


@bank_app.command("enable")
def bank_enable(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank.")],
    entry_ids: Annotated[list[int], typer.Argument(help="Entry ids to match again.")],
) -> None:
    """Match disabled entries again."""
    _edit(ctx, name, entry_ids, "enable")


@bank_app.command("digest")
def bank_digest(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank.")],
    verify: Annotated[bool, typer.Option("--verify", help="Recompute from every entry and compare.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """The bank's version digest (as audit records carry it); --verify recomputes it. Exit 1 on a mismatch."""
    cli = get_context(ctx)
    try:
        if not verify:
            found = cli.banks.digest(name)
            out: dict[str, object] = {"bank": name, **found.as_details()}
        else:
            stored, full = cli.banks.verify_digest(name)
            out = {
                "bank": name,
                **stored.as_details(),
                "recomputed": full.digest.as_details(),
                "sorted_digest": full.sorted_digest,
                "match": stored == full.digest,
            }
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    if as_json:
        typer.echo(json.dumps(out))
    else:
        cli.out.print(f"{name}: digest {out['digest']} over {out['entries']} enabled entries", highlight=False)
        if verify:
            verdict = "matches" if out["match"] else "DOES NOT MATCH"
            cli.out.print(f"recomputed from every entry: {verdict}; sorted-leaf SHA-256 {out['sorted_digest']}")
    if verify and not out["match"]:
        raise typer.Exit(EXIT_MATCH)


@bank_app.command("feedback")
def bank_feedback(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--source", help="List owner or feed whose entries to report on.")],
    since: Annotated[
        datetime | None, typer.Option(help="Only decisions at or after this UTC date/time.", formats=_DATE_FORMATS)
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
) -> None:
    """False-positive feedback for one source: its entries reviewers found wrong, with counts and times."""
    cli = get_context(ctx)
    if fmt not in FEEDBACK_FORMATS:
        raise fail(cli, f"unknown format {fmt!r} (use {', '.join(FEEDBACK_FORMATS)})")
    moment = since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since
    try:
        items = false_positive_feedback(cli.db, source, since=moment)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    typer.echo(render_feedback(items, fmt), nl=False)
