"""Tables of hash-list sources: configured feeds with their sync state, and feedback queued for them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types are spelled out rather than imported so this migration never changes when the models do.
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime(timezone=True)


def _counter(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)


def upgrade() -> None:
    """Create the sources and source_feedback tables."""
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("bank", sa.String(length=64), nullable=False),
        sa.Column("options", sa.Text(), server_default="{}", nullable=False),
        sa.Column("bank_map", sa.Text(), server_default="{}", nullable=False),
        sa.Column("credentials", sa.Text(), server_default="", nullable=False),
        sa.Column("credentials_key_id", sa.String(length=32), server_default="", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("paused_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("confirmed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=True),
        sa.Column("sweep_from", _TIMESTAMP, nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.Column("last_attempt_at", _TIMESTAMP, nullable=True),
        sa.Column("last_success_at", _TIMESTAMP, nullable=True),
        sa.Column("last_batch_at", _TIMESTAMP, nullable=True),
        sa.Column("newest_entry_at", _TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.Column("last_error_at", _TIMESTAMP, nullable=True),
        _counter("added"),
        _counter("changed"),
        _counter("removed"),
        _counter("unknown_removals"),
        _counter("malformed"),
        _counter("batches"),
        sa.Column("problems", sa.Text(), server_default="[]", nullable=False),
        sa.Column("lease_owner", sa.String(length=128), server_default="", nullable=False),
        sa.Column("lease_until", _TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name=op.f("uq_sources_name")),
    )
    op.create_table(
        "source_feedback",
        sa.Column("id", _ROW_ID, nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("case_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("remote_id", sa.String(length=256), nullable=False),
        sa.Column("signal_type", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("opinion", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", _TIMESTAMP, nullable=False),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("sent_at", _TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_source_feedback_source_id_sources"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "source_id",
            "remote_id",
            "opinion",
            "case_id",
            name=op.f("uq_source_feedback_source_id_remote_id_opinion_case_id"),
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_source_feedback_status_next_attempt_at"),
        "source_feedback",
        ["status", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    """Drop the source tables."""
    op.drop_index(op.f("ix_source_feedback_status_next_attempt_at"), table_name="source_feedback")
    op.drop_table("source_feedback")
    op.drop_table("sources")
