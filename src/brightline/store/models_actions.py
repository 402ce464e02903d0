"""ORM tables of the actions layer: rules, evidence, webhook deliveries, user notices and enforcement.

Nothing here ever holds media bytes or key material: evidence rows carry only metadata, the
encrypted bytes live in files under the evidence folder.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from brightline.store.models import MAX_IDENTIFIER, Base, EntryId, table_of, utcnow


class RuleRow(Base):
    """One match rule: which hits it applies to, what it does and from which account threshold."""

    __tablename__ = "rules"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # JSON arrays of bank names and list domains; empty arrays mean "any".
    banks: Mapped[str] = mapped_column(sa.Text, default="[]", server_default="[]")
    domains: Mapped[str] = mapped_column(sa.Text, default="[]", server_default="[]")
    actions: Mapped[str] = mapped_column(sa.Text, default="[]", server_default="[]")
    min_account_matches: Mapped[int] = mapped_column(sa.Integer, default=1, server_default="1")
    exact_min_account_matches: Mapped[int | None] = mapped_column(sa.Integer, default=None)
    max_distance: Mapped[int | None] = mapped_column(sa.Integer, default=None)
    webhook_url: Mapped[str | None] = mapped_column(sa.Text, default=None)
    notice: Mapped[str | None] = mapped_column(sa.Text, default=None)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    description: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DomainPolicyRow(Base):
    """How far the entries of one list domain are trusted (unverified: never block or report unreviewed)."""

    __tablename__ = "domain_policies"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    verified: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EvidenceRow(Base):
    """Metadata of the encrypted copy of one matched scan's media (the bytes are in a file, encrypted)."""

    __tablename__ = "evidence"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(EntryId, primary_key=True)
    # Unique: one copy per scan. SET NULL keeps the row (and its access log) if the scan record goes.
    scan_id: Mapped[int | None] = mapped_column(
        EntryId, sa.ForeignKey("scan_records.id", ondelete="SET NULL"), unique=True
    )
    media_type: Mapped[str] = mapped_column(sa.String(128))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    md5: Mapped[str] = mapped_column(sa.String(32))
    key_id: Mapped[str] = mapped_column(sa.String(32))
    # Relative to the evidence folder; empty until the file is written.
    path: Mapped[str] = mapped_column(sa.String(255), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    created_by: Mapped[str] = mapped_column(sa.String(128))
    preserve_until: Mapped[datetime | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_by: Mapped[str | None] = mapped_column(sa.String(128), default=None)
    delete_reason: Mapped[str | None] = mapped_column(sa.Text, default=None)


class EvidenceAccessRow(Base):
    """Who stored, read, preserved or deleted a piece of evidence, when and why."""

    __tablename__ = "evidence_access"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(EntryId, primary_key=True)
    evidence_id: Mapped[int] = mapped_column(EntryId, sa.ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(16))  # store, read, preserve, delete
    purpose: Mapped[str] = mapped_column(sa.Text, default="", server_default="")


class WebhookDeliveryRow(Base):
    """One webhook event to one URL: its payload and where its delivery stands."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.Index(None, "status", "next_attempt_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(EntryId, primary_key=True)
    rule: Mapped[str] = mapped_column(sa.String(64))
    url: Mapped[str] = mapped_column(sa.Text)
    event: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[str] = mapped_column(sa.Text)  # JSON object, exactly the body sent
    scan_id: Mapped[int | None] = mapped_column(
        EntryId, sa.ForeignKey("scan_records.id", ondelete="SET NULL"), index=True
    )
    case_id: Mapped[int | None] = mapped_column(EntryId, sa.ForeignKey("cases.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(sa.Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(sa.Text, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookAttemptRow(Base):
    """One HTTP attempt of a webhook delivery: the status code or the network error."""

    __tablename__ = "webhook_attempts"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(EntryId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        EntryId, sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(sa.Integer, default=None)
    error: Mapped[str | None] = mapped_column(sa.Text, default=None)
    duration_ms: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")


class UserNoticeRow(Base):
    """A notice the platform should show the user whose upload matched (the platform displays it)."""

    __tablename__ = "user_notices"
    __table_args__ = (
        sa.Index(None, "account_id", "created_at"),
        sa.Index(None, "content_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(EntryId, primary_key=True)
    scan_id: Mapped[int | None] = mapped_column(
        EntryId, sa.ForeignKey("scan_records.id", ondelete="SET NULL"), index=True
    )
    account_id: Mapped[str | None] = mapped_column(sa.String(MAX_IDENTIFIER))
    content_id: Mapped[str | None] = mapped_column(sa.String(MAX_IDENTIFIER))
    rule: Mapped[str] = mapped_column(sa.Text)  # rule names, comma-separated
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EnforcementRow(Base):
    """A block or quarantine applied to content because of a match, until reversed (e.g. on appeal)."""

    __tablename__ = "enforcements"
    __table_args__ = (
        sa.Index(None, "content_id"),
        sa.Index(None, "account_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(EntryId, primary_key=True)
    scan_id: Mapped[int | None] = mapped_column(
        EntryId, sa.ForeignKey("scan_records.id", ondelete="SET NULL"), index=True
    )
    content_id: Mapped[str | None] = mapped_column(sa.String(MAX_IDENTIFIER))
    account_id: Mapped[str | None] = mapped_column(sa.String(MAX_IDENTIFIER))
    action: Mapped[str] = mapped_column(sa.String(16))  # block or quarantine
    rule: Mapped[str] = mapped_column(sa.Text)  # rule names, comma-separated
    actor: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reversed_at: Mapped[datetime | None] = mapped_column(default=None)
    reversed_by: Mapped[str | None] = mapped_column(sa.String(128), default=None)
    reverse_reason: Mapped[str | None] = mapped_column(sa.Text, default=None)


rules_table = table_of(RuleRow)
domain_policies_table = table_of(DomainPolicyRow)
evidence_table = table_of(EvidenceRow)
evidence_access_table = table_of(EvidenceAccessRow)
webhook_deliveries_table = table_of(WebhookDeliveryRow)
webhook_attempts_table = table_of(WebhookAttemptRow)
user_notices_table = table_of(UserNoticeRow)
enforcements_table = table_of(EnforcementRow)
