"""Fast batched INSERT ... ON CONFLICT DO NOTHING of bank entries (a million rows in seconds).

Both dialects use their own ``insert()`` construct with ``on_conflict_do_nothing``. Values
shared by every row (bank, revision, timestamps) are rendered into the SQL once. Per-row
values are plain str, None or bool, so:

* SQLite: rows go straight to the driver's executemany, skipping SQLAlchemy's per-row
  parameter processing (most of the cost of a naive executemany);
* PostgreSQL: each batch is one statement selecting from ``unnest`` of one array per
  column, instead of one pipelined round trip per row.
"""

from __future__ import annotations

import operator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect

from brightline.banks.types import EntryInput
from brightline.errors import StoreError
from brightline.store.models import UTCDateTime, entries_table, utcnow, value_key

BATCH_SIZE = 50_000
# Batches at least this big are written in unique-key order rather than input order.
SORT_MIN = 10_000
# Columns that vary per row, in the order rows are built.
_ROW_COLUMNS = ("signal_type", "value", "source", "category", "domain", "note", "enabled", "value_key")
_CONFLICT_COLUMNS = ["signal_type", "value_key", "bank_id"]
_conflict_key = operator.itemgetter(0, 7)  # (signal_type, value_key): the unique index order


def _literal(value: int | datetime, type_: sa.types.TypeEngine[Any], dialect: Dialect) -> sa.ColumnElement[Any]:
    compiled = sa.literal(value, type_).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return sa.literal_column(str(compiled), type_)


class EntryInserter:
    """Collects normalised entries for one bank and writes them in large batches.

    Rows already present (same signal type and value in the bank) are skipped by the database,
    so re-adding is idempotent. The caller learns how many were new by counting rows stamped
    with its transaction's revision.
    """

    def __init__(
        self, conn: Connection, *, bank_id: int, bank_domain: str, revision: int, batch_size: int = BATCH_SIZE
    ) -> None:
        self._conn = conn
        self._bank_domain = bank_domain
        self._batch_size = batch_size
        self._batch: list[tuple[Any, ...]] = []
        self.count = 0
        dialect = conn.dialect
        now = utcnow()
        self._shared = {
            "bank_id": _literal(bank_id, sa.Integer(), dialect),
            "revision": _literal(revision, sa.BigInteger(), dialect),
            "added_at": _literal(now, UTCDateTime(), dialect),
            "updated_at": _literal(now, UTCDateTime(), dialect),
        }
        if dialect.name == "sqlite":
            self._prepare_sqlite(dialect)
        elif dialect.name == "postgresql":
            self._prepare_postgresql()
        else:
            raise StoreError(f"bulk insert is not supported on {dialect.name!r}")

    def _prepare_sqlite(self, dialect: Dialect) -> None:
        row_params = {name: sa.bindparam(name, type_=entries_table.c[name].type) for name in _ROW_COLUMNS}
        stmt = (
            sqlite.insert(entries_table)
            .values(**self._shared, **row_params)
            .on_conflict_do_nothing(index_elements=_CONFLICT_COLUMNS)
        )
        compiled = stmt.compile(dialect=dialect)
        order = list(compiled.positiontup or [])
        if sorted(order) != sorted(_ROW_COLUMNS):
            raise StoreError(f"unexpected parameters in the entry insert: {order}")
        self._sql = compiled.string
        self._positions = [_ROW_COLUMNS.index(name) for name in order]

    def _prepare_postgresql(self) -> None:
        arrays = [
            sa.bindparam(name, type_=postgresql.ARRAY(entries_table.c[name].type), expanding=False)
            for name in _ROW_COLUMNS
        ]
        rows = sa.func.unnest(*arrays).table_valued(*_ROW_COLUMNS).render_derived(name="incoming")
        columns = [*_ROW_COLUMNS, *self._shared]
        select = sa.select(*(rows.c[name] for name in _ROW_COLUMNS), *self._shared.values())
        self._stmt = (
            postgresql.insert(entries_table)
            .from_select(columns, select)
            .on_conflict_do_nothing(index_elements=_CONFLICT_COLUMNS)
        )

    def add(self, entry: EntryInput) -> None:
        """Queue one normalised entry, writing a batch when enough have gathered."""
        self._batch.append(
            (
                entry.signal_type,
                entry.value,
                entry.source,
                entry.category,
                entry.domain or self._bank_domain,
                entry.note,
                entry.enabled,
                value_key(entry.value),
            )
        )
        if len(self._batch) >= self._batch_size:
            self.flush()

    def flush(self) -> None:
        """Write whatever is queued."""
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        if len(batch) >= SORT_MIN:
            # Sorted by the unique key, a batch touches each index page once instead of at random:
            # with an index larger than the page cache this is what keeps big imports fast. Small
            # adds keep their input order, so their ids follow it.
            batch.sort(key=_conflict_key)
        if self._conn.dialect.name == "sqlite":
            positions = self._positions
            params = (
                batch
                if positions == list(range(len(_ROW_COLUMNS)))
                else [tuple(r[i] for i in positions) for r in batch]
            )
            self._conn.exec_driver_sql(self._sql, params)
        else:
            columns = zip(*batch, strict=True)
            self._conn.execute(self._stmt, {name: list(col) for name, col in zip(_ROW_COLUMNS, columns, strict=True)})
        self.count += len(batch)
