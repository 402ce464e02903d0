"""API keys, scan records of matching scans, their match events and aggregate scan counters.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-15
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types are spelled out rather than imported so this migration never changes when the models do.
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime(timezone=True)
_IDENTIFIER = sa.String(256)


def upgrade() -> None:
    """Create the API key, scan record, match event and scan counter tables."""
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("revoked_at", _TIMESTAMP, nullable=True),
        sa.Column("last_used_at", _TIMESTAMP, nullable=True),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )

    op.create_table(
        "scan_records",
        sa.Column("id", _ROW_ID, primary_key=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", _IDENTIFIER, nullable=True),
        sa.Column("content_id", _IDENTIFIER, nullable=True),
        sa.Column("account_id", _IDENTIFIER, nullable=True),
        sa.Column("source", _IDENTIFIER, nullable=True),
        sa.Column("context", sa.Text(), nullable=True),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("pdq", sa.String(64), nullable=True),
        sa.Column("pdq_quality", sa.Integer(), nullable=True),
        sa.Column("md5", sa.String(32), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_scan_records_api_key_id_api_keys"), ondelete="SET NULL"
        ),
        sa.UniqueConstraint(
            "api_key_id", "idempotency_key", name=op.f("uq_scan_records_api_key_id_idempotency_key")
        ),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "match_events",
        sa.Column("id", _ROW_ID, primary_key=True),
        sa.Column("scan_id", _ROW_ID, nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=True),
        sa.Column("bank_name", sa.String(64), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("signal_type", sa.String(32), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(32), nullable=False),
        sa.Column("account_id", _IDENTIFIER, nullable=True),
        sa.ForeignKeyConstraint(
            ["scan_id"], ["scan_records.id"], name=op.f("fk_match_events_scan_id_scan_records"), ondelete="CASCADE"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_match_events_scan_id"), "match_events", ["scan_id"])
    op.create_index(op.f("ix_match_events_created_at"), "match_events", ["created_at"])
    op.create_index(op.f("ix_match_events_bank_name_created_at"), "match_events", ["bank_name", "created_at"])
    op.create_index(op.f("ix_match_events_account_id_created_at"), "match_events", ["account_id", "created_at"])

    op.create_table(
        "scan_counters",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("scans", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("matched", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("day", "content_type", "api_key_id"),
    )


def downgrade() -> None:
    """Drop the tables this migration created."""
    op.drop_table("scan_counters")
    op.drop_index(op.f("ix_match_events_account_id_created_at"), table_name="match_events")
    op.drop_index(op.f("ix_match_events_bank_name_created_at"), table_name="match_events")
    op.drop_index(op.f("ix_match_events_created_at"), table_name="match_events")
    op.drop_index(op.f("ix_match_events_scan_id"), table_name="match_events")
    op.drop_table("match_events")
    op.drop_table("scan_records")
    op.drop_table("api_keys")
