"""The table of retention runs (when, who, dry run or not, counts per kind).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types are spelled out rather than imported so this migration never changes when the models do.
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the retention run log."""
    op.create_table('retention_runs',
    sa.Column('id', _ROW_ID, nullable=False),
    sa.Column('started_at', _TIMESTAMP, nullable=False),
    sa.Column('finished_at', _TIMESTAMP, nullable=True),
    sa.Column('dry_run', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='running', nullable=False),
    sa.Column('counts', sa.Text(), server_default='{}', nullable=False),
    sa.Column('error', sa.Text(), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_retention_runs_started_at'), 'retention_runs', ['started_at'], unique=False)


def downgrade() -> None:
    """Drop the retention run log."""
    op.drop_index(op.f('ix_retention_runs_started_at'), table_name='retention_runs')
    op.drop_table('retention_runs')
