"""ORM tables of what happens after a match: review cases, their history, reviewers, holds and appeals.

A *case* is one unit of human review: a recorded scan that matched (kind ``match``) or a
user's appeal against an earlier decision (kind ``appeal``). Every step taken on a case is a
row in ``case_events``, so a case's history can always be shown and counted.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from brightline.store.models import MAX_IDENTIFIER, Base, EntryId, table_of, utcnow

# Case kinds, statuses, decisions and NCMEC industry classifications (the closed vocabularies).
CASE_KINDS = ("match", "appeal")
OPEN_STATUSES = ("open", "escalated")
CLOSED_STATUSES = ("confirmed", "false_positive", "appeal_upheld", "appeal_rejected")
CASE_STATUSES = OPEN_STATUSES + CLOSED_STATUSES
CLASSIFICATIONS = ("A1", "A2", "B1", "B2")
REVIEWER_ROLES = ("reviewer", "admin")


class Reviewer(Base):
    """A person who logs in to the reviewer console; passwords are stored as scrypt hashes only."""

    __tablename__ = "reviewers"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(128), default="", server_default="")
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    role: Mapped[str] = mapped_column(sa.String(16), default="reviewer", server_default="reviewer")
    # Items this person may decide per UTC day; None means the configured default.
    daily_cap: Mapped[int | None] = mapped_column(sa.Integer, default=None)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)


class ConsoleSession(Base):
    """A logged-in console session: the digest of its cookie token (never the token) and its CSRF token."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    reviewer_id: Mapped[int] = mapped_column(sa.ForeignKey("reviewers.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When this session last reminded its reviewer to take a break (wellbeing).
    break_reminded_at: Mapped[datetime | None] = mapped_column(default=None)


class Case(Base):
    """One item of human review: a matched scan or an appeal, with its priority, claim and decision."""

    __tablename__ = "cases"
    __table_args__ = (
        sa.Index(None, "status", "priority"),
        sa.Index(None, "account_id", "created_at"),
        sa.Index(None, "content_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(EntryId, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16), default="match", server_default="match")
    status: Mapped[str] = mapped_column(sa.String(16), default="open", server_default="open")
    # Higher first; computed at intake from match distance, list category and account history.
    priority: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    scan_id: Mapped[int | None] = mapped_column(
        EntryId, sa.ForeignKey("scan_records.id", ondelete="SET NULL"), index=True
    )
    account_id: Mapped[str | None] = mapped_column(sa.String(MAX_IDENTIFIER))
    content_id: Mapped[str | None] = mapped_column(sa.String(MAX_IDENTIFIER))
    # The closest hit that opened the case (all hits stay in match_events).
    bank_name: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    list_domain: Mapped[str] = mapped_column(sa.String(32), default="other", server_default="other")
    entry_category: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    signal_type: Mapped[str] = mapped_column(sa.String(32), default="", server_default="")
    entry_id: Mapped[int | None] = mapped_column(sa.BigInteger, default=None)
    distance: Mapped[int | None] = mapped_column(sa.Integer, default=None)
    exact: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    # False when the hit came only from lists whose entries nobody verified (third-party signals).
    verified: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    # A rule asked for a report once a human confirms (never before).
    report_on_confirm: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    # Names of the rules that fired, comma-separated, for the reviewer and the transparency report.
    rules: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    claimed_by: Mapped[int | None] = mapped_column(sa.ForeignKey("reviewers.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("reviewers.id", ondelete="SET NULL"))
    decision: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    classification: Mapped[str | None] = mapped_column(sa.String(8), default=None)
    decision_domain: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    # Whether a human actually looked at the unblurred media (the report's fileViewedByEsp).
    media_viewed: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    viewed_at: Mapped[datetime | None] = mapped_column(default=None)
    viewed_by: Mapped[int | None] = mapped_column(sa.ForeignKey("reviewers.id", ondelete="SET NULL"))
    # An appeal case points at the case whose decision it contests.
    appeal_of: Mapped[int | None] = mapped_column(EntryId, sa.ForeignKey("cases.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(sa.Text, default="", server_default="")


class CaseEvent(Base):
    """One step in a case's life (opened, claimed, viewed, decided, reported, reversed...), with its actor."""

    __tablename__ = "case_events"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(EntryId, primary_key=True)
    case_id: Mapped[int] = mapped_column(EntryId, sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # "reviewer:<username>", "api_key:<id>", "system" ...
    actor: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(32))
    details: Mapped[str] = mapped_column(sa.Text, default="{}", server_default="{}")  # JSON object


class LegalHold(Base):
    """A hold on a case's evidence and records: nothing of the case is deleted while it is active."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(EntryId, sa.ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    created_by: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # None: until released by hand.
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    released_at: Mapped[datetime | None] = mapped_column(default=None)
    released_by: Mapped[str | None] = mapped_column(sa.String(128), default=None)


class Appeal(Base):
    """A user's complaint against an action on their content or account, as the platform sent it."""

    __tablename__ = "appeals"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(EntryId, primary_key=True)
    # The decided case the appeal contests, and the review case that handles the appeal.
    case_id: Mapped[int | None] = mapped_column(EntryId, sa.ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    review_case_id: Mapped[int | None] = mapped_column(EntryId, sa.ForeignKey("cases.id", ondelete="SET NULL"))
    content_id: Mapped[str | None] = mapped_column(sa.String(MAX_IDENTIFIER))
    account_id: Mapped[str | None] = mapped_column(sa.String(MAX_IDENTIFIER))
    reason: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    status: Mapped[str] = mapped_column(sa.String(16), default="open", server_default="open")
    api_key_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_keys.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    outcome: Mapped[str] = mapped_column(sa.Text, default="", server_default="")


reviewers_table = table_of(Reviewer)
console_sessions_table = table_of(ConsoleSession)
cases_table = table_of(Case)
case_events_table = table_of(CaseEvent)
legal_holds_table = table_of(LegalHold)
appeals_table = table_of(Appeal)
