"""The audit log: appends chain by hash, concurrent writers never fork it, and verify finds tampering."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from brightline.errors import AuditError
from brightline.store.audit import GENESIS_HASH, AuditLog, append_audit, record_hash
from brightline.store.db import Database
from brightline.store.models_audit import audit_table

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _fill(db: Database, n: int) -> None:
    with db.write_connection() as conn:
        for i in range(1, n + 1):
            append_audit(
                conn,
                actor=f"api_key:{i}",
                action="case.viewed",
                subject=f"case:{i}",
                details={"case_id": i},
                at=T0 + timedelta(seconds=i),
            )


def test_appends_chain_each_record_to_the_one_before(db: Database) -> None:
    log = AuditLog(db)
    first = log.append(actor="cli", action="key.created", subject="key:1", details={"key_id": 1, "name": "a"})
    second = log.append(actor="cli", action="key.revoked", subject="key:1", details={"key_id": 1})
    assert (first.id, second.id) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert second.hash == record_hash(
        id=2,
        created_at=second.created_at,
        actor="cli",
        action="key.revoked",
        subject="key:1",
        details={"key_id": 1},
        prev_hash=first.hash,
    )
    assert log.head() == (2, second.hash)
    assert log.records() == [first, second]


def test_an_empty_log_has_the_genesis_head(db: Database) -> None:
    assert AuditLog(db).head() == (0, GENESIS_HASH)


def test_the_event_rolls_back_with_the_change_it_describes(db: Database) -> None:
    def failing_change() -> None:
        with db.write_connection() as conn:
            append_audit(conn, actor="cli", action="key.created", details={"key_id": 9})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    log = AuditLog(db)
    assert log.count() == 0
    assert log.append(actor="cli", action="key.created").id == 1


def test_records_filter_by_id_action_and_time(db: Database) -> None:
    _fill(db, 5)
    with db.write_connection() as conn:
        append_audit(conn, actor="cli", action="case.decided", details={"case_id": 1}, at=T0 + timedelta(seconds=6))
    log = AuditLog(db)
    assert [r.id for r in log.records(since_id=3)] == [4, 5, 6]
    assert [r.id for r in log.records(limit=2)] == [1, 2]
    assert [r.id for r in log.records(action="case.decided")] == [6]
    assert log.count(action="case.*") == 6
    assert log.count(action="case.viewed", since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=4)) == 2


@pytest.mark.parametrize(
    "details",
    [{"blob": b"\x89PNG"}, {"password": "hunter2"}, {"nested": [{"secret": "x"}]}, {"when": datetime.now(UTC)}],
)
def test_details_refuse_bytes_secrets_and_non_json(db: Database, details: dict[str, object]) -> None:
    with pytest.raises(AuditError):
        AuditLog(db).append(actor="cli", action="x.y", details=details)
    assert AuditLog(db).count() == 0


def test_concurrent_appends_never_fork_the_chain(db: Database) -> None:
    log = AuditLog(db)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                log.append(actor=f"worker:{n}", action="case.viewed", details={"i": i})
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    records = log.records()
    assert [r.id for r in records] == list(range(1, 41))
    for before, after in itertools.pairwise(records):
        assert after.prev_hash == before.hash
    assert log.head() == (40, records[-1].hash)
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_table)).scalar_one() == 40
