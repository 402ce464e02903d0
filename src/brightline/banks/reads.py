"""Reading banks and entries, and the change feed index syncs read: the read half of BankService."""

from __future__ import annotations

from collections.abc import Collection, Generator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from brightline.banks import digest as bank_digest
from brightline.banks import revisions
from brightline.banks.digest import BankDigest, FullDigest
from brightline.banks.types import BankInfo, Changes, EntryInfo
from brightline.banks.validation import plain_hex_bits
from brightline.errors import BankNotFoundError, EntryNotFoundError, ValidationError
from brightline.signals.registry import get_signal_type
from brightline.store.db import Database
from brightline.store.models import VALUE_KEY_MAX, banks_table, entries_table, value_key

MAX_PAGE = 10_000

_B = banks_table.c
_E = entries_table.c
_ENTRY_COLUMNS = (
    _E.id,
    _E.bank_id,
    _B.name,
    _E.signal_type,
    _E.value,
    _E.source,
    _E.category,
    _E.domain,
    _E.note,
    _E.enabled,
    _E.added_at,
    _E.updated_at,
    _E.revision,
)


def _entry_info(row: Sequence[Any]) -> EntryInfo:
    return EntryInfo(*row)


def _to_bank_info(bank: Row[Any], total: int, enabled: int) -> BankInfo:
    return BankInfo(
        id=bank.id,
        name=bank.name,
        domain=bank.domain,
        threshold=bank.threshold,
        description=bank.description,
        enabled=bool(bank.enabled),
        created_at=bank.created_at,
        updated_at=bank.updated_at,
        entry_count=total,
        enabled_count=enabled,
    )


class BankReads:
    """Reads of banks and entries (one snapshot each) and the index change feed."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def db(self) -> Database:
        """The database the banks live in."""
        return self._db

    def _bank_row(self, conn: Connection, name: str) -> Row[Any]:
        if not isinstance(name, str):
            raise BankNotFoundError(f"no bank named {name!r}")
        row = conn.execute(sa.select(banks_table).where(_B.name_key == name.lower())).first()
        if row is None:
            raise BankNotFoundError(f"no bank named {name!r}")
        return row

    def _bank_info(self, conn: Connection, bank: Row[Any]) -> BankInfo:
        total, enabled = conn.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((_E.enabled, 1), else_=0)), 0)).where(
                _E.bank_id == bank.id
            )
        ).one()
        return _to_bank_info(bank, int(total), int(enabled))

    def list_banks(self, *, counts: bool = True) -> list[BankInfo]:
        """Every bank, by name; entry counts are 0 when ``counts`` is False (skips counting every entry)."""
        with self._db.session(snapshot=True) as session:
            conn = session.connection()
            totals: dict[int, tuple[int, int]] = {}
            if counts:
                totals = {
                    bank_id: (int(total), int(enabled))
                    for bank_id, total, enabled in conn.execute(
                        sa.select(_E.bank_id, sa.func.count(), sa.func.sum(sa.case((_E.enabled, 1), else_=0))).group_by(
                            _E.bank_id
                        )
                    )
                }
            banks = conn.execute(sa.select(banks_table).order_by(_B.name_key)).all()
        return [_to_bank_info(b, *totals.get(b.id, (0, 0))) for b in banks]

    def get_bank(self, name: str) -> BankInfo:
        """The bank called ``name`` (any case) or BankNotFoundError."""
        with self._db.session(snapshot=True) as session:
            conn = session.connection()
            return self._bank_info(conn, self._bank_row(conn, name))

    def digest(self, name: str) -> BankDigest:
        """The bank's stored running digest (computed from its rows if it has none yet)."""
        with self._db.session(snapshot=True) as session:
            conn = session.connection()
            return bank_digest.current(conn, self._bank_row(conn, name).id)

    def verify_digest(self, name: str) -> tuple[BankDigest, FullDigest]:
        """The stored digest and one recomputed from every row (with the sorted-leaf SHA-256), one snapshot."""
        with self._db.session(snapshot=True) as session:
            conn = session.connection()
            bank_id = self._bank_row(conn, name).id
            return bank_digest.current(conn, bank_id), bank_digest.compute(conn, bank_id, sorted_digest=True)

    def get_entry(self, entry_id: int) -> EntryInfo:
        """One entry by id, or EntryNotFoundError."""
        with self._db.session() as session:
            row = (
                session.connection()
                .execute(sa.select(*_ENTRY_COLUMNS).join_from(entries_table, banks_table).where(_E.id == entry_id))
                .first()
            )
        if row is None:
            raise EntryNotFoundError(f"no entry with id {entry_id!r}")
        return _entry_info(row)

    def list_entries(self, bank_name: str, limit: int = 100, offset: int = 0) -> list[EntryInfo]:
        """A page of a bank's entries, oldest first."""
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise ValidationError(f"limit must be within 1..{MAX_PAGE} and offset >= 0")
        with self._db.session(snapshot=True) as session:
            conn = session.connection()
            bank = self._bank_row(conn, bank_name)
            stmt = (
                sa.select(*_ENTRY_COLUMNS)
                .join_from(entries_table, banks_table)
                .where(_E.bank_id == bank.id)
                .order_by(_E.id)
                .limit(limit)
                .offset(offset)
            )
            return [_entry_info(row) for row in conn.execute(stmt)]

    def iter_entries(
        self, bank_name: str, *, signal_type: str | None = None, enabled_only: bool = False
    ) -> Generator[EntryInfo, None, None]:
        """Stream every entry of a bank, oldest first, from one consistent snapshot."""
        with self._db.session(snapshot=True) as session:
            conn = session.connection()
            bank = self._bank_row(conn, bank_name)
            stmt = sa.select(*_ENTRY_COLUMNS).join_from(entries_table, banks_table).where(_E.bank_id == bank.id)
            if signal_type is not None:
                stmt = stmt.where(_E.signal_type == get_signal_type(signal_type).name)
            if enabled_only:
                stmt = stmt.where(_E.enabled.is_(True))
            # Closing the result on exit also closes PostgreSQL's server-side cursor when the
            # caller stops iterating early.
            with conn.execution_options(yield_per=revisions.STREAM_BATCH).execute(stmt.order_by(_E.id)) as result:
                for row in result:
                    yield _entry_info(row)

    def signal_types_in(self, bank_name: str) -> list[str]:
        """The signal types a bank holds, sorted."""
        with self._db.session() as session:
            conn = session.connection()
            bank = self._bank_row(conn, bank_name)
            stmt = sa.select(_E.signal_type).where(_E.bank_id == bank.id).distinct().order_by(_E.signal_type)
            return list(conn.execute(stmt).scalars())

    def find_entries_by_value(self, signal_type: str, value: str) -> list[EntryInfo]:
        """Every entry, in any bank, holding exactly this value."""
        kind = get_signal_type(signal_type)
        canonical = kind.validate(value)
        with self._db.session() as session:
            stmt = (
                sa.select(*_ENTRY_COLUMNS)
                .join_from(entries_table, banks_table)
                .where(_E.signal_type == kind.name, _E.value_key == value_key(canonical))
                .order_by(_E.id)
            )
            return [_entry_info(row) for row in session.connection().execute(stmt)]

    # --- index sync -------------------------------------------------------------------

    def store_id(self) -> str:
        """The database's random identity (index snapshots record it)."""
        with self._db.session() as session:
            return revisions.store_id(session.connection())

    def current_revision(self) -> int:
        """The newest committed store revision (0 for a store nothing was written to)."""
        with self._db.session() as session:
            return revisions.current_revision(session.connection())

    def changes_since(self, revision: int, columnar: Collection[str] = ()) -> Changes:
        """What changed after ``revision``; ``changes_since(0)`` is every entry, for a full build.

        Entries of the types named in ``columnar`` come as arrays (Changes.columns) when their
        values are plain hex short enough to be their own unique key (PDQ); others as rows.
        """
        widths = {}
        for name in columnar:
            kind = get_signal_type(name)
            bits = plain_hex_bits(kind)
            if bits is not None and bits // 4 <= VALUE_KEY_MAX:
                widths[kind.name] = bits
        with self._db.session(snapshot=True) as session:
            return revisions.changes_since(session.connection(), revision, widths)

    def prune_tombstones(self, through: int) -> int:
        """Forget removals at or below revision ``through``; returns how many tombstones went."""
        with self._db.session(write=True) as session:
            return revisions.prune_tombstones(session.connection(), through)
