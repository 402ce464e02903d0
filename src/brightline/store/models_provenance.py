"""ORM tables of hash-list provenance: each bank's running version digest and the sources vouching for entries."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from brightline.store.models import Base, EntryId, table_of, utcnow

MAX_SOURCE_NAME = 128
MAX_REMOTE_ID = 256


class BankDigestRow(Base):
    """A bank's order-independent digest of its enabled entries, kept up to date by every bank write."""

    __tablename__ = "bank_digests"

    bank_id: Mapped[int] = mapped_column(sa.ForeignKey("banks.id", ondelete="CASCADE"), primary_key=True)
    # Sum of the entries' leaf hashes mod 2**256, as 64 hex digits (see banks/digest.py).
    digest: Mapped[str] = mapped_column(sa.String(64))
    # Enabled entries the digest covers.
    entries: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EntrySourceRow(Base):
    """One source (a list owner or feed) vouching for one bank entry, with its own id and classification."""

    __tablename__ = "entry_sources"
    __table_args__ = (
        sa.UniqueConstraint("entry_id", "source"),
        sa.Index(None, "source", "remote_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(EntryId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(EntryId, sa.ForeignKey("bank_entries.id", ondelete="CASCADE"))
    # "ncmec", "partner-x", "manual" ...; compared case-insensitively when counting independent sources.
    source: Mapped[str] = mapped_column(sa.String(MAX_SOURCE_NAME))
    # The source's own id for the entry (to send feedback back and to sync withdrawals).
    remote_id: Mapped[str | None] = mapped_column(sa.String(MAX_REMOTE_ID), default=None)
    classification: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    tags: Mapped[str] = mapped_column(sa.Text, default="[]", server_default="[]")  # JSON list of strings
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the source no longer vouches for the entry; it then stops counting.
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)


bank_digests_table = table_of(BankDigestRow)
entry_sources_table = table_of(EntrySourceRow)
