"""Root Typer app: hashing, scanning, matching by hash, and database commands."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError as PydanticValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import make_url

from brightline import __version__
from brightline.cli.audit import audit_app
from brightline.cli.banks import bank_app
from brightline.cli.bench import bench_app
from brightline.cli.context import (
    EXIT_FAILED,
    EXIT_MATCH,
    EXIT_OK,
    CliContext,
    expand_paths,
    fail,
    get_context,
)
from brightline.cli.demo import demo_command
from brightline.cli.eval import eval_command
from brightline.cli.keys import keys_app
from brightline.cli.reports import holds_app, reports_app
from brightline.cli.retention import retention_app
from brightline.cli.reviewers import reviewers_app
from brightline.cli.rules import rules_app
from brightline.cli.serve import serve_command
from brightline.cli.sources import source_app
from brightline.cli.transparency import transparency_app
from brightline.errors import BrightlineError
from brightline.matching import Match, ScanResult
from brightline.settings import Settings
from brightline.signals.hashing import MediaHashes, hash_file
from brightline.signals.registry import default_registry

app = typer.Typer(
    name="brightline",
    help="Find known harmful media by hash: hash lists (banks), matching and scanning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(bank_app, name="bank")
app.add_typer(bench_app, name="bench")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(reports_app, name="reports")
app.add_typer(holds_app, name="holds")
app.add_typer(reviewers_app, name="reviewers")
app.add_typer(retention_app, name="retention")
app.add_typer(rules_app, name="rules")
app.add_typer(source_app, name="source")
app.add_typer(transparency_app, name="transparency")
app.command("demo")(demo_command)
app.command("eval")(eval_command)
app.command("serve")(serve_command)


@app.callback()
def root(ctx: typer.Context) -> None:
    """Build settings from the environment once per invocation."""
    try:
        settings = Settings()
    except (PydanticValidationError, BrightlineError) as exc:
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    cli = CliContext(settings=settings)
    ctx.obj = cli
    ctx.call_on_close(cli.close)


def _progress(cli: CliContext, label: str) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=cli.err,
        transient=True,
    )


def _video_fields(hashes: MediaHashes) -> dict[str, object]:
    """A video's JSON fields: video_md5 (the file's MD5), the vPDQ features, duration and frames decoded."""
    video = hashes.video
    if video is None:
        return {}
    fields: dict[str, object] = {
        "video_md5": hashes.md5,
        "vpdq": [
            {"frame": f.frame_number, "quality": f.quality, "pdq": f.pdq, "timestamp": round(f.timestamp, 3)}
            for f in video.features
        ],
        "duration": video.duration,
        "frame_count": video.frame_count,
    }
    if video.truncated:
        fields["truncated"] = True
    return fields


def _hash_record(path: Path, hashes: MediaHashes, dihedral: bool) -> dict[str, object]:
    if hashes.is_video:
        # Videos have no single PDQ/quality: those keys are left out, vpdq carries the frames.
        return {"file": str(path), **_video_fields(hashes), "md5": hashes.md5, "sha256": hashes.sha256}
    record: dict[str, object] = {
        "file": str(path),
        "pdq": hashes.pdq,
        "quality": hashes.quality,
        "md5": hashes.md5,
        "sha256": hashes.sha256,
    }
    if dihedral:
        record["pdq_dihedral"] = list(hashes.pdq_dihedral)
    return record


@app.command("hash")
def hash_command(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Media files or folders to hash.")],
    exact: Annotated[bool, typer.Option("--exact", help="Decode at full size (slower, reference-exact).")] = False,
    dihedral: Annotated[bool, typer.Option("--dihedral", help="Also output the 8 rotated/flipped PDQ hashes.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    frame_interval: Annotated[
        float | None,
        typer.Option("--frame-interval", min=0, help="Videos: seconds between hashed frames; 0 = every frame."),
    ] = None,
    frame_size: Annotated[
        int | None, typer.Option("--frame-size", min=1, help="Videos: resize frames to N x N before hashing.")
    ] = None,
) -> None:
    """Hash media files: PDQ with quality (vPDQ for videos), MD5 and SHA-256. Exit 1 if any file failed."""
    cli = get_context(ctx)
    options = cli.hash_options(exact, dihedral)
    if frame_interval is not None:
        options = dataclasses.replace(options, seconds_per_hash=frame_interval)
    if frame_size is not None:
        options = dataclasses.replace(options, frame_size=frame_size)
    files = list(expand_paths(paths))
    failed = 0
    table = Table("file", "pdq", "quality", "md5")
    for path in files:
        try:
            hashes = hash_file(path, options)
        except BrightlineError as exc:
            failed += 1
            if as_json:
                typer.echo(json.dumps({"file": str(path), "error": str(exc)}))
            else:
                cli.err.print(f"[red]{path}[/red]: {exc}", highlight=False)
            continue
        if as_json:
            typer.echo(json.dumps(_hash_record(path, hashes, dihedral)))
        else:
            if hashes.video is not None:
                table.add_row(str(path), f"vpdq: {len(hashes.video.features)} frames", "-", hashes.md5)
            else:
                table.add_row(str(path), hashes.pdq, str(hashes.quality), hashes.md5)
    if not as_json and table.row_count:
        cli.out.print(table)
    raise typer.Exit(EXIT_MATCH if failed else EXIT_OK)


def _scan_record(result: ScanResult) -> dict[str, object]:
    record: dict[str, object] = {"file": result.file, "matches": [m.as_dict() for m in result.matches]}
    if result.hashes is not None and result.hashes.is_video:
        record.update(_video_fields(result.hashes))
        record["md5"] = result.hashes.md5
    elif result.hashes is not None:
        record["pdq"] = result.hashes.pdq
        record["quality"] = result.hashes.quality
        record["md5"] = result.hashes.md5
    if result.low_quality:
        record["low_quality"] = True
    if result.error is not None:
        record["error"] = result.error
    return record


@app.command("scan")
def scan_command(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Media files or folders to scan (or URIs: s3://…).")],
    bank: Annotated[list[str] | None, typer.Option("--bank", help="Only match these banks (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file.")] = False,
    exact: Annotated[bool, typer.Option("--exact", help="Decode at full size (slower).")] = False,
    dihedral: Annotated[
        bool | None, typer.Option("--dihedral/--no-dihedral", help="Match rotated/flipped copies too.")
    ] = None,
    workers: Annotated[int, typer.Option(help="Parallel workers; 0 = one per CPU core.")] = 0,
    engine: Annotated[str, typer.Option(help="local (this machine) or ray (a Ray cluster).")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray: auto, ray://host:10001 or local (default: RAY_ADDRESS or a new one).")
    ] = None,
    actors: Annotated[int, typer.Option(min=0, help="Ray: matcher actors; 0 = one per 4 cluster CPUs.")] = 0,
    output: Annotated[
        str | None, typer.Option(help="Folder or URI for Parquet results; re-runs skip finished partitions.")
    ] = None,
    record: Annotated[bool, typer.Option("--record", help="Record matches in the database (idempotent).")] = False,
    partition_size: Annotated[int, typer.Option(min=1, help="Files per checkpointed partition.")] = 1000,
) -> None:
    """Scan media against the banks. Exit 0 = no match, 1 = something matched, 2 = failure."""
    cli = get_context(ctx)
    if engine not in ("local", "ray"):
        raise fail(cli, f"--engine must be local or ray, not {engine!r}")
    if engine == "local" and (address is not None or actors):
        raise fail(cli, "--address and --actors apply to --engine ray")
    backlog = engine == "ray" or output is not None or record or any("://" in p for p in paths)
    try:
        matcher = cli.matcher(dihedral=dihedral)
        known = {b.name for b in cli.banks.list_banks()}
        for name in bank or []:
            if name not in known:
                cli.banks.get_bank(name)  # raises BankNotFoundError naming it
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    use_dihedral = matcher.options.dihedral
    options = cli.hash_options(exact, use_dihedral)
    if backlog:
        from brightline.cli.scan_backlog import backlog_scan

        backlog_scan(
            cli,
            paths,
            banks=frozenset(bank) if bank else None,
            options=options,
            dihedral=dihedral,
            engine=engine,
            address=address,
            actors=actors,
            output=output,
            record=record,
            partition_size=partition_size,
            workers=workers,
            as_json=as_json,
        )
    files = list(expand_paths(Path(p) for p in paths))
    results: list[ScanResult] = []
    with _progress(cli, "scanning") as progress:
        task = progress.add_task("scan", total=len(files))
        for result in matcher.scan_paths(files, options, set(bank) if bank else None, workers or cli.settings.workers):
            progress.advance(task)
            results.append(result)
            if as_json:
                typer.echo(json.dumps(_scan_record(result)))
    if not as_json:
        _print_scan_table(cli, results)
    raise typer.Exit(EXIT_MATCH if any(r.matched for r in results) else EXIT_OK)


def _video_cell(match: Match) -> str:
    """Percents and matched time ranges of a video match, e.g. "q 100% c 95% 0.0-18.0s"."""
    parts = []
    if match.query_percent is not None:
        parts.append(f"q {match.query_percent:g}%")
    if match.candidate_percent is not None:
        parts.append(f"c {match.candidate_percent:g}%")
    parts.extend(f"{a:g}-{b:g}s" for a, b in match.time_ranges or ())
    return " ".join(parts)


def _print_scan_table(cli: CliContext, results: list[ScanResult]) -> None:
    table = Table("file", "bank", "entry", "signal", "distance", "variant", "video", title="matches")
    for result in results:
        for m in result.matches:
            table.add_row(
                result.file, m.bank, str(m.entry_id), m.signal_type, str(m.distance), m.variant, _video_cell(m)
            )
    if table.row_count:
        cli.out.print(table)
    for result in results:
        if result.error:
            cli.err.print(f"[red]{result.file}[/red]: {result.error}", highlight=False)
    matched = sum(r.matched for r in results)
    errors = sum(r.error is not None for r in results)
    low = sum(r.low_quality for r in results)
    cli.out.print(
        f"scanned {len(results)} files: {matched} matched, {errors} errors, {low} low-quality (PDQ not matched)"
    )


@app.command("match")
def match_command(
    ctx: typer.Context,
    signal_type: Annotated[str, typer.Argument(help="Signal type of the values, e.g. pdq or md5.")],
    values: Annotated[list[str], typer.Argument(help="Hash values to look up.")],
    bank: Annotated[list[str] | None, typer.Option("--bank", help="Only match these banks (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per value.")] = False,
) -> None:
    """Look up hashes in the banks. Exit 0 = no match, 1 = something matched, 2 = failure."""
    cli = get_context(ctx)
    any_match = False
    table = Table("value", "bank", "entry", "distance")
    try:
        matcher = cli.matcher()
        for value in values:
            matches = matcher.match_values(signal_type, [value], set(bank) if bank else None)
            any_match = any_match or bool(matches)
            if as_json:
                typer.echo(json.dumps({"value": value, "matches": [m.as_dict() for m in matches]}))
            for m in matches:
                table.add_row(value, m.bank, str(m.entry_id), str(m.distance))
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    if not as_json:
        cli.out.print(table if table.row_count else "no match")
    raise typer.Exit(EXIT_MATCH if any_match else EXIT_OK)


@app.command("signals")
def signals_command(ctx: typer.Context) -> None:
    """List the signal types this installation knows (built-ins and plugins)."""
    table = Table("name", "match", "default threshold", "description")
    for st in default_registry().all():
        table.add_row(st.name, st.match_kind.value, str(st.default_threshold), st.description)
    get_context(ctx).out.print(table)


@app.command("version")
def version_command() -> None:
    """Print the brightline version."""
    typer.echo(__version__)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the database schema to the latest version."""
    cli = get_context(ctx)
    try:
        cli.db  # noqa: B018 - opening the database runs the migrations
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    shown = make_url(cli.settings.effective_database_url).render_as_string(hide_password=True)
    cli.out.print(f"database schema is up to date: {shown}", highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()
