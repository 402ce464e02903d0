"""Initial schema: banks, bank entries, entry tombstones and the store revision counter.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import uuid

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types are spelled out rather than imported so this migration never changes when the models do.
_ENTRY_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# The models read these back as timezone-aware UTC (brightline.store.models.UTCDateTime).
_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table and seed the revision counter."""
    op.create_table(
        "banks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("name_key", sa.String(64), nullable=False),
        sa.Column("domain", sa.String(32), nullable=False, server_default="other"),
        sa.Column("threshold", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.UniqueConstraint("name_key", name=op.f("uq_banks_name_key")),
    )
    op.create_index(op.f("ix_banks_revision"), "banks", ["revision"])

    op.create_table(
        "bank_entries",
        sa.Column("id", _ENTRY_ID, primary_key=True),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("signal_type", sa.String(32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("value_key", sa.String(80), nullable=False),
        sa.Column("source", sa.Text(), nullable=False, server_default=""),
        sa.Column("category", sa.String(64), nullable=False, server_default=""),
        sa.Column("domain", sa.String(32), nullable=False, server_default="other"),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("added_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name=op.f("fk_bank_entries_bank_id_banks"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "signal_type", "value_key", "bank_id", name=op.f("uq_bank_entries_signal_type_value_key_bank_id")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_bank_entries_bank_id_enabled"), "bank_entries", ["bank_id", "enabled"])
    op.create_index(op.f("ix_bank_entries_revision"), "bank_entries", ["revision"])

    op.create_table(
        "entry_tombstones",
        sa.Column("entry_id", _ENTRY_ID, primary_key=True, autoincrement=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
    )
    op.create_index(op.f("ix_entry_tombstones_revision"), "entry_tombstones", ["revision"])

    state = op.create_table(
        "store_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("pruned_through", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("store_id", sa.String(36), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_store_state_single_row")),
    )
    # A random identity per database, so caches built from one store are never applied to another.
    op.bulk_insert(state, [{"id": 1, "revision": 0, "pruned_through": 0, "store_id": str(uuid.uuid4())}])


def downgrade() -> None:
    """Drop every table."""
    op.drop_table("store_state")
    op.drop_index(op.f("ix_entry_tombstones_revision"), table_name="entry_tombstones")
    op.drop_table("entry_tombstones")
    op.drop_index(op.f("ix_bank_entries_revision"), table_name="bank_entries")
    op.drop_index(op.f("ix_bank_entries_bank_id_enabled"), table_name="bank_entries")
    op.drop_table("bank_entries")
    op.drop_index(op.f("ix_banks_revision"), table_name="banks")
    op.drop_table("banks")
