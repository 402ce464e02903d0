"""ORM tables of the audit log: the hash-chained records and the one-row head that serialises appends."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from brightline.store.models import Base, EntryId, table_of, utcnow

# The genesis link: the first record's prev_hash.
GENESIS_HASH = "0" * 64
AUDIT_HEAD_ID = 1


class AuditRow(Base):
    """One audit record; ``id`` is its position in the chain (1, 2, 3, ... with no gaps)."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index(None, "action", "created_at"),)

    # Assigned by the appender (head id + 1), never by the database, so a gap means a deleted row.
    id: Mapped[int] = mapped_column(EntryId, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(64))
    subject: Mapped[str] = mapped_column(sa.String(256), default="", server_default="")
    # Canonical JSON (sorted keys, compact, ASCII): exactly what the hash covers.
    details: Mapped[str] = mapped_column(sa.Text, default="{}", server_default="{}")
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditHead(Base):
    """The chain head (last id and hash): locked by every append so concurrent writers never fork the chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(EntryId, default=0, server_default="0")
    last_hash: Mapped[str] = mapped_column(sa.String(64), default=GENESIS_HASH)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


audit_table = table_of(AuditRow)
audit_head_table = table_of(AuditHead)
