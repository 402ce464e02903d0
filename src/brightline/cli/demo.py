"""`brightline demo`: the main job end to end on bundled benign photos, in a throwaway folder."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from brightline.banks import BankService, EntryInput
from brightline.cli.context import get_context
from brightline.demo import EDITS, label, make_inbox, photos
from brightline.matching import Matcher, MatchOptions
from brightline.signals.hashing import HashOptions, hash_file
from brightline.store.db import Database


def demo_command(
    ctx: typer.Context,
    workdir: Annotated[Path, typer.Option(help="Folder for the demo's database and media (emptied first).")] = Path(
        "build/demo"
    ),
) -> None:
    """Build a bank from bundled photos, make edited copies plus unrelated photos, scan, and show the matches."""
    cli = get_context(ctx)
    out = cli.out
    if workdir.exists():
        shutil.rmtree(workdir)
    db = Database(f"sqlite:///{(workdir / 'brightline.db').resolve()}")
    db.upgrade()
    banks = BankService(db)
    bank = banks.create_bank("demo-known", domain="other", description="bundled CC0 photos standing in for a list")
    # As `bank add` does: region hashes (crops and parts) too, unless BRIGHTLINE_REGION_HASHES is off.
    options = HashOptions(exact=True, regions="known" if cli.settings.region_hashes else "none")
    entries = []
    for number, photo in enumerate(photos("known"), 1):
        hashes = hash_file(photo, options)
        note = label("known", number)
        for signal_type, value in hashes.signals().items():
            if signal_type != "sha256":
                entries.append(EntryInput(signal_type, value, source="demo", category="demo", note=note))
    banks.add_entries(bank.name, entries)
    out.print(f"1. bank [bold]{bank.name}[/bold]: {len(entries)} hashes of {len(photos('known'))} known photos")

    edited, unrelated = make_inbox(workdir / "inbox")
    out.print(
        f"2. inbox {workdir / 'inbox'}: {len(edited)} edited copies ({', '.join(EDITS)}) "
        f"+ {len(unrelated)} unrelated photos",
        highlight=False,
    )

    matcher = Matcher(banks, index_dir=workdir / "index", options=MatchOptions(dihedral=True))
    matcher.refresh()
    notes = {e.id: e.note or "" for e in banks.list_entries(bank.name, limit=1000, offset=0)}
    table = Table(title="3. scan results")
    for column in ("file", "known?", "matched", "signal", "dist", "variant"):
        table.add_column(column, no_wrap=True)
    found = false_matches = 0
    results = list(matcher.scan_paths(edited + unrelated, HashOptions(dihedral=True)))
    for result in results:
        expected = Path(result.file).name.startswith("known-")
        best = result.matches[0] if result.matches else None
        found += expected and best is not None
        false_matches += (not expected) and best is not None
        table.add_row(
            Path(result.file).name,
            "yes" if expected else "no",
            f"{notes.get(best.entry_id, '?')} #{best.entry_id}" if best else ("[red]missed[/red]" if expected else "-"),
            best.signal_type if best else "",
            str(best.distance) if best else "",
            best.variant if best else "",
        )
    out.print(table)
    out.print(
        f"found {found}/{len(edited)} edited copies; {false_matches}/{len(unrelated)} unrelated photos matched "
        "(dihedral matching on, so mirrored copies count)"
    )
    db.dispose()
