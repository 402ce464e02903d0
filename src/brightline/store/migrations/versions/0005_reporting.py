"""Tables of the reporting layer: reports to NCMEC's CyberTipline and other destinations.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types are spelled out rather than imported so this migration never changes when the models do.
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the reports table."""
    op.create_table('reports',
    sa.Column('id', _ROW_ID, nullable=False),
    sa.Column('case_id', _ROW_ID, nullable=False),
    sa.Column('destination', sa.String(length=32), nullable=False),
    sa.Column('jurisdiction', sa.String(length=16), server_default='', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
    sa.Column('remote_id', sa.String(length=64), nullable=True),
    sa.Column('report_xml', sa.Text(), nullable=False),
    sa.Column('file_xml', sa.Text(), server_default='[]', nullable=False),
    sa.Column('progress', sa.Text(), server_default='{}', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.Text(), server_default='', nullable=False),
    sa.Column('preserve_until', _TIMESTAMP, nullable=True),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', _TIMESTAMP, nullable=False),
    sa.Column('updated_at', _TIMESTAMP, nullable=False),
    sa.Column('finished_at', _TIMESTAMP, nullable=True),
    sa.Column('retracted_at', _TIMESTAMP, nullable=True),
    sa.Column('retracted_by', sa.String(length=128), nullable=True),
    sa.Column('retract_reason', sa.Text(), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_reports_case_id_cases'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_reports_case_id'), 'reports', ['case_id'], unique=False)
    op.create_index(op.f('ix_reports_remote_id'), 'reports', ['remote_id'], unique=False)
    op.create_index(op.f('ix_reports_status_created_at'), 'reports', ['status', 'created_at'], unique=False)


def downgrade() -> None:
    """Drop the reports table."""
    op.drop_index(op.f('ix_reports_status_created_at'), table_name='reports')
    op.drop_index(op.f('ix_reports_remote_id'), table_name='reports')
    op.drop_index(op.f('ix_reports_case_id'), table_name='reports')
    op.drop_table('reports')
