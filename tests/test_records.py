"""Scan records, match events and counters: the privacy promise, idempotency and queries, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from brightline.auth import ApiKeyService
from brightline.banks import BankService
from brightline.errors import ScanRecordNotFoundError, ValidationError
from brightline.matching import Match
from brightline.records import RecordService, ScanMetadata, ScanRecord
from brightline.signals.hashing import MediaHashes
from brightline.store import Base, Database
from brightline.store.models import match_events_table, scan_counters_table, scan_records_table

HASHES = MediaHashes(md5="a" * 32, sha256="b" * 64, pdq="c" * 64, quality=90)
META = ScanMetadata(content_id="upload-1", account_id="acct-7", source="web", context={"ip_country": "NZ"})


@pytest.fixture
def records(db: Database) -> RecordService:
    return RecordService(db)


@pytest.fixture
def key_id(db: Database) -> int:
    return ApiKeyService(db).create("uploader", ["scan"])[1].id


def _match(bank: str = "known", entry_id: int = 1, distance: int = 0) -> Match:
    return Match(bank=bank, entry_id=entry_id, signal_type="pdq", distance=distance)


def _record(
    records: RecordService,
    matches: list[Match],
    *,
    key: int | None = None,
    idem: str | None = None,
    meta: ScanMetadata = META,
) -> ScanRecord | None:
    return records.record_scan(
        api_key_id=key, idempotency_key=idem, metadata=meta, hashes=HASHES, content_type="image", matches=matches
    )


def _counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in Base.metadata.sorted_tables
        }


def _dump(db: Database, table: sa.Table) -> str:
    with db.engine.connect() as conn:
        return repr(conn.execute(sa.select(table)).all())


# --- the privacy promise -------------------------------------------------------------------------


def test_a_scan_without_matches_only_increments_the_counters(db: Database, records: RecordService, key_id: int) -> None:
    before = _counts(db)
    for i in range(3):
        meta = ScanMetadata(content_id=f"secret-content-{i}", account_id="secret-account", source="secret-source")
        assert _record(records, [], key=key_id, idem=f"idem-{i}", meta=meta) is None
    after = _counts(db)
    assert set(before) == {t.name for t in Base.metadata.sorted_tables}
    assert {name: n for name, n in after.items() if name != "scan_counters"} == {
        name: n for name, n in before.items() if name != "scan_counters"
    }
    assert after["scan_counters"] == before["scan_counters"] + 1
    # The counter row holds numbers and the content type only: nothing derived from the content.
    stored = " ".join(_dump(db, t) for t in Base.metadata.sorted_tables)
    for secret in ("secret", HASHES.pdq, HASHES.md5, HASHES.sha256, "idem-"):
        assert secret not in stored
    assert records.counters() == [
        {
            "day": datetime.now(UTC).date().isoformat(),
            "content_type": "image",
            "api_key_id": key_id,
            "scans": 3,
            "matched": 0,
        }
    ]


def test_a_matching_scan_stores_record_events_and_counts_in_one_go(
    db: Database, records: RecordService, key_id: int
) -> None:
    record = _record(records, [_match(entry_id=5, distance=3), _match("other", 9)], key=key_id, idem="r1")
    assert record is not None and not record.replayed
    assert [(m.bank, m.entry_id, m.distance) for m in record.matches] == [("known", 5, 3), ("other", 9, 0)]
    assert all(
        m.scan_id == record.id and m.account_id == "acct-7" and m.content_id == "upload-1" for m in record.matches
    )
    with db.engine.connect() as conn:
        scan = conn.execute(sa.select(scan_records_table)).one()
    assert (scan.pdq, scan.pdq_quality, scan.md5, scan.sha256) == (HASHES.pdq, 90, HASHES.md5, HASHES.sha256)
    assert scan.context == '{"ip_country":"NZ"}' and scan.api_key_id == key_id
    assert _counts(db)["match_events"] == 2
    (counter,) = records.counters()
    assert (counter["scans"], counter["matched"]) == (1, 1)
    assert record.as_dict()["matches"][0]["bank"] == "known"


def test_match_events_keep_the_bank_id_and_survive_bank_deletion(db: Database, records: RecordService) -> None:
    banks = BankService(db)
    bank = banks.create_bank("Known")
    record = _record(records, [_match("Known")])
    assert record is not None
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(match_events_table.c.bank_id)).scalar_one() == bank.id
    banks.delete_bank("Known")
    events, _ = records.list_matches(bank="Known")
    assert [e.id for e in events] == [record.matches[0].id]


def test_a_failed_insert_rolls_everything_back(db: Database, records: RecordService) -> None:
    before = _counts(db)
    with pytest.raises(ValidationError):
        records.record_scan(
            api_key_id=None,
            idempotency_key=None,
            metadata=META,
            hashes=HASHES,
            content_type="image",
            matches=[_match(), "not a match"],  # type: ignore[list-item]
        )
    assert _counts(db) == before


# --- idempotency ---------------------------------------------------------------------------------


def test_a_repeated_idempotency_key_replays_the_first_record_and_counts_once(
    db: Database, records: RecordService, key_id: int
) -> None:
    first = _record(records, [_match()], key=key_id, idem="same")
    again = _record(records, [_match(entry_id=2)], key=key_id, idem="same")
    assert first is not None and again is not None
    assert again.replayed and again.id == first.id and again.matches == first.matches
    assert _counts(db)["scan_records"] == 1
    assert records.counters()[0]["scans"] == 1
    assert records.lookup_idempotent(key_id, "same").id == first.id


def test_idempotency_keys_are_per_api_key(db: Database, records: RecordService, key_id: int) -> None:
    other = ApiKeyService(db).create("other", ["scan"])[1].id
    a = _record(records, [_match()], key=key_id, idem="k")
    b = _record(records, [_match()], key=other, idem="k")
    c = _record(records, [_match()], key=None, idem="k")
    d = _record(records, [_match()], key=None, idem="k")
    assert a is not None and b is not None and c is not None and d is not None
    assert len({a.id, b.id, c.id}) == 3 and d.replayed and d.id == c.id


def test_losing_the_insert_race_answers_with_the_winners_record(
    db: Database, records: RecordService, key_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    winner = _record(records, [_match()], key=key_id, idem="race")
    assert winner is not None
    real_find = RecordService._find
    calls: list[int] = []

    def find_misses_once(self: RecordService, *args: Any) -> ScanRecord | None:
        # The pre-insert check misses, as when the winner commits between our check and our insert.
        calls.append(1)
        return None if len(calls) == 1 else real_find(self, *args)

    monkeypatch.setattr(RecordService, "_find", find_misses_once)
    loser = _record(records, [_match()], key=key_id, idem="race")
    assert loser is not None and loser.replayed and loser.id == winner.id and len(calls) == 2
    assert _counts(db)["scan_records"] == 1 and records.counters()[0]["scans"] == 1


def test_lookup_of_an_unknown_idempotency_key_raises_not_found(records: RecordService, key_id: int) -> None:
    with pytest.raises(ScanRecordNotFoundError):
        records.lookup_idempotent(key_id, "never")


@pytest.mark.parametrize("anonymous", [False, True])
def test_concurrent_requests_with_one_idempotency_key_make_one_record(
    db: Database, records: RecordService, key_id: int, anonymous: bool
) -> None:
    barrier = threading.Barrier(4)
    results: list[ScanRecord | None] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(_record(records, [_match()], key=None if anonymous else key_id, idem="race"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.id for r in results if r is not None}) == 1
    assert sum(not r.replayed for r in results if r is not None) == 1
    assert _counts(db)["scan_records"] == 1 and records.counters()[0]["scans"] == 1


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"content_id": "x" * 257},
        {"account_id": 7},
        {"context": {"big": "x" * 17_000}},
        {"context": {"bad": object()}},
        {"context": {"nan": float("nan")}},
        {"context": ["not", "an", "object"]},
    ],
)
def test_scan_metadata_is_validated(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ScanMetadata(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("content_type", ""),
        ("content_type", "Image!"),
        ("idempotency_key", ""),
        ("idempotency_key", "x" * 257),
        ("api_key_id", 0),
        ("api_key_id", True),
    ],
)
def test_record_scan_arguments_are_validated(records: RecordService, field: str, value: object) -> None:
    kwargs: dict[str, object] = {
        "api_key_id": None,
        "idempotency_key": None,
        "metadata": META,
        "hashes": HASHES,
        "content_type": "image",
        "matches": [_match()],
    }
    kwargs[field] = value
    with pytest.raises(ValidationError):
        records.record_scan(**kwargs)  # type: ignore[arg-type]


# --- queries -------------------------------------------------------------------------------------


def test_list_matches_is_newest_first_and_filters(records: RecordService) -> None:
    _record(records, [_match("a", 1)], meta=ScanMetadata(account_id="x"))
    _record(records, [_match("b", 2), _match("a", 3)], meta=ScanMetadata(account_id="y"))
    events, cursor = records.list_matches()
    assert [e.entry_id for e in events] == [3, 2, 1] and cursor is None
    assert [e.entry_id for e in records.list_matches(bank="a")[0]] == [3, 1]
    assert [e.entry_id for e in records.list_matches(account_id="x")[0]] == [1]
    assert records.list_matches(bank="a", account_id="nobody")[0] == []


def test_list_matches_filters_by_time(records: RecordService) -> None:
    _record(records, [_match()])
    now = datetime.now(UTC)
    assert len(records.list_matches(since=now - timedelta(minutes=1))[0]) == 1
    assert records.list_matches(since=now + timedelta(minutes=1))[0] == []
    assert records.list_matches(until=now - timedelta(minutes=1))[0] == []
    assert len(records.list_matches(until=now + timedelta(minutes=1))[0]) == 1
    with pytest.raises(ValidationError):
        records.list_matches(since=datetime(2024, 1, 1))  # naive: refused


def test_list_matches_pages_by_cursor(records: RecordService) -> None:
    for i in range(7):
        _record(records, [_match(entry_id=i)])
    seen: list[int] = []
    cursor: int | None = None
    pages = 0
    while True:
        page, cursor = records.list_matches(limit=3, cursor=cursor)
        seen.extend(e.entry_id for e in page)
        pages += 1
        if cursor is None:
            break
    assert seen == [6, 5, 4, 3, 2, 1, 0] and pages == 3


@pytest.mark.parametrize("limit", [0, 1001, True])
def test_list_matches_refuses_bad_limits(records: RecordService, limit: int) -> None:
    with pytest.raises(ValidationError):
        records.list_matches(limit=limit)


def test_counters_aggregate_by_day_type_and_key(db: Database, records: RecordService, key_id: int) -> None:
    _record(records, [], key=key_id)
    _record(records, [_match()], key=key_id)
    _record(records, [], key=None)
    records.record_scan(
        api_key_id=None, idempotency_key=None, metadata=META, hashes=HASHES, content_type="video", matches=[]
    )
    today = datetime.now(UTC).date()
    rows = records.counters(since=today, until=today)
    assert [(r["content_type"], r["api_key_id"], r["scans"], r["matched"]) for r in rows] == [
        ("image", None, 1, 0),
        ("image", key_id, 2, 1),
        ("video", None, 1, 0),
    ]
    assert records.counters(since=today + timedelta(days=1)) == []
    assert records.counters(until=date(2000, 1, 1)) == []
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(scan_counters_table)).scalar_one() == 3
