"""The database layer: URLs, connections, sessions and migrations on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from brightline.errors import ConfigurationError, StoreError
from brightline.store import Bank, Base, Database, ensure_schema
from brightline.store.models import banks_table

TABLES = {
    "alembic_version",
    "banks",
    "bank_entries",
    "entry_tombstones",
    "store_state",
    "api_keys",
    "scan_records",
    "match_events",
    "scan_counters",
    "cases",
    "case_events",
}


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        database.dispose()


def _tables(db: Database) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_fresh_database_has_no_schema(db: Database) -> None:
    assert db.schema_revision() is None
    assert _tables(db) == set()


def test_upgrade_creates_every_table_at_head(db: Database) -> None:
    db.upgrade()
    # Every mapped table, and no other: helpers' modules register theirs on Base.metadata.
    assert _tables(db) == {"alembic_version", *Base.metadata.tables}
    assert _tables(db) >= TABLES
    assert db.schema_revision() == db.head_revision()
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id, revision, pruned_through FROM store_state")).all() == [(1, 0, 0)]


def test_upgrade_is_idempotent(db: Database) -> None:
    db.upgrade()
    db.upgrade()
    ensure_schema(db)
    assert db.schema_revision() == db.head_revision()
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM store_state")).scalar() == 1


def test_concurrent_upgrades_do_not_collide(database_url: str) -> None:
    databases = [Database(database_url) for _ in range(3)]
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(Database.upgrade, databases))
        assert databases[0].schema_revision() == databases[0].head_revision()
        with databases[0].engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM store_state")).scalar() == 1
    finally:
        for database in databases:
            database.dispose()


def test_ensure_schema_upgrades_a_fresh_database(db: Database) -> None:
    db.ensure_schema()
    assert db.schema_revision() == db.head_revision()


def test_ensure_schema_refuses_a_newer_database(db: Database) -> None:
    db.upgrade()
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    with pytest.raises(StoreError, match="newer than this brightline"):
        db.ensure_schema()


def test_migrations_match_the_models(db: Database) -> None:
    db.upgrade()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_session_commits_on_success_and_rolls_back_on_error(db: Database) -> None:
    db.upgrade()
    now = datetime.now(UTC)
    with db.session() as session:
        session.add(Bank(name="kept", name_key="kept", created_at=now, updated_at=now))

    def failing_write() -> None:
        with db.session() as session:
            session.add(Bank(name="lost", name_key="lost", created_at=now, updated_at=now))
            session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        failing_write()
    with db.session() as session:
        assert session.scalars(sa.select(Bank.name)).all() == ["kept"]


def test_timestamps_come_back_timezone_aware_utc(db: Database) -> None:
    db.upgrade()
    local = datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    with db.session() as session:
        session.add(Bank(name="t", name_key="t", created_at=local, updated_at=local))
    with db.session() as session:
        bank = session.scalars(sa.select(Bank)).one()
    assert bank.created_at.tzinfo is not None
    assert bank.created_at.utcoffset() == timedelta(0)
    assert bank.created_at == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def test_naive_timestamps_are_refused(db: Database) -> None:
    db.upgrade()
    naive = datetime(2024, 1, 1)
    stmt = sa.insert(banks_table).values(name="n", name_key="n", created_at=naive, updated_at=naive)
    with db.engine.begin() as conn, pytest.raises(sa.exc.StatementError, match="naive datetime"):
        conn.execute(stmt)


def test_bank_delete_cascades_to_entries_in_the_database(db: Database) -> None:
    db.upgrade()
    with db.engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO banks (id, name, name_key, created_at, updated_at) VALUES (1, 'b', 'b', :t, :t)"),
            {"t": "2024-01-01 00:00:00"},
        )
        conn.execute(
            sa.text(
                "INSERT INTO bank_entries (bank_id, signal_type, value, value_key, added_at, updated_at) "
                "VALUES (1, 'md5', :v, :k, :t, :t)"
            ),
            {"v": "0" * 32, "k": "0" * 32, "t": "2024-01-01 00:00:00"},
        )
        conn.execute(sa.text("DELETE FROM banks WHERE id = 1"))
        assert conn.execute(sa.text("SELECT count(*) FROM bank_entries")).scalar() == 0


# --- SQLite specifics ---------------------------------------------------------------------


def test_sqlite_creates_the_parent_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "brightline.db"
    db = Database(f"sqlite:///{path}")
    try:
        db.upgrade()
    finally:
        db.dispose()
    assert path.is_file()


def test_sqlite_enables_foreign_keys_and_wal(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        db.dispose()


def test_sqlite_reads_in_a_transaction_are_repeatable(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        db.upgrade()
        with db.session() as reader:
            before = reader.execute(sa.text("SELECT revision FROM store_state")).scalar()
            with db.engine.begin() as writer:
                writer.execute(sa.text("UPDATE store_state SET revision = revision + 1"))
            again = reader.execute(sa.text("SELECT revision FROM store_state")).scalar()
        assert before == again == 0
    finally:
        db.dispose()


def test_using_a_database_before_upgrade_is_a_store_error(db: Database) -> None:
    with pytest.raises(StoreError, match="brightline db upgrade"), db.session() as session:
        session.execute(sa.select(Bank))


def test_unreachable_server_is_a_store_error() -> None:
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    try:
        with pytest.raises(StoreError, match="database error"):
            db.schema_revision()
        with pytest.raises(StoreError, match="database error"):
            db.upgrade()
    finally:
        db.dispose()


@pytest.mark.parametrize("url", ["mysql://u@h/db", "nonsense", "oracle://x"])
def test_unsupported_or_malformed_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        Database(url)


def test_repr_hides_the_password() -> None:
    db = Database("postgresql+psycopg://user:secret@localhost/db")
    try:
        assert "secret" not in repr(db)
    finally:
        db.dispose()


# --- PostgreSQL specifics -----------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_tables_and_version_table_land_in_the_url_schema(database_url: str) -> None:
    schema = database_url.rsplit("%3D", 1)[1]
    db = Database(database_url)
    try:
        db.upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT table_schema, table_name FROM information_schema.tables WHERE table_name = ANY(:names)"
                ),
                {"names": sorted(TABLES)},
            ).all()
    finally:
        db.dispose()
    assert {name for s, name in rows if s == schema} == TABLES
    assert not [s for s, _ in rows if s == "public"]


@pytest.fixture
def missing_schema_url(database_url: str) -> Iterator[tuple[str, str]]:
    """A PostgreSQL URL whose search_path names a schema that does not exist yet."""
    base = database_url.split("?", 1)[0]
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{base}?options=-csearch_path%3D{schema}", schema
    finally:
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_upgrade_creates_a_missing_search_path_schema(missing_schema_url: tuple[str, str]) -> None:
    url, schema = missing_schema_url
    db = Database(url)
    try:
        db.upgrade()
        assert db.schema_revision() == db.head_revision()
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT current_schema()").scalar() == schema
            assert set(sa.inspect(conn).get_table_names(schema=schema)) == {"alembic_version", *Base.metadata.tables}
    finally:
        db.dispose()
