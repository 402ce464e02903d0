"""Tables of the hash-chained audit log and its head.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types are spelled out rather than imported so this migration never changes when the models do.
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the audit log and its head (the head row is created by the first append)."""
    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_id', _ROW_ID, server_default='0', nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('updated_at', _TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('audit_log',
    sa.Column('id', _ROW_ID, autoincrement=False, nullable=False),
    sa.Column('created_at', _TIMESTAMP, nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=256), server_default='', nullable=False),
    sa.Column('details', sa.Text(), server_default='{}', nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_audit_log_action_created_at'), 'audit_log', ['action', 'created_at'], unique=False)
    op.create_index(op.f('ix_audit_log_created_at'), 'audit_log', ['created_at'], unique=False)


def downgrade() -> None:
    """Drop the audit tables."""
    op.drop_table("audit_log")
    op.drop_table("audit_head")
