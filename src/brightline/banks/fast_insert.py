"""Bulk insert of many fixed-width hex hashes into one bank, without a Python object per row.

The caller hands over packed values, distinct and sorted (so the unique index is walked
once, in order). Values become hex text with numpy and reach the database in big pieces:

* SQLite: one ``INSERT ... SELECT ... FROM json_each(?)`` per chunk of rows (SQLite splits
  the JSON array in C, far faster than executemany binding each row);
* PostgreSQL: ``COPY`` straight into bank_entries when the bank holds no value of this type
  yet (nothing can conflict), else into a temporary table and then one ``INSERT ... SELECT``.
  For big imports the foreign keys of bank_entries are dropped first and re-added (re-checked
  in one join) before commit, as PostgreSQL's guide to populating a database advises: the
  per-row check would otherwise cost more than the insert. When the table holds no more rows
  than the import, its other indexes (the unique one included) are rebuilt the same way.
  This holds an exclusive lock on bank_entries and banks until the import commits; smaller
  imports keep the row-by-row checks.

Both use ON CONFLICT DO NOTHING on (signal_type, value_key, bank_id), like EntryInserter,
and return how many rows were new.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from brightline.errors import StoreError
from brightline.store.models import UTCDateTime, entries_table, utcnow

# Rows per SQLite statement (a few MB of JSON each).
SQLITE_CHUNK = 100_000
# Rows per COPY write.
COPY_CHUNK = 1 << 18
# PostgreSQL imports of at least this many rows swap per-row foreign-key checks for one check at the end.
BULK_FK_MIN = 100_000
_STAGE = "brightline_import_stage"
_CONFLICT_COLUMNS = ["signal_type", "value_key", "bank_id"]

Codes = npt.NDArray[np.uint8]


def _hex_rows(codes: Codes, start: bytes, end: bytes, *, twice: bool = False) -> Iterator[tuple[int, bytes]]:
    """(row count, bytes) pieces: each value's lower-case hex framed by ``start`` and ``end``.

    ``twice`` writes ``hex<TAB>hex`` (the value and its unique key, for COPY).
    """
    chunk = SQLITE_CHUNK if start else COPY_CHUNK
    width = codes.shape[1] * 2
    for lo in range(0, codes.shape[0], chunk):
        block = codes[lo : lo + chunk]
        digits = np.frombuffer(block.tobytes().hex().encode("ascii"), dtype=np.uint8).reshape(block.shape[0], width)
        body = width * 2 + 1 if twice else width
        out = np.empty((block.shape[0], len(start) + body + len(end)), dtype=np.uint8)
        out[:, : len(start)] = np.frombuffer(start, dtype=np.uint8)
        out[:, len(start) : len(start) + width] = digits
        if twice:
            out[:, len(start) + width] = ord("\t")
            out[:, len(start) + width + 1 : len(start) + body] = digits
        out[:, len(start) + body :] = np.frombuffer(end, dtype=np.uint8)
        yield block.shape[0], out.tobytes()


def _select(source_rows: Any, value: sa.ColumnElement[Any], shared: dict[str, Any]) -> sa.Select[Any]:
    """The rows to insert: each incoming value with the values shared by every row."""
    text = sa.String()
    return sa.select(
        sa.literal(shared["signal_type"], text),
        value,
        sa.literal(shared["source"], text),
        sa.literal("", text),
        sa.literal(shared["domain"], text),
        sa.null(),
        sa.true(),
        value,
        sa.literal(shared["bank_id"], sa.Integer()),
        sa.literal(shared["revision"], sa.BigInteger()),
        sa.literal(shared["now"], UTCDateTime()),
        sa.literal(shared["now"], UTCDateTime()),
    ).select_from(source_rows)


_COLUMNS = [
    "signal_type",
    "value",
    "source",
    "category",
    "domain",
    "note",
    "enabled",
    "value_key",
    "bank_id",
    "revision",
    "added_at",
    "updated_at",
]


def insert_hashes(
    conn: Connection, *, bank_id: int, bank_domain: str, revision: int, signal_type: str, codes: Codes, source: str
) -> int:
    """Insert ``codes`` (distinct, sorted rows) as enabled entries of one bank; returns how many were new."""
    shared = {
        "signal_type": signal_type,
        "source": source,
        "domain": bank_domain,
        "bank_id": bank_id,
        "revision": revision,
        "now": utcnow(),
    }
    if conn.dialect.name == "sqlite":
        return _insert_sqlite(conn, codes, shared)
    if conn.dialect.name == "postgresql":
        return _insert_postgresql(conn, codes, shared)
    raise StoreError(f"bulk insert is not supported on {conn.dialect.name!r}")


def _insert_sqlite(conn: Connection, codes: Codes, shared: dict[str, Any]) -> int:
    rows = sa.func.json_each(sa.bindparam("values", type_=sa.String())).table_valued("value")
    # WHERE true: SQLite's grammar needs it between INSERT ... SELECT and ON CONFLICT.
    select = _select(rows, rows.c.value, shared).where(sa.true())
    stmt = (
        sqlite.insert(entries_table)
        .from_select(_COLUMNS, select)
        .on_conflict_do_nothing(index_elements=_CONFLICT_COLUMNS)
    )
    added = 0
    for _, piece in _hex_rows(codes, b'"', b'",'):
        values = "[" + piece[:-1].decode("ascii") + "]"
        added += conn.execution_options(preserve_rowcount=True).execute(stmt, {"values": values}).rowcount
    return added


def _foreign_keys(conn: Connection) -> list[tuple[str, str]]:
    """(name, definition) of each foreign key of bank_entries."""
    rows = conn.execute(
        sa.text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = CAST(:table AS regclass) AND contype = 'f' ORDER BY conname"
        ),
        {"table": entries_table.name},
    )
    return [(str(name), str(definition)) for name, definition in rows]


def _copy_text(value: object) -> str:
    """``value`` in COPY's text format (backslash escapes for the characters it treats specially)."""
    if value is None:
        return "\\N"
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _holds_type(conn: Connection, shared: dict[str, Any]) -> bool:
    """Whether the bank already holds any entry of the signal type (so conflicts are possible)."""
    cols = entries_table.c
    stmt = sa.select(cols.id).where(cols.bank_id == shared["bank_id"], cols.signal_type == shared["signal_type"])
    return conn.execute(stmt.limit(1)).first() is not None


def _insert_postgresql(conn: Connection, codes: Codes, shared: dict[str, Any]) -> int:
    quote = conn.dialect.identifier_preparer.quote
    table = quote(entries_table.name)
    driver = conn.connection.driver_connection
    if driver is None:
        raise StoreError("no database connection for the bulk insert")
    keys = _foreign_keys(conn) if codes.shape[0] >= BULK_FK_MIN else []
    for name, _ in keys:
        conn.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}")
    if _holds_type(conn, shared):
        added = _stage_and_insert(conn, driver, codes, shared)
    else:
        # Into a table no bigger than the import, building the other indexes afresh (one sort
        # each) beats updating them row by row; the unique one is re-checked as it is built.
        rebuilt = _secondary_indexes(conn) if keys and _rows_at_most(conn, codes.shape[0]) else []
        for name, _, constraint in rebuilt:
            conn.exec_driver_sql(
                f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}" if constraint else f"DROP INDEX {quote(name)}"
            )
        added = _copy_direct(conn, driver, codes, shared)
        if rebuilt:
            conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        for name, definition, constraint in rebuilt:
            conn.exec_driver_sql(
                f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}" if constraint else definition
            )
    for name, definition in keys:
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}")
    if keys:
        # Fresh statistics (a sample, about a second): the next reads, such as the index build
        # after this import, would otherwise be planned for a table a fraction of its size.
        conn.exec_driver_sql(f"ANALYZE {table}")
    return added


def _copy_direct(conn: Connection, driver: Any, codes: Codes, shared: dict[str, Any]) -> int:
    """COPY distinct values, none already in the bank, straight into bank_entries (batched heap writes)."""
    now = shared["now"]
    constants = [shared["signal_type"], shared["source"], "", shared["domain"], "t", shared["bank_id"]]
    suffix = "\t".join(_copy_text(v) for v in [*constants, shared["revision"], now, now])
    columns = ", ".join(["value", "value_key", "signal_type", "source", "category", "domain", "enabled", *_COLUMNS[8:]])
    table = conn.dialect.identifier_preparer.quote(entries_table.name)
    with driver.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for _, piece in _hex_rows(codes, b"", ("\t" + suffix + "\n").encode(), twice=True):
                copy.write(piece)
        return int(cursor.rowcount)


def _rows_at_most(conn: Connection, limit: int) -> bool:
    """Whether bank_entries holds at most ``limit`` rows (reads no more than that many)."""
    probe = sa.select(sa.literal(1)).select_from(entries_table).limit(limit + 1).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(probe)).scalar_one()) <= limit


def _secondary_indexes(conn: Connection) -> list[tuple[str, str, bool]]:
    """(name, definition, is a constraint) of each index of bank_entries but its primary key."""
    rows = conn.execute(
        sa.text(
            "SELECT coalesce(c.conname, i.relname),"
            " coalesce(pg_get_constraintdef(c.oid), pg_get_indexdef(x.indexrelid)), c.oid IS NOT NULL"
            " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid"
            " AND c.contype IN ('u', 'x')"
            " WHERE x.indrelid = CAST(:table AS regclass) AND NOT x.indisprimary ORDER BY i.relname"
        ),
        {"table": entries_table.name},
    )
    return [(str(name), str(definition), bool(constraint)) for name, definition, constraint in rows]


def _stage_and_insert(conn: Connection, driver: Any, codes: Codes, shared: dict[str, Any]) -> int:
    """COPY into a temporary table, then INSERT ... SELECT ... ON CONFLICT DO NOTHING; rows added."""
    with driver.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {_STAGE} (value text NOT NULL) ON COMMIT DROP")
        with cursor.copy(f"COPY {_STAGE} (value) FROM STDIN") as copy:
            for _, piece in _hex_rows(codes, b"", b"\n"):
                copy.write(piece)
    stage = sa.table(_STAGE, sa.column("value", sa.Text()))
    stmt = (
        postgresql.insert(entries_table)
        .from_select(_COLUMNS, _select(stage, stage.c.value, shared))
        .on_conflict_do_nothing(index_elements=_CONFLICT_COLUMNS)
    )
    added = int(conn.execution_options(preserve_rowcount=True).execute(stmt).rowcount)
    conn.exec_driver_sql(f"DROP TABLE {_STAGE}")
    return added
