"""Database connections, sessions and schema migrations (SQLite by default, PostgreSQL alike)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError as AlembicCommandError
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from brightline.errors import ConfigurationError, StoreError
from brightline.store.write_gate import WriteGate

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SUPPORTED_DIALECTS = ("sqlite", "postgresql")
# Execution option marking write sessions: on SQLite they BEGIN IMMEDIATE, taking the write
# lock up front so a read-then-write transaction cannot fail half-way with "database is locked".
_WRITE_OPTION = "brightline_write"
# First key of the PostgreSQL advisory lock that serialises concurrent migrations.
_MIGRATION_LOCK_KEY = 0x6272_6C6E  # "brln"
_SQLITE_BUSY_TIMEOUT_S = 30.0


def _parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"malformed database URL: {exc}") from None
    if parsed.get_backend_name() not in SUPPORTED_DIALECTS:
        raise ConfigurationError(
            f"unsupported database {parsed.get_backend_name()!r} (use one of: {', '.join(SUPPORTED_DIALECTS)})"
        )
    return parsed


def _sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL points at, or None for in-memory and URI-style databases."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module (it would skip BEGIN before SELECTs,
    # breaking repeatable reads); the "begin" hook below emits BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(_SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        _use_wal(cursor)
        # In WAL mode NORMAL never corrupts the file; it only risks the last commits on power loss.
        cursor.execute("PRAGMA synchronous = NORMAL")
        # 64 MiB page cache (default 2 MiB): a million-entry bank's unique index is ~100 MiB.
        cursor.execute("PRAGMA cache_size = -65536")
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL once; it persists, so later connections find it already set."""
    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_S
    while True:
        mode = str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if mode in ("wal", "memory"):
            return
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            # Changing the journal mode needs the file to itself and does not wait on the busy
            # timeout: when several connections open a brand-new file at once, retry briefly.
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _on_sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE_OPTION) else "BEGIN")


def _describe(exc: sa.exc.DBAPIError) -> str:
    text = str(exc.orig if exc.orig is not None else exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if "no such table" in first or ("relation" in first and "does not exist" in first):
        first += " (has `brightline db upgrade` been run?)"
    return first


@contextmanager
def _store_errors() -> Iterator[None]:
    """Turn driver failures (unreachable server, locked file, missing table) into StoreError."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
        raise StoreError(f"database error: {_describe(exc)}") from exc


class Database:
    """One database: an engine, sessions and migrations. Create one per process and reuse it."""

    def __init__(self, url: str) -> None:
        self.url = _parse_url(url)
        self.dialect_name = self.url.get_backend_name()
        kwargs: dict[str, Any] = {"future": True}
        self._gate: WriteGate | None = None
        if self.dialect_name == "sqlite":
            path = _sqlite_file(self.url)
            if path is not None:
                path.expanduser().parent.mkdir(parents=True, exist_ok=True)
                if WriteGate.supported():
                    self._gate = WriteGate(path.expanduser(), timeout_s=_SQLITE_BUSY_TIMEOUT_S)
            kwargs["connect_args"] = {"timeout": _SQLITE_BUSY_TIMEOUT_S}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self._engine = sa.create_engine(self.url, **kwargs)
        except NoSuchModuleError as exc:
            raise ConfigurationError(f"no driver for database URL: {exc}") from None
        except ImportError as exc:
            raise ConfigurationError(f"database driver not installed: {exc}") from None
        if self.dialect_name == "sqlite":
            sa.event.listen(self._engine, "connect", _on_sqlite_connect)
            sa.event.listen(self._engine, "begin", _on_sqlite_begin)
        self._write_engine = self._engine.execution_options(**{_WRITE_OPTION: True})
        # Snapshot reads: SQLite transactions already are; PostgreSQL's default READ COMMITTED is not.
        self._snapshot_engine = (
            self._engine.execution_options(isolation_level="REPEATABLE READ")
            if self.dialect_name == "postgresql"
            else self._engine
        )
        self._sessions = sessionmaker(bind=self._engine, expire_on_commit=False)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine."""
        return self._engine

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def session(self, *, write: bool = False, snapshot: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error.

        ``write`` takes SQLite's write lock at BEGIN; ``snapshot`` makes every read in the
        transaction see the same committed state (REPEATABLE READ on PostgreSQL).
        """
        bind = self._write_engine if write else self._snapshot_engine if snapshot else self._engine
        with _store_errors(), self._writer(write):
            session = self._sessions(bind=bind)
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A Core connection in one write transaction (committed on success)."""
        with _store_errors(), self._writer(True), self._write_engine.begin() as conn:
            yield conn

    def _writer(self, write: bool) -> AbstractContextManager[object]:
        """The SQLite write gate for a write transaction (see store/write_gate.py); nothing otherwise."""
        return self._gate.hold() if write and self._gate is not None else nullcontext()

    def _alembic_config(self, conn: Connection | None = None) -> Config:
        config = Config()
        # ConfigParser interpolates "%"; escape it in case the install path holds one.
        config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
        config.set_main_option("sqlalchemy.url", self.url.render_as_string(hide_password=False).replace("%", "%%"))
        if conn is not None:
            config.attributes["connection"] = conn
        return config

    def head_revision(self) -> str:
        """The newest migration shipped with this version of brightline."""
        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        if head is None:
            raise StoreError("no database migrations are packaged with brightline")
        return head

    def schema_revision(self) -> str | None:
        """The migration the database is at; None when it holds no brightline schema yet."""
        with _store_errors(), self._engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def upgrade(self) -> None:
        """Apply every pending migration (a no-op when the schema is current)."""
        with self.write_connection() as conn:
            if self.dialect_name == "postgresql":
                self._prepare_postgresql(conn)
            # The connection already holds a transaction, so alembic runs inside it: all or nothing.
            command.upgrade(self._alembic_config(conn), "head")

    def _prepare_postgresql(self, conn: Connection) -> None:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
        if schema is None:
            # search_path names only schemas that do not exist yet: create the first one, so the
            # tables and alembic's version table land where the URL asked.
            path = str(conn.exec_driver_sql("SHOW search_path").scalar() or "")
            first = path.split(",")[0].strip().strip('"')
            if not first or first == "$user":
                raise ConfigurationError(f"PostgreSQL search_path {path!r} names no usable schema")
            conn.execute(sa.schema.CreateSchema(first, if_not_exists=True))
            schema = first
        # Two processes starting at once must not both run the same migrations.
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(CAST(:key AS integer), hashtext(:schema))"),
            {"key": _MIGRATION_LOCK_KEY, "schema": schema},
        )

    def ensure_schema(self) -> None:
        """Upgrade only when the schema is behind; cheap enough to call at every start."""
        current = self.schema_revision()
        head = self.head_revision()
        if current == head:
            return
        if current is not None and not self._knows_revision(current):
            raise StoreError(
                f"database schema {current!r} is newer than this brightline ({head!r}); upgrade brightline"
            )
        self.upgrade()

    def _knows_revision(self, revision: str) -> bool:
        try:
            ScriptDirectory.from_config(self._alembic_config()).get_revision(revision)
        except AlembicCommandError:
            return False
        return True

    def dispose(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()


def ensure_schema(db: Database) -> None:
    """Bring ``db`` to the newest schema if it is behind (idempotent and cheap when current)."""
    db.ensure_schema()
