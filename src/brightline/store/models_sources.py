"""ORM tables of hash-list sources: configured feeds with their sync state, and feedback queued for them.

A source row holds its checkpoint, which the sync engine rewrites in the same transaction as
the batch it belongs to: that is what lets a killed sync resume without loss or duplicates.
Credentials are kept only as AES-GCM ciphertext (see ``brightline.sources.credentials``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from brightline.store.models import Base, EntryId, table_of, utcnow

SOURCE_STATES = ("active", "paused")
FEEDBACK_STATUSES = ("pending", "sent", "failed")
MAX_SOURCE_KIND = 32


class SourceRow(Base):
    """One configured hash-list source: what it is, where it writes, and how its last syncs went."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    # Lower-case, unique: it is also the provenance name its entries are vouched under.
    name: Mapped[str] = mapped_column(sa.String(128), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(MAX_SOURCE_KIND))
    bank: Mapped[str] = mapped_column(sa.String(64))  # default target bank (by name)
    options: Mapped[str] = mapped_column(sa.Text, default="{}", server_default="{}")  # JSON object
    bank_map: Mapped[str] = mapped_column(sa.Text, default="{}", server_default="{}")  # JSON: category -> bank
    # base64(nonce || AES-GCM ciphertext) of a JSON object; empty when the source needs no secrets.
    credentials: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    credentials_key_id: Mapped[str] = mapped_column(sa.String(32), default="", server_default="")
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    state: Mapped[str] = mapped_column(sa.String(16), default="active", server_default="active")
    paused_reason: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    # Set by an admin's resume: the next run applies what the safety check held back.
    confirmed: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    checkpoint: Mapped[str | None] = mapped_column(sa.Text, default=None)
    # Full-snapshot feeds: entries not seen since this time are withdrawn when the snapshot ends.
    sweep_from: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_success_at: Mapped[datetime | None] = mapped_column(default=None)
    last_batch_at: Mapped[datetime | None] = mapped_column(default=None)
    newest_entry_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    last_error_at: Mapped[datetime | None] = mapped_column(default=None)
    # Running totals over every applied batch.
    added: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    changed: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    removed: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    unknown_removals: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    malformed: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    batches: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    problems: Mapped[str] = mapped_column(sa.Text, default="[]", server_default="[]")  # JSON: latest few
    # SQLite's stand-in for a PostgreSQL advisory lock: who runs the sync, and until when.
    lease_owner: Mapped[str] = mapped_column(sa.String(128), default="", server_default="")
    lease_until: Mapped[datetime | None] = mapped_column(default=None)


class SourceFeedbackRow(Base):
    """A reviewer's opinion on an entry, queued for delivery to the source that supplied it."""

    __tablename__ = "source_feedback"
    __table_args__ = (
        sa.UniqueConstraint("source_id", "remote_id", "opinion", "case_id"),
        sa.Index(None, "status", "next_attempt_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(EntryId, primary_key=True)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("sources.id", ondelete="CASCADE"))
    entry_id: Mapped[int | None] = mapped_column(sa.BigInteger, default=None)
    case_id: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    remote_id: Mapped[str] = mapped_column(sa.String(256))
    signal_type: Mapped[str] = mapped_column(sa.String(32))
    value: Mapped[str] = mapped_column(sa.Text)
    opinion: Mapped[str] = mapped_column(sa.String(32))
    note: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    status: Mapped[str] = mapped_column(sa.String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


sources_table = table_of(SourceRow)
source_feedback_table = table_of(SourceFeedbackRow)
