"""The store revision: bumped by every write an index can see, and read back as change sets.

Writers bump ``store_state.revision`` first thing in their transaction. On PostgreSQL the
UPDATE row-locks the counter until commit, so writers are serialised and commit in revision
order: a reader never sees revision N while a transaction holding N-1 is still open. SQLite
gets the same from BEGIN IMMEDIATE. Entries are stamped with the revision that last changed
them; bank-wide changes (rename, enable, threshold) stamp the bank instead of its entries,
so they cost one row however large the bank is.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from brightline.banks.fast_read import read_hash_columns
from brightline.banks.types import Changes, EntryRow, HashColumns
from brightline.errors import StoreError, ValidationError
from brightline.store.models import STORE_STATE_ID, banks_table, entries_table, state_table, tombstones_table

# Rows fetched per round trip when streaming entries (a server-side cursor on PostgreSQL).
STREAM_BATCH = 20_000


def bump_revision(conn: Connection) -> int:
    """Increment the store revision inside the caller's transaction and return the new value."""
    stmt = (
        sa.update(state_table)
        .where(state_table.c.id == STORE_STATE_ID)
        .values(revision=state_table.c.revision + 1)
        .returning(state_table.c.revision)
    )
    revision = conn.execute(stmt).scalar()
    if revision is None:
        raise StoreError("the store_state row is missing; run `brightline db upgrade`")
    return int(revision)


def _state(conn: Connection) -> tuple[int, int]:
    row = conn.execute(
        sa.select(state_table.c.revision, state_table.c.pruned_through).where(state_table.c.id == STORE_STATE_ID)
    ).first()
    if row is None:
        raise StoreError("the store_state row is missing; run `brightline db upgrade`")
    return int(row[0]), int(row[1])


def store_id(conn: Connection) -> str:
    """The database's random identity, fixed when its schema was created."""
    value = conn.execute(sa.select(state_table.c.store_id).where(state_table.c.id == STORE_STATE_ID)).scalar()
    if value is None:
        raise StoreError("the store_state row is missing; run `brightline db upgrade`")
    return str(value)


def current_revision(conn: Connection) -> int:
    """The newest committed store revision."""
    return _state(conn)[0]


@dataclass(frozen=True, slots=True)
class _BankView:
    name: str
    enabled: bool
    threshold: int | None
    revision: int


def _banks(conn: Connection) -> dict[int, _BankView]:
    rows = conn.execute(
        sa.select(
            banks_table.c.id, banks_table.c.name, banks_table.c.enabled, banks_table.c.threshold, banks_table.c.revision
        )
    )
    return {int(r[0]): _BankView(r[1], bool(r[2]), r[3], int(r[4])) for r in rows}


def _other_types(skip: Collection[str]) -> sa.ColumnElement[bool]:
    """signal_type outside ``skip``, as index ranges (NOT IN would read every row of the table)."""
    cols = entries_table.c
    names = sorted(skip)
    ranges = [cols.signal_type < names[0], cols.signal_type > names[-1]]
    ranges += [sa.and_(cols.signal_type > low, cols.signal_type < high) for low, high in itertools.pairwise(names)]
    return sa.or_(*ranges)


def _rows(
    conn: Connection, where: sa.ColumnElement[bool] | None, banks: dict[int, _BankView], skip: Collection[str] = ()
) -> list[EntryRow]:
    cols = entries_table.c
    stmt = sa.select(cols.id, cols.bank_id, cols.signal_type, cols.value, cols.enabled)
    if skip:
        where = _other_types(skip) if where is None else sa.and_(where, _other_types(skip))
    # A full read walks the primary key in order anyway. A filtered one is sorted here instead:
    # with ORDER BY id, SQLite walks the whole primary key rather than the revision index
    # (0.23 s per refresh at 1M entries, however few rows changed).
    stmt = stmt.order_by(cols.id) if where is None else stmt.where(where)
    # One shared str per signal type instead of one per row: a full build holds millions of rows.
    type_names: dict[str, str] = {}
    out: list[EntryRow] = []
    append = out.append
    with conn.execution_options(yield_per=STREAM_BATCH).execute(stmt) as result:
        for partition in result.partitions():
            for entry_id, bank_id, signal_type, value, enabled in partition:
                bank = banks[bank_id]
                append(
                    EntryRow(
                        entry_id,
                        bank_id,
                        bank.name,
                        type_names.setdefault(signal_type, signal_type),
                        value,
                        bool(enabled) and bank.enabled,
                        bank.threshold,
                    )
                )
    if where is not None:
        out.sort(key=lambda row: row.id)
    return out


def _columns(
    conn: Connection, where: sa.ColumnElement[bool] | None, banks: dict[int, _BankView], columnar: Mapping[str, int]
) -> dict[str, HashColumns]:
    enabled = {bank_id: bank.enabled for bank_id, bank in banks.items()}
    found = {name: read_hash_columns(conn, name, bits, where, enabled) for name, bits in columnar.items()}
    return {name: columns for name, columns in found.items() if columns.ids.size}


def changes_since(conn: Connection, revision: int, columnar: Mapping[str, int] | None = None) -> Changes:
    """Entries changed after ``revision`` (everything, flagged full, when that is the only safe answer).

    Signal types named in ``columnar`` (name -> bit width, plain hex types only) come back as
    arrays in ``Changes.columns`` instead of EntryRows. Run it in a snapshot transaction so
    the counter and the rows come from one instant.
    """
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise ValidationError(f"revision must be a whole number >= 0, got {revision!r}")
    current, pruned_through = _state(conn)
    banks = _banks(conn)
    # Too old (its tombstones are gone) or newer than this store (another or a restored database).
    columnar = columnar or {}
    if revision == 0 or revision < pruned_through or revision > current:
        upserts, columns = _rows(conn, None, banks, columnar), _columns(conn, None, banks, columnar)
        return Changes(upserts=upserts, removed_ids=[], revision=current, full=True, columns=columns)
    cols = entries_table.c
    changed_banks = [bank_id for bank_id, bank in banks.items() if bank.revision > revision]
    upserts = _rows(conn, cols.revision > revision, banks, columnar) if not changed_banks else []
    if changed_banks:
        # Every entry of a bank whose name, switch or threshold changed, plus stamped entries elsewhere.
        upserts = _rows(conn, cols.bank_id.in_(changed_banks), banks, columnar)
        upserts += _rows(conn, sa.and_(cols.revision > revision, cols.bank_id.not_in(changed_banks)), banks, columnar)
        upserts.sort(key=lambda row: row.id)
    stamped = cols.revision > revision
    columns = _columns(
        conn, sa.or_(stamped, cols.bank_id.in_(changed_banks)) if changed_banks else stamped, banks, columnar
    )
    removed = conn.execute(
        sa.select(tombstones_table.c.entry_id)
        .where(tombstones_table.c.revision > revision)
        .order_by(tombstones_table.c.entry_id)
    )
    removed_ids = [int(r[0]) for r in removed]
    return Changes(upserts=upserts, removed_ids=removed_ids, revision=current, full=False, columns=columns)


def prune_tombstones(conn: Connection, through: int) -> int:
    """Delete tombstones at or below revision ``through``; readers older than that get full rebuilds."""
    current, pruned_through = _state(conn)
    if isinstance(through, bool) or not isinstance(through, int) or not 0 <= through <= current:
        raise ValidationError(f"prune revision must be within 0..{current}, got {through!r}")
    deleted = conn.execute(sa.delete(tombstones_table).where(tombstones_table.c.revision <= through)).rowcount
    if through > pruned_through:
        conn.execute(sa.update(state_table).where(state_table.c.id == STORE_STATE_ID).values(pruned_through=through))
    return int(deleted)
