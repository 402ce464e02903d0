"""Backlog scans without Ray: listing and partitions, the driver's grouping, checkpoints and idempotent records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from typer.testing import CliRunner

from brightline.banks import BankService, EntryInput
from brightline.cli.app import app
from brightline.errors import ScaleOutError
from brightline.matching import Matcher
from brightline.records import RecordService
from brightline.review.intake import RESUME_AFTER
from brightline.scaleout import list_inputs, partition
from brightline.scaleout.local import local_engine
from brightline.scaleout.ray_engine import RayOptions, pool_size
from brightline.scaleout.runner import collect
from brightline.scaleout.sink import ParquetOutput, Recorder
from brightline.service.wiring import build_intake, review_services
from brightline.settings import Settings
from brightline.signals.hashing import HashOptions, hash_file
from brightline.store.db import Database
from brightline.store.models import scan_records_table, utcnow
from brightline.store.models_actions import evidence_table
from brightline.store.models_cases import cases_table

pytest.importorskip("pyarrow")


@pytest.fixture
def photos(shared_dir: Path) -> list[Path]:
    return sorted((shared_dir / "corpus" / "kodak24").iterdir())[:10]


@pytest.fixture
def env(tmp_path: Path, photos: list[Path]) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'bl.db'}"
    db = Database(url)
    db.upgrade()
    banks = BankService(db)
    banks.create_bank("known")
    banks.add_entries("known", [EntryInput("md5", hash_file(p).md5) for p in photos[:3]])
    db.dispose()
    return {"BRIGHTLINE_DATA_DIR": str(tmp_path / "data"), "BRIGHTLINE_DATABASE_URL": url}


def test_listing_walks_folders_like_scan_and_names_partitions_by_content(photos: list[Path], tmp_path: Path) -> None:
    folder = photos[0].parent
    items = list_inputs([str(folder), str(photos[0])])  # a file named twice is listed once
    assert [i.file for i in items] == [str(p) for p in sorted(folder.iterdir())]
    uri_items = list_inputs([f"file://{folder}"])
    assert [i.file for i in uri_items] == [f"file://{p}" for p in sorted(folder.iterdir())]
    parts = partition(items, 10)
    assert [len(p.items) for p in parts] == [10, 10, 4]
    assert parts[0].name.startswith("part-000000-") and parts[0].name.endswith(".parquet")
    assert partition(items, 10)[1].digest == parts[1].digest  # the same listing, the same checkpoints
    with pytest.raises(ScaleOutError):
        list_inputs([f"file://{tmp_path / 'missing'}"])


def test_the_driver_drops_repeated_rows_and_refuses_missing_ones(photos: list[Path]) -> None:
    parts = partition(list_inputs([str(p) for p in photos[:4]]), 2)
    rows = [{"partition": i // 2, "file": str(p)} for i, p in enumerate(photos[:4])]
    grouped = list(collect(parts, [rows[0], rows[0], rows[1], rows[2], rows[1], rows[3]]))
    files = [str(p) for p in photos[:4]]
    assert [(p.index, [r["file"] for r in got]) for p, got in grouped] == [(0, files[:2]), (1, files[2:])]
    with pytest.raises(ScaleOutError, match="1 files"):
        list(collect(parts, rows[:3]))


def test_the_actor_pool_never_takes_the_cpus_hashing_needs() -> None:
    assert pool_size(RayOptions(), 2) == 1
    assert pool_size(RayOptions(actors=2), 2) == 2  # 2 x 0.25 + 0.75 <= 2
    assert pool_size(RayOptions(), 64) == 16
    with pytest.raises(ScaleOutError, match="fewer actors"):
        pool_size(RayOptions(actors=2, match_cpus=1.0), 2)


def test_local_engine_writes_checkpoints_records_once_and_resumes(
    env: dict[str, str], photos: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["scan", str(photos[0].parent), "--output", str(out), "--record", "--partition-size", "10", "--json"]
    first = CliRunner().invoke(app, args, env=env)
    assert first.exit_code == 1, first.output
    printed = [json.loads(line) for line in first.stdout.splitlines()]
    assert len(printed) == 24 and sum(bool(p["matches"]) for p in printed) == 3
    plain = CliRunner().invoke(app, ["scan", str(photos[0].parent), "--json"], env=env)
    assert sorted(printed, key=lambda r: str(r["file"])) == [json.loads(line) for line in plain.stdout.splitlines()]
    assert len(ParquetOutput(str(out)).done()) == 3 and (out / "_manifest.json").is_file()
    again = CliRunner().invoke(app, args, env=env)
    assert again.exit_code == 1 and again.stdout == ""  # every partition done: nothing scanned again
    assert "skipped 24 files in 3 finished partitions" in again.stderr
    (out / sorted(ParquetOutput(str(out)).done())[1]).unlink()  # as if the run had stopped there
    resumed = CliRunner().invoke(app, args, env=env)
    assert len(resumed.stdout.splitlines()) == 10
    db = Database(env["BRIGHTLINE_DATABASE_URL"])
    events, _ = RecordService(db).list_matches()
    db.dispose()
    assert len({e.scan_id for e in events}) == 3  # one scan record per matched file, however often scanned


def _review_state(env: dict[str, str]) -> tuple[list[int], dict[int, bytes]]:
    """Scan ids with an open review case, and the kept evidence by scan id (decrypted)."""
    settings = Settings(database_url=env["BRIGHTLINE_DATABASE_URL"], data_dir=Path(env["BRIGHTLINE_DATA_DIR"]))
    db = Database(env["BRIGHTLINE_DATABASE_URL"])
    with db.engine.connect() as conn:
        cases = sorted(conn.execute(sa.select(cases_table.c.scan_id)).scalars())
        kept = conn.execute(sa.select(evidence_table.c.id, evidence_table.c.scan_id)).all()
    _, evidence = review_services(db, settings, BankService(db))
    media = {scan: evidence.read(ident, actor="test", purpose="check the backlog's evidence") for ident, scan in kept}
    db.dispose()
    return cases, media


def test_recorded_backlog_matches_go_to_review_with_their_files_as_evidence(
    env: dict[str, str], photos: list[Path], tmp_path: Path
) -> None:
    def scan(output: str) -> Result:
        return CliRunner().invoke(app, ["scan", str(photos[0].parent), "--record", "--output", output], env=env)

    first = scan(str(tmp_path / "out1"))
    assert first.exit_code == 1, first.output
    assert "recorded 3 matched scans (0 already recorded); opened 3 review cases" in first.stderr
    cases, media = _review_state(env)
    assert len(cases) == 3 and sorted(media) == cases  # one case and the file kept, per matched file
    assert sorted(media.values()) == sorted(p.read_bytes() for p in photos[:3])
    again = scan(str(tmp_path / "out2"))  # a new output: every file is scanned again
    assert "recorded 0 matched scans (3 already recorded); opened 0 review cases" in again.stderr
    assert _review_state(env)[0] == cases  # replays open no second case


def test_a_file_changed_after_hashing_is_not_kept_as_evidence_but_still_reviewed(
    env: dict[str, str], photos: list[Path], tmp_path: Path
) -> None:
    copy = tmp_path / "copy.png"
    copy.write_bytes(photos[0].read_bytes())
    db = Database(env["BRIGHTLINE_DATABASE_URL"])
    settings = Settings(database_url=env["BRIGHTLINE_DATABASE_URL"], data_dir=Path(env["BRIGHTLINE_DATA_DIR"]))
    banks = BankService(db)
    matcher = Matcher(banks)
    matcher.refresh()
    rows = list(local_engine(matcher, HashOptions(), None, 1)(partition(list_inputs([str(copy)]), 10)))
    assert rows[0]["matched"]
    copy.write_bytes(photos[1].read_bytes())  # replaced between hashing and recording
    recorder = Recorder(RecordService(db), build_intake(db, settings, banks))
    recorder.record(rows)
    db.dispose()
    assert (recorder.counts.new, recorder.counts.cases, recorder.counts.without_evidence) == (1, 1, 1)
    cases, media = _review_state(env)
    assert len(cases) == 1 and media == {}


def test_a_rerun_finishes_the_review_intake_a_crash_interrupted(
    env: dict[str, str], photos: list[Path], tmp_path: Path
) -> None:
    db = Database(env["BRIGHTLINE_DATABASE_URL"])
    matcher = Matcher(BankService(db))
    matcher.refresh()
    rows = list(local_engine(matcher, HashOptions(), None, 1)(partition(list_inputs([str(photos[0].parent)]), 30)))
    Recorder(RecordService(db)).record(rows)  # recorded, then the driver died before intake
    with db.write_connection() as conn:  # long enough ago that no intake can still be running
        conn.execute(sa.update(scan_records_table).values(created_at=utcnow() - 2 * RESUME_AFTER))
    db.dispose()
    assert _review_state(env)[0] == []
    rerun = CliRunner().invoke(app, ["scan", str(photos[0].parent), "--record"], env=env)
    assert "recorded 0 matched scans (3 already recorded); opened 3 review cases" in rerun.stderr
    assert "finished 3 interrupted review intakes" in rerun.stderr
    cases, media = _review_state(env)
    assert len(cases) == 3 and sorted(media) == cases
    again = CliRunner().invoke(app, ["scan", str(photos[0].parent), "--record"], env=env)
    assert "opened 0 review cases" in again.stderr and "interrupted" not in again.stderr
