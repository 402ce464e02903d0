"""`brightline scan` with --engine ray, --output, --record or URIs: the partitioned, resumable backlog scan."""

from __future__ import annotations

import json
from collections.abc import Sequence

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from brightline.cli.context import EXIT_MATCH, EXIT_OK, CliContext, fail
from brightline.errors import BrightlineError
from brightline.matching import Matcher
from brightline.records import RecordService
from brightline.scaleout import ScanJob, Summary, run
from brightline.scaleout.local import local_engine
from brightline.scaleout.rows import Row, row_record
from brightline.scaleout.runner import Engine, Plan
from brightline.scaleout.sink import Recorder
from brightline.signals.hashing import HashOptions


def backlog_scan(
    cli: CliContext,
    inputs: Sequence[str],
    *,
    banks: frozenset[str] | None,
    options: HashOptions,
    dihedral: bool | None,
    engine: str,
    address: str | None,
    actors: int,
    output: str | None,
    record: bool,
    partition_size: int,
    workers: int,
    as_json: bool,
) -> None:
    """Run a backlog scan and exit like ``brightline scan`` (0 nothing matched, 1 matched, 2 failed)."""
    job = ScanJob(tuple(inputs), options, banks, partition_size, output)
    try:
        matcher = cli.matcher(dihedral=dihedral)
        recorder = _recorder(cli) if record else None
        if engine == "ray":
            summary = _run_ray(cli, job, matcher, address, actors, recorder, as_json)
        else:
            run_local: Engine = local_engine(matcher, options, banks, workers or cli.settings.workers or 0)
            summary = _run(cli, job, run_local, recorder, as_json)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    _print_summary(cli, summary, output)
    raise typer.Exit(EXIT_MATCH if summary.matched else EXIT_OK)


def _recorder(cli: CliContext) -> Recorder:
    """A recorder that also takes each new match record into review, as ``POST /v1/scan`` does."""
    from brightline.service.wiring import build_intake  # the review stack loads only for --record

    intake = build_intake(cli.db, cli.settings, cli.banks)
    return Recorder(RecordService(cli.db), intake, max_bytes=cli.settings.max_file_bytes)


def _run_ray(
    cli: CliContext,
    job: ScanJob,
    matcher: Matcher,
    address: str | None,
    actors: int,
    recorder: Recorder | None,
    as_json: bool,
) -> Summary:
    from brightline.scaleout.ray_engine import RayOptions, connected, ray_engine

    ray_options = RayOptions(address=address, actors=actors)
    with connected(ray_options) as dashboard:
        if dashboard:
            cli.err.print(f"Ray dashboard: http://{dashboard}", highlight=False)
        engine = ray_engine(
            matcher,
            database_url=cli.settings.effective_database_url,
            index_dir=cli.settings.index_dir,
            options=job.options,
            banks=job.banks,
            ray_options=ray_options,
        )
        return _run(cli, job, engine, recorder, as_json)


def _run(cli: CliContext, job: ScanJob, engine: Engine, recorder: Recorder | None, as_json: bool) -> Summary:
    columns = (TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    progress = Progress(*columns, console=cli.err, transient=True)
    with progress:
        task = progress.add_task("scan", total=None)

        def on_plan(the_plan: Plan) -> None:
            progress.update(task, total=the_plan.pending_files)

        def on_row(row: Row) -> None:
            progress.advance(task)
            if as_json:
                typer.echo(json.dumps(row_record(row)))
            elif row["error"] is not None:
                cli.err.print(f"[red]{row['file']}[/red]: {row['error']}", highlight=False)

        return run(job, engine, recorder=recorder, on_row=on_row, on_plan=on_plan)


def _print_summary(cli: CliContext, summary: Summary, output: str | None) -> None:
    parts = [f"scanned {summary.files} files: {summary.matched} matched, {summary.errors} errors"]
    if summary.skipped_partitions:
        parts.append(f"skipped {summary.skipped_files} files in {summary.skipped_partitions} finished partitions")
    records = summary.records
    if records.new or records.replayed:
        parts.append(f"recorded {records.new} matched scans ({records.replayed} already recorded)")
        parts.append(f"opened {records.cases} review cases")
    if records.resumed:
        parts.append(f"finished {records.resumed} interrupted review intakes")
    if records.without_evidence:
        parts.append(f"{records.without_evidence} matched files changed or vanished before they could be kept")
    if output:
        parts.append(f"results in {output}")
    cli.err.print("; ".join(parts), highlight=False)
