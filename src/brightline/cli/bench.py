"""`brightline bench ...`: benchmarks against baseline libraries (needs the ``bench`` extra)."""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from brightline.benchmarks.matching import (
    UPDATE_ROWS,
    FaissMissingError,
    MatchBenchConfig,
    import_faiss,
    run_match_bench,
)
from brightline.cli.bench_hash import bench_hash_command
from brightline.cli.context import EXIT_FAILED

bench_app = typer.Typer(help="Benchmarks against baseline libraries (install brightline[bench]).", no_args_is_help=True)
bench_app.command("hash")(bench_hash_command)


class BankChoice(StrEnum):
    """Which bank `bench match` searches."""

    random = "random"
    realistic = "realistic"


def _progress_callback(progress: Progress) -> Any:
    """A (what, done, total) callback driving one rich progress bar per stage."""
    tasks: dict[str, TaskID] = {}

    def update(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = progress.add_task(what, total=total)
        progress.update(tasks[what], completed=done, total=total)

    return update


def _table(report: dict[str, Any]) -> Table:
    """The report as a readable table."""
    table = Table(
        title=f"{report['size']:,} entries ({report['bank']} bank), {report['queries']:,} queries, "
        f"radius {report['radius']}"
    )
    for column in ("engine", "mode", "threads", "queries/s", "vs faiss"):
        table.add_column(column, justify="left" if column in ("engine", "mode") else "right")
    threads = str(report["threads"])
    table.add_row("faiss IndexBinaryFlat", "single", "1", f"{report['faiss_flat_qps']:,.0f}", "1.00x")
    table.add_row("brightline", "single", "1", f"{report['brightline_qps']:,.0f}", f"{report['speedup']:.2f}x")
    table.add_row("faiss IndexBinaryFlat", "batch", threads, f"{report['faiss_flat_batch_qps']:,.0f}", "1.00x")
    table.add_row(
        "brightline", "batch", threads, f"{report['brightline_batch_qps']:,.0f}", f"{report['batch_speedup']:.2f}x"
    )
    return table


@bench_app.command("match")
def bench_match(
    size: Annotated[int, typer.Option("--size", min=1, help="Bank entries.")] = 1_000_000,
    queries: Annotated[
        int, typer.Option("--queries", min=1, help="Queries, each timed alone and in one batch.")
    ] = 1000,
    bank: Annotated[BankChoice, typer.Option("--bank", help="Uniform random codes, or photos and edits.")] = (
        BankChoice.random
    ),
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="Threads for batches; default all.")] = None,
    radius: Annotated[int, typer.Option("--radius", min=0, max=256, help="Hamming radius.")] = 31,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the bank, queries and edits.")] = 0,
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Timing rounds; each engine keeps its best.")] = 3,
    edits: Annotated[int, typer.Option("--edits", min=1, help="Realistic bank: edited copies per photo.")] = 40,
    memory: Annotated[bool, typer.Option("--memory/--no-memory", help="Measure a fresh serving process.")] = True,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Where realistic codes are cached.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Exact PDQ search, brightline HammingIndex against faiss IndexBinaryFlat, same bank and queries."""
    err = Console(stderr=True, soft_wrap=True)
    try:
        import_faiss()
    except FaissMissingError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
    cfg = MatchBenchConfig(
        size=size,
        queries=queries,
        bank=bank.value,
        threads=threads or max(1, len(os.sched_getaffinity(0))),
        radius=radius,
        seed=seed,
        repeat=repeat,
        edits=edits,
        memory=memory,
        cache_dir=cache_dir,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        report = run_match_bench(cfg, _progress_callback(progress))
    if as_json:
        typer.echo(json.dumps(report))
    else:
        out = Console(soft_wrap=True)
        out.print(_table(report))
        out.print(
            f"recall {report['recall']:.3f} (exact: {report['exact']}), build {report['build_s']:.2f} s, "
            f"load {report['load_s']:.2f} s, resident {report.get('rss_mb', float('nan')):,.0f} MiB, "
            f"add+remove {UPDATE_ROWS:,} {report['update_10k_s']:.3f} s "
            f"(after a first-use kernel warm-up of {report['update_warmup_s']:.2f} s)",
            highlight=False,
        )
    if report["recall"] != 1.0 or not report["exact"]:
        raise typer.Exit(EXIT_FAILED)
