"""ORM tables: banks of hashes, their entries, tombstones of removed entries and the store revision.

The revision machinery lets an in-memory index sync incrementally: every write that changes
what the index sees bumps ``store_state.revision`` and stamps the rows it touched with it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Entry ids are 64-bit on PostgreSQL; SQLite needs plain INTEGER so the id aliases the rowid.
EntryId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
RevisionInt = sa.BigInteger()


VALUE_KEY_MAX = 72


def value_key(value: str) -> str:
    """What the unique index of bank entries holds for ``value``: itself, or a digest when long."""
    if len(value) <= VALUE_KEY_MAX:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def utcnow() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes (their zone is a guess) and store everything as UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC timestamp column")
        value = value.astimezone(UTC)
        # SQLite compares timestamps as text, so it must hold one fixed zone and no offset suffix.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Attach UTC to naive values read back from SQLite."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Deterministic constraint names, identical on SQLite and PostgreSQL, so migrations can name them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every brightline table."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Bank(Base):
    """A named hash list of one kind of harm (its list domain) with an optional match threshold."""

    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    # Lower-cased name, unique: names keep their case but "CSAM" and "csam" would confuse people.
    name_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    domain: Mapped[str] = mapped_column(sa.String(32), default="other", server_default="other")
    threshold: Mapped[int | None] = mapped_column(sa.Integer, default=None)
    description: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    # Revision at which something an index sees for every entry (name, enabled, threshold) last changed.
    revision: Mapped[int] = mapped_column(RevisionInt, default=0, server_default="0", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    entries: Mapped[list[BankEntry]] = relationship(
        back_populates="bank", cascade="all, delete-orphan", passive_deletes=True, lazy="raise"
    )


class BankEntry(Base):
    """One hash value in one bank, with its provenance and classification."""

    __tablename__ = "bank_entries"
    __table_args__ = (
        # (signal_type, value_key) leads so the same index also answers "which banks hold this hash".
        sa.UniqueConstraint("signal_type", "value_key", "bank_id"),
        sa.Index(None, "bank_id", "enabled"),
        # AUTOINCREMENT stops SQLite reusing the id of a deleted last row, which would make a
        # tombstone and a new entry share an id in one change set.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(EntryId, primary_key=True)
    bank_id: Mapped[int] = mapped_column(sa.ForeignKey("banks.id", ondelete="CASCADE"))
    signal_type: Mapped[str] = mapped_column(sa.String(32))
    value: Mapped[str] = mapped_column(sa.Text)
    # The value itself when short, else "sha256:" + its digest: the unique index holds this, since
    # PostgreSQL refuses index rows over ~2.7 kB and a video's vPDQ value is much longer.
    value_key: Mapped[str] = mapped_column(sa.String(80))
    source: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    category: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    domain: Mapped[str] = mapped_column(sa.String(32), default="other", server_default="other")
    note: Mapped[str | None] = mapped_column(sa.Text, default=None)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    revision: Mapped[int] = mapped_column(RevisionInt, default=0, server_default="0", index=True)

    bank: Mapped[Bank] = relationship(back_populates="entries", lazy="raise")


class EntryTombstone(Base):
    """The id of a removed entry and the revision that removed it, so indexes can drop it."""

    __tablename__ = "entry_tombstones"

    entry_id: Mapped[int] = mapped_column(EntryId, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(RevisionInt, index=True)


class StoreState(Base):
    """The single row holding the store revision counter (row-locked by every writer)."""

    __tablename__ = "store_state"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(RevisionInt, default=0, server_default="0")
    # Tombstones at or below this revision were pruned; older readers must rebuild in full.
    pruned_through: Mapped[int] = mapped_column(RevisionInt, default=0, server_default="0")
    # Random per database (set by the first migration): tells index snapshots which store they mirror.
    store_id: Mapped[str] = mapped_column(sa.String(36))


STORE_STATE_ID = 1


def table_of(model: type[Base]) -> sa.Table:
    """The Core table behind a mapped class (typed as Table, which it always is here)."""
    table = model.__table__
    if not isinstance(table, sa.Table):
        raise TypeError(f"{model.__name__} is not mapped to a plain table")
    return table


banks_table = table_of(Bank)
entries_table = table_of(BankEntry)
tombstones_table = table_of(EntryTombstone)
state_table = table_of(StoreState)


# --- API keys, scan records and counters ----------------------------------------------------

# Longest caller-supplied identifier (content, account, source, idempotency key) we store.
MAX_IDENTIFIER = 256


class ApiKey(Base):
    """An API key: its public lookup prefix and a salted hash of its secret (never the secret)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    prefix: Mapped[str] = mapped_column(sa.String(32), unique=True)
    salt: Mapped[str] = mapped_column(sa.String(64))
    key_hash: Mapped[str] = mapped_column(sa.String(64))
    scopes: Mapped[str] = mapped_column(sa.Text)  # comma-separated
    rate_limit_per_minute: Mapped[int | None] = mapped_column(sa.Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class ScanRecordRow(Base):
    """A scan that matched something: its caller metadata and hashes (non-matching scans store none)."""

    __tablename__ = "scan_records"
    __table_args__ = (
        sa.UniqueConstraint("api_key_id", "idempotency_key"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(EntryId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    api_key_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_keys.id", ondelete="SET NULL"))
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(MAX_IDENTIFIER))
    content_id: Mapped[str | None] = mapped_column(sa.String(MAX_IDENTIFIER))
    account_id: Mapped[str | None] = mapped_column(sa.String(MAX_IDENTIFIER))
    source: Mapped[str | None] = mapped_column(sa.String(MAX_IDENTIFIER))
    context: Mapped[str | None] = mapped_column(sa.Text)  # JSON text
    content_type: Mapped[str] = mapped_column(sa.String(32))
    pdq: Mapped[str | None] = mapped_column(sa.String(64))
    pdq_quality: Mapped[int | None] = mapped_column(sa.Integer)
    md5: Mapped[str | None] = mapped_column(sa.String(32))
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    # When review intake finished for this record; NULL while it runs, or if it was interrupted.
    intake_at: Mapped[datetime | None] = mapped_column(default=None)


class MatchEventRow(Base):
    """One bank entry a recorded scan hit; keeps the bank's id and name but no foreign key to it,
    so the history survives the bank being deleted."""

    __tablename__ = "match_events"
    __table_args__ = (
        sa.Index(None, "bank_name", "created_at"),
        sa.Index(None, "account_id", "created_at"),
        # Ids are the pagination cursor: SQLite must never reuse a deleted last row's id.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(EntryId, primary_key=True)
    scan_id: Mapped[int] = mapped_column(EntryId, sa.ForeignKey("scan_records.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    bank_id: Mapped[int | None] = mapped_column(sa.Integer)
    bank_name: Mapped[str] = mapped_column(sa.String(64))
    entry_id: Mapped[int] = mapped_column(sa.BigInteger)
    signal_type: Mapped[str] = mapped_column(sa.String(32))
    distance: Mapped[int] = mapped_column(sa.Integer)
    variant: Mapped[str] = mapped_column(sa.String(32))
    account_id: Mapped[str | None] = mapped_column(sa.String(MAX_IDENTIFIER))  # copied from the scan for filtering


class ScanCounter(Base):
    """Scans and matches per UTC day, content type and API key (0 = no key): numbers only, no content."""

    __tablename__ = "scan_counters"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    content_type: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    api_key_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    scans: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    matched: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")


api_keys_table = table_of(ApiKey)
scan_records_table = table_of(ScanRecordRow)
match_events_table = table_of(MatchEventRow)
scan_counters_table = table_of(ScanCounter)
