"""Buffered scan counters: non-matching scans are summed in memory and written in batches, on both databases."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from brightline.errors import StoreError
from brightline.matching import Match
from brightline.records import RecordService, ScanMetadata
from brightline.records.counters import NO_KEY, CounterBuffer
from brightline.signals.hashing import MediaHashes
from brightline.store import Database
from brightline.store.models import scan_counters_table

HASHES = MediaHashes(md5="a" * 32, sha256="b" * 64, pdq="c" * 64, quality=90)


def _scan(records: RecordService, matches: list[Match] | None = None, content_type: str = "image") -> None:
    records.record_scan(
        api_key_id=None,
        idempotency_key=None,
        metadata=ScanMetadata(),
        hashes=HASHES,
        content_type=content_type,
        matches=matches or [],
    )


def _stored(db: Database) -> list[tuple[str, int, int]]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(scan_counters_table.c.content_type, scan_counters_table.c.scans, scan_counters_table.c.matched)
        ).all()
    return sorted((r.content_type, int(r.scans), int(r.matched)) for r in rows)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_without_a_flush_interval_every_scan_is_written_at_once(db: Database) -> None:
    records = RecordService(db)
    _scan(records)
    assert _stored(db) == [("image", 1, 0)]


def test_buffered_scans_stay_in_memory_until_flushed(db: Database) -> None:
    records = RecordService(db, counter_flush_seconds=3600)
    for _ in range(5):
        _scan(records)
    _scan(records, content_type="video")
    assert _stored(db) == []
    assert records.flush_counters() == 6
    assert _stored(db) == [("image", 5, 0), ("video", 1, 0)]
    assert records.flush_counters() == 0  # nothing left: a second flush adds nothing
    assert _stored(db) == [("image", 5, 0), ("video", 1, 0)]


def test_the_scan_after_the_interval_writes_the_sums(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    records = RecordService(db, counter_flush_seconds=1.0)
    monkeypatch.setattr(records, "_buffer", CounterBuffer(1.0, clock=clock))
    _scan(records)
    _scan(records)
    assert _stored(db) == []
    clock.now += 1.0
    _scan(records)
    assert _stored(db) == [("image", 3, 0)]


def test_flush_if_due_waits_for_the_interval(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    records = RecordService(db, counter_flush_seconds=2.0)
    monkeypatch.setattr(records, "_buffer", CounterBuffer(2.0, clock=clock))
    _scan(records)
    assert records.flush_counters_if_due() == 0
    clock.now += 2.5
    assert records.flush_counters_if_due() == 1
    assert _stored(db) == [("image", 1, 0)]


def test_a_match_carries_the_buffered_counts_in_its_transaction(db: Database) -> None:
    records = RecordService(db, counter_flush_seconds=3600)
    _scan(records)
    _scan(records)
    _scan(records, [Match(bank="known", entry_id=1, signal_type="pdq", distance=3)])
    assert _stored(db) == [("image", 3, 1)]


def test_counters_include_what_is_buffered(db: Database) -> None:
    records = RecordService(db, counter_flush_seconds=3600)
    _scan(records)
    [row] = records.counters()
    assert (row["scans"], row["matched"], row["api_key_id"]) == (1, 0, None)


def test_a_failed_flush_keeps_the_counts_for_the_next_one(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    records = RecordService(db, counter_flush_seconds=3600)
    _scan(records)
    _scan(records)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise StoreError("database error: database is locked")

    with monkeypatch.context() as patched:
        patched.setattr("brightline.records.service.write_counts", refuse)
        with pytest.raises(StoreError):
            records.flush_counters()
    assert _stored(db) == []
    assert records.flush_counters() == 2
    assert _stored(db) == [("image", 2, 0)]


def test_a_busy_database_never_fails_the_scan_that_flushes(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    records = RecordService(db, counter_flush_seconds=1.0)
    monkeypatch.setattr(records, "_buffer", CounterBuffer(1.0, clock=clock))

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise StoreError("database error: database is locked")

    with monkeypatch.context() as patched:
        patched.setattr("brightline.records.service.write_counts", refuse)
        clock.now += 5
        _scan(records)  # due, the write fails, the scan still succeeds
    assert _stored(db) == []
    assert records.flush_counters() == 1


def test_the_buffer_holds_only_day_type_and_key() -> None:
    buffer = CounterBuffer(10.0)
    assert buffer.add((date(2026, 1, 2), "image/jpeg", NO_KEY)) is False
    assert buffer.add((date(2026, 1, 2), "image/jpeg", NO_KEY)) is False
    assert len(buffer) == 2
    assert dict(buffer.take()) == {(date(2026, 1, 2), "image/jpeg", NO_KEY): 2}
    assert len(buffer) == 0


def test_a_zero_interval_is_not_a_buffer() -> None:
    with pytest.raises(ValueError, match="positive"):
        CounterBuffer(0)
