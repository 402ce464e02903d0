"""`brightline bench hash`: images/s of brightline's PDQ against pdqhash + Pillow, same files, same run."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from brightline.benchmarks.hashing import bench_hash, corpus_photos, load_pdqhash, make_copies, shared_folder
from brightline.cli.context import EXIT_FAILED, expand_paths
from brightline.errors import BrightlineError


def bench_hash_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Photos or folders (default: a sample of the shared corpus).")
    ] = None,
    megapixels: Annotated[
        float | None, typer.Option("--megapixels", min=0.01, help="Time JPEG q90 copies resized to this many MP.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many photos from the shared corpus.")] = 40,
    rounds: Annotated[int, typer.Option(min=1, help="Timed passes per method, interleaved.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Hash photos with brightline (fast and exact paths) and pdqhash + Pillow; print images/s and ratios."""
    err = Console(stderr=True)
    try:
        pdqhash = load_pdqhash()
        files = list(expand_paths(paths)) if paths else corpus_photos(shared_folder(), limit)
        if not files:
            raise BrightlineError("no photos to hash: pass PATH... or set BRIGHTLINE_SHARED to the shared folder")
        with tempfile.TemporaryDirectory(prefix="brightline-bench-hash-") as tmp:
            if megapixels is not None:
                files = make_copies(files, Path(tmp), megapixels)
            report = bench_hash(files, pdqhash, rounds)
    except (BrightlineError, OSError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
    if as_json:
        typer.echo(json.dumps(report))
        return
    _print_table(report)


def _print_table(report: dict[str, Any]) -> None:
    table = Table(
        "method", "images/s", "÷ pdqhash + Pillow", title=f"{report['images']} photos, {report['megapixels']} MP"
    )
    table.add_row("brightline (fast path)", f"{report['brightline_images_per_s']:.1f}", f"{report['ratio']:.2f}×")
    table.add_row(
        "brightline --exact", f"{report['brightline_exact_images_per_s']:.1f}", f"{report['exact_ratio']:.2f}×"
    )
    table.add_row("pdqhash + Pillow", f"{report['pdqhash_pil_images_per_s']:.1f}", "1.00×")
    out = Console()
    out.print(table)
    out.print(
        f"fast path vs full decode: max distance {report['max_distance_to_full_decode']}, "
        f"histogram {report['distance_histogram']}, "
        f"{report['share_within_bound']:.1%} within 6",
        highlight=False,
    )
