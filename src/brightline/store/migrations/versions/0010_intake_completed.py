"""Mark when a recorded scan's review intake finished, so an interrupted one can be resumed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add scan_records.intake_at; records made before it count as taken in when they were made."""
    # A plain ADD COLUMN (nullable, no default) needs no table rebuild on SQLite.
    op.add_column("scan_records", sa.Column("intake_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE scan_records SET intake_at = created_at")


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("scan_records") as batch:
        batch.drop_column("intake_at")
