"""`brightline eval`: measure recall on edited copies of known photos and the false-match rate, per method."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from brightline.cli.context import EXIT_FAILED, get_context
from brightline.evaluation.transforms import CATALOGUE

_SPEC_HELP = (
    "Edits to apply: 'standard' (default), 'all', or items joined by ';': NAME (its standard strengths), "
    "NAME:S1,S2, or a chain NAME:S+NAME:S applied in order, e.g. 'crop:0.05,0.1;jpeg:50;crop:0.05+jpeg:50'. "
    f"Transforms: {', '.join(CATALOGUE)}."
)


def eval_command(
    ctx: typer.Context,
    corpus: Annotated[Path, typer.Option(help="Folder of photos (searched recursively).", file_okay=False)],
    out: Annotated[Path, typer.Option(help="Folder for report.html, report.json and the PNG figures.")],
    known: Annotated[int, typer.Option(min=1, help="How many photos play the known list.")] = 300,
    transforms: Annotated[str, typer.Option(help=_SPEC_HELP)] = "standard",
    signals: Annotated[
        str, typer.Option(help="Methods to compare, comma-separated: pdq, pdq-dihedral, phash, dhash, or registered.")
    ] = "pdq,pdq-dihedral",
    seed: Annotated[int, typer.Option(help="Seed for the known-list pick and the edits.")] = 0,
    threshold: Annotated[
        int | None,
        typer.Option(min=0, help="Operating threshold in PDQ bits (scaled for 64-bit methods); default per method."),
    ] = None,
    distractors: Annotated[
        int | None, typer.Option(min=0, help="Use at most this many distractors (seeded sample); default all.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Parallel hashing threads.")] = 2,
    min_quality: Annotated[
        int | None, typer.Option(min=0, max=100, help="PDQ quality floor (default BRIGHTLINE_MIN_QUALITY).")
    ] = None,
) -> None:
    """Evaluate matching accuracy: recall per transform and strength, false-match rate, ROC; writes an HTML report."""
    # Imported here so other commands do not pay for matplotlib at start-up.
    from brightline.evaluation import EvalConfig, registered_methods, run_evaluation, write_outputs
    from brightline.evaluation.metrics import FMR_KEY

    cli = get_context(ctx)
    names = tuple(s.strip() for s in signals.split(",") if s.strip())
    unknown = [n for n in names if n not in registered_methods()]
    if unknown or not names:
        cli.err.print(f"error: unknown method(s) {unknown}; known: {', '.join(registered_methods())}")
        raise typer.Exit(EXIT_FAILED)
    config = EvalConfig(
        corpus=corpus,
        known=known,
        transforms=transforms,
        methods=names,
        seed=seed,
        threshold=threshold,
        distractors=distractors,
        workers=workers,
        min_quality=cli.settings.min_quality if min_quality is None else min_quality,
    )
    started = time.perf_counter()
    progress = Progress(
        TextColumn("hashing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=cli.err,
        transient=True,
    )
    task = progress.add_task("hash", total=None)

    def advance(done: int, total: int) -> None:
        progress.update(task, advance=done, total=total)

    try:
        with progress:
            doc, figures = run_evaluation(config, advance)
    except ValueError as exc:
        cli.err.print(f"error: {exc}", highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
    written = write_outputs(out, doc, figures)
    for name, reason in doc["skipped_methods"].items():
        cli.err.print(f"[yellow]warning[/yellow]: method {name} skipped: {reason}", highlight=False)
    table = Table("method", "threshold", "recall", "false-match rate", "pairs", "threshold @ FMR ≤ 1e-6")
    for name, r in doc["methods"].items():
        at = "none" if r[FMR_KEY] is None else str(r[FMR_KEY])
        table.add_row(
            name,
            str(r["threshold"]),
            f"{r['recall_overall']:.1%}",
            f"{r['false_match_rate']:.2e}",
            f"{r['negative_pairs']:,}",
            at if r["fmr_1e-6_resolved"] else f"{at} (no false match; too few pairs for 1e-6)",
        )
    cli.out.print(table)
    counts = doc["counts"]
    cli.out.print(
        f"{counts['known']} known, {counts['copies']} copies, {counts['distractors']} distractors "
        f"in {time.perf_counter() - started:.0f} s; wrote {written[0]} and {len(written) - 1} more files in {out}",
        highlight=False,
    )
