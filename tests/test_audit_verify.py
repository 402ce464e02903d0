"""Verifying the audit chain: every kind of tampering is caught at the right record; anchors; export; CLI."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from brightline.cli import app
from brightline.errors import AuditError
from brightline.privacy.audit import anchor, export_jsonl, read_anchors, read_jsonl, verify, verify_records
from brightline.store.audit import AuditLog, append_audit, record_hash
from brightline.store.db import Database
from brightline.store.models_audit import audit_table

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
KEY = b"k" * 32


def _fill(db: Database, n: int = 6) -> None:
    with db.write_connection() as conn:
        for i in range(1, n + 1):
            append_audit(
                conn,
                actor=f"reviewer:r{i}",
                action="case.viewed",
                subject=f"case:{i}",
                details={"case_id": i},
                at=T0 + timedelta(seconds=i),
            )


def _sql(db: Database, statement: sa.Executable) -> None:
    with db.engine.begin() as conn:
        conn.execute(statement)


def _row(db: Database, record_id: int) -> dict[str, object]:
    with db.engine.connect() as conn:
        return dict(conn.execute(sa.select(audit_table).where(audit_table.c.id == record_id)).mappings().one())


def test_a_clean_chain_verifies(db: Database) -> None:
    _fill(db)
    result = verify(db)
    assert result.ok and result.checked == 6 and result.first_broken_id is None
    assert result.head_id == 6 and result.head_hash == AuditLog(db).head()[1]


def test_an_empty_chain_verifies(db: Database) -> None:
    assert verify(db).ok


def test_a_changed_details_field_breaks_at_that_record(db: Database) -> None:
    _fill(db)
    _sql(db, audit_table.update().where(audit_table.c.id == 3).values(details='{"case_id":99}'))
    result = verify(db)
    assert not result.ok and result.first_broken_id == 3 and result.checked == 2
    assert "changed" in result.reason


def test_a_changed_actor_breaks_at_that_record(db: Database) -> None:
    _fill(db)
    _sql(db, audit_table.update().where(audit_table.c.id == 5).values(actor="reviewer:someone-else"))
    assert verify(db).first_broken_id == 5


def test_a_rehashed_change_breaks_at_the_next_link(db: Database) -> None:
    _fill(db)
    row = _row(db, 2)
    forged = record_hash(
        id=2,
        created_at=T0 + timedelta(seconds=2),
        actor="cli",
        action="case.viewed",
        subject="case:2",
        details={"case_id": 2},
        prev_hash=str(row["prev_hash"]),
    )
    _sql(db, audit_table.update().where(audit_table.c.id == 2).values(actor="cli", hash=forged))
    result = verify(db)
    assert result.first_broken_id == 3 and "does not follow record 2" in result.reason


def test_a_deleted_middle_row_breaks_at_the_gap(db: Database) -> None:
    _fill(db)
    _sql(db, audit_table.delete().where(audit_table.c.id == 4))
    result = verify(db)
    assert result.first_broken_id == 4 and "missing" in result.reason


def test_a_deleted_last_row_is_caught_by_the_head(db: Database) -> None:
    _fill(db)
    _sql(db, audit_table.delete().where(audit_table.c.id == 6))
    result = verify(db)
    assert result.first_broken_id == 6 and "head" in result.reason


def test_a_row_inserted_in_the_middle_is_named(db: Database) -> None:
    _fill(db)
    # Shift records 4.. up by one (highest first, for the primary key) and slip a well-formed one in.
    for record_id in (6, 5, 4):
        _sql(db, audit_table.update().where(audit_table.c.id == record_id).values(id=record_id + 1))
    prev = str(_row(db, 3)["hash"])
    moment = T0 + timedelta(seconds=3, milliseconds=500)
    fields = {"actor": "cli", "action": "case.viewed", "subject": "case:7", "prev_hash": prev}
    digest = record_hash(id=4, created_at=moment, details={}, **fields)
    _sql(db, audit_table.insert().values(id=4, created_at=moment, details="{}", hash=digest, **fields))
    result = verify(db)
    assert result.first_broken_id == 4 and "inserted" in result.reason


def test_a_row_appended_behind_the_heads_back_is_named(db: Database) -> None:
    _fill(db)
    prev = str(_row(db, 6)["hash"])
    fields = {"actor": "cli", "action": "case.viewed", "subject": "", "prev_hash": prev}
    digest = record_hash(id=7, created_at=T0, details={}, **fields)
    _sql(db, audit_table.insert().values(id=7, created_at=T0, details="{}", hash=digest, **fields))
    result = verify(db)
    assert result.first_broken_id == 7 and "beyond the head" in result.reason


def test_two_swapped_rows_break_at_the_first_of_them(db: Database) -> None:
    _fill(db)
    _sql(db, audit_table.update().where(audit_table.c.id == 3).values(id=-3))
    _sql(db, audit_table.update().where(audit_table.c.id == 4).values(id=3))
    _sql(db, audit_table.update().where(audit_table.c.id == -3).values(id=4))
    result = verify(db)
    assert result.first_broken_id == 3


def test_verify_streams_past_one_chunk(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("brightline.privacy.audit.CHUNK", 4)
    _fill(db, 10)
    _sql(db, audit_table.update().where(audit_table.c.id == 9).values(subject="case:x"))
    result = verify(db)
    assert result.first_broken_id == 9 and result.checked == 8


def test_an_anchor_catches_a_fully_rewritten_chain(db: Database) -> None:
    _fill(db, 3)
    kept = anchor(db, key=KEY)
    assert kept["id"] == 3 and kept["count"] == 3 and kept["hash"] == AuditLog(db).head()[1]
    assert verify(db, anchors=[kept], key=KEY).ok
    # Rewrite the whole log consistently (head included): only the anchor can tell.
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log"))
        conn.execute(sa.text("DELETE FROM audit_head"))
    with db.write_connection() as conn:
        for i in range(1, 4):
            append_audit(conn, actor="cli", action="case.viewed", details={"case_id": i}, at=T0)
    assert verify(db).ok
    result = verify(db, anchors=[kept], key=KEY)
    assert result.first_broken_id == 3 and "anchor" in result.reason


def test_an_anchor_past_the_end_of_a_truncated_chain_fails(db: Database) -> None:
    _fill(db, 3)
    kept = anchor(db)
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log"))
        conn.execute(sa.text("DELETE FROM audit_head"))
    assert verify(db, anchors=[kept]).first_broken_id == 3


def test_a_forged_anchor_signature_is_refused(db: Database) -> None:
    _fill(db, 2)
    kept = anchor(db, key=KEY)
    with pytest.raises(AuditError, match="signature"):
        verify(db, anchors=[{**kept, "count": 5}], key=KEY)
    with pytest.raises(AuditError, match="signature"):
        verify(db, anchors=[anchor(db)], key=KEY)


def test_export_round_trips_and_verifies_offline(db: Database) -> None:
    _fill(db, 5)
    out = io.StringIO()
    assert export_jsonl(db, out) == 5
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [1, 2, 3, 4, 5]
    records = list(read_jsonl(lines))
    assert records == AuditLog(db).records()
    assert verify_records(records).ok
    tampered = [*records[:2], records[3], records[4]]
    assert verify_records(tampered).first_broken_id == 3
    tail = io.StringIO()
    assert export_jsonl(db, tail, since_id=3) == 2


def test_read_anchors_accepts_an_object_a_list_or_lines() -> None:
    item = {"id": 1, "hash": "a" * 64, "created_at": "2026-01-01T00:00:00+00:00", "count": 1}
    text = json.dumps(item)
    assert read_anchors(text) == [item]
    assert read_anchors(json.dumps([item, item])) == [item, item]
    assert read_anchors(text + "\n" + text + "\n") == [item, item]
    with pytest.raises(AuditError):
        read_anchors('{"id": 1}')


# --- CLI ----------------------------------------------------------------------------


@pytest.fixture
def cli_db(tmp_path: Path, db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("BRIGHTLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BRIGHTLINE_DATABASE_URL", database_url)
    return db


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cli_verify_exits_0_on_a_clean_chain_and_1_naming_the_broken_record(cli_db: Database) -> None:
    _fill(cli_db, 4)
    code, out, _ = run("audit", "verify")
    assert code == 0 and "intact" in out
    _sql(cli_db, audit_table.delete().where(audit_table.c.id == 2))
    code, _, err = run("audit", "verify")
    assert code == 1 and "record 2" in err
    code, out, _ = run("audit", "verify", "--json")
    assert code == 1 and json.loads(out)["first_broken_id"] == 2


def test_cli_anchor_then_verify_with_it(cli_db: Database, tmp_path: Path) -> None:
    _fill(cli_db, 3)
    path = tmp_path / "anchor.json"
    code, _, _ = run("audit", "anchor", "-o", str(path))
    # Record 4 is the settings.loaded record the first command wrote.
    assert code == 0 and json.loads(path.read_text())["id"] == 4 and "hmac" in json.loads(path.read_text())
    assert run("audit", "verify", "--anchor", str(path))[0] == 0
    _sql(cli_db, audit_table.update().where(audit_table.c.id == 3).values(subject="x"))
    assert run("audit", "verify", "--anchor", str(path))[0] == 1
    path.write_text(json.dumps({**json.loads(path.read_text()), "id": 2}))
    code, _, err = run("audit", "verify", "--anchor", str(path))
    assert code == 2 and "signature" in err


def test_cli_export_and_tail(cli_db: Database, tmp_path: Path) -> None:
    _fill(cli_db, 5)
    code, out, _ = run("audit", "export", "--since-id", "3")
    lines = [json.loads(line) for line in out.splitlines()]
    # The first command run against the database records the settings it runs with.
    assert code == 0 and [(r["id"], r["action"]) for r in lines] == [
        (4, "case.viewed"),
        (5, "case.viewed"),
        (6, "settings.loaded"),
    ]
    target = tmp_path / "audit.jsonl"
    assert run("audit", "export", "-o", str(target))[0] == 0
    assert len(target.read_text().splitlines()) == 6
    code, out, _ = run("audit", "tail", "-n", "2", "--json")
    assert code == 0 and [json.loads(line)["id"] for line in out.splitlines()] == [5, 6]
    code, out, _ = run("audit", "tail")
    assert code == 0 and "case.viewed" in out
