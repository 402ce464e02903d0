"""Tables of hash-list provenance: bank version digests and the sources vouching for entries.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types are spelled out rather than imported so this migration never changes when the models do.
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the provenance tables (banks get their digest row on their next change)."""
    op.create_table(
        "bank_digests",
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name=op.f("fk_bank_digests_bank_id_banks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("bank_id"),
    )
    op.create_table(
        "entry_sources",
        sa.Column("id", _ROW_ID, nullable=False),
        sa.Column("entry_id", _ROW_ID, nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("remote_id", sa.String(length=256), nullable=True),
        sa.Column("classification", sa.String(length=64), server_default="", nullable=False),
        sa.Column("tags", sa.Text(), server_default="[]", nullable=False),
        sa.Column("first_seen_at", _TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", _TIMESTAMP, nullable=False),
        sa.Column("withdrawn_at", _TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["bank_entries.id"], name=op.f("fk_entry_sources_entry_id_bank_entries"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id", "source", name=op.f("uq_entry_sources_entry_id_source")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_entry_sources_source_remote_id"), "entry_sources", ["source", "remote_id"], unique=False
    )


def downgrade() -> None:
    """Drop the provenance tables."""
    op.drop_index(op.f("ix_entry_sources_source_remote_id"), table_name="entry_sources")
    op.drop_table("entry_sources")
    op.drop_table("bank_digests")
