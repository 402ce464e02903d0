"""Tables of the actions layer: rules, domain policies, evidence and its access log, webhook deliveries
and attempts, user notices and enforcement.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types are spelled out rather than imported so this migration never changes when the models do.
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the rule, domain policy, evidence, webhook, notice and enforcement tables."""
    op.create_table('domain_policies',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('verified', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('updated_at', _TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('banks', sa.Text(), server_default='[]', nullable=False),
    sa.Column('domains', sa.Text(), server_default='[]', nullable=False),
    sa.Column('actions', sa.Text(), server_default='[]', nullable=False),
    sa.Column('min_account_matches', sa.Integer(), server_default='1', nullable=False),
    sa.Column('exact_min_account_matches', sa.Integer(), nullable=True),
    sa.Column('max_distance', sa.Integer(), nullable=True),
    sa.Column('webhook_url', sa.Text(), nullable=True),
    sa.Column('notice', sa.Text(), nullable=True),
    sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('created_at', _TIMESTAMP, nullable=False),
    sa.Column('updated_at', _TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name', name=op.f('uq_rules_name'))
    )
    op.create_table('enforcements',
    sa.Column('id', _ROW_ID, nullable=False),
    sa.Column('scan_id', _ROW_ID, nullable=True),
    sa.Column('content_id', sa.String(length=256), nullable=True),
    sa.Column('account_id', sa.String(length=256), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('rule', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('created_at', _TIMESTAMP, nullable=False),
    sa.Column('reversed_at', _TIMESTAMP, nullable=True),
    sa.Column('reversed_by', sa.String(length=128), nullable=True),
    sa.Column('reverse_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['scan_id'], ['scan_records.id'], name=op.f('fk_enforcements_scan_id_scan_records'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_enforcements_account_id'), 'enforcements', ['account_id'], unique=False)
    op.create_index(op.f('ix_enforcements_content_id'), 'enforcements', ['content_id'], unique=False)
    op.create_index(op.f('ix_enforcements_scan_id'), 'enforcements', ['scan_id'], unique=False)
    op.create_table('evidence',
    sa.Column('id', _ROW_ID, nullable=False),
    sa.Column('scan_id', _ROW_ID, nullable=True),
    sa.Column('media_type', sa.String(length=128), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('md5', sa.String(length=32), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('path', sa.String(length=255), server_default='', nullable=False),
    sa.Column('created_at', _TIMESTAMP, nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('preserve_until', _TIMESTAMP, nullable=True),
    sa.Column('deleted_at', _TIMESTAMP, nullable=True),
    sa.Column('deleted_by', sa.String(length=128), nullable=True),
    sa.Column('delete_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['scan_id'], ['scan_records.id'], name=op.f('fk_evidence_scan_id_scan_records'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scan_id', name=op.f('uq_evidence_scan_id')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_evidence_created_at'), 'evidence', ['created_at'], unique=False)
    op.create_table('user_notices',
    sa.Column('id', _ROW_ID, nullable=False),
    sa.Column('scan_id', _ROW_ID, nullable=True),
    sa.Column('account_id', sa.String(length=256), nullable=True),
    sa.Column('content_id', sa.String(length=256), nullable=True),
    sa.Column('rule', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', _TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['scan_id'], ['scan_records.id'], name=op.f('fk_user_notices_scan_id_scan_records'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_user_notices_account_id_created_at'), 'user_notices', ['account_id', 'created_at'], unique=False)
    op.create_index(op.f('ix_user_notices_content_id'), 'user_notices', ['content_id'], unique=False)
    op.create_index(op.f('ix_user_notices_scan_id'), 'user_notices', ['scan_id'], unique=False)
    op.create_table('evidence_access',
    sa.Column('id', _ROW_ID, nullable=False),
    sa.Column('evidence_id', _ROW_ID, nullable=False),
    sa.Column('created_at', _TIMESTAMP, nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('purpose', sa.Text(), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_evidence_access_evidence_id_evidence'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_evidence_access_evidence_id'), 'evidence_access', ['evidence_id'], unique=False)
    op.create_table('webhook_deliveries',
    sa.Column('id', _ROW_ID, nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('scan_id', _ROW_ID, nullable=True),
    sa.Column('case_id', _ROW_ID, nullable=True),
    sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', _TIMESTAMP, nullable=False),
    sa.Column('next_attempt_at', _TIMESTAMP, nullable=True),
    sa.Column('last_attempt_at', _TIMESTAMP, nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', _TIMESTAMP, nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_webhook_deliveries_case_id_cases'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['scan_id'], ['scan_records.id'], name=op.f('fk_webhook_deliveries_scan_id_scan_records'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_webhook_deliveries_scan_id'), 'webhook_deliveries', ['scan_id'], unique=False)
    op.create_index(op.f('ix_webhook_deliveries_status_next_attempt_at'), 'webhook_deliveries', ['status', 'next_attempt_at'], unique=False)
    op.create_table('webhook_attempts',
    sa.Column('id', _ROW_ID, nullable=False),
    sa.Column('delivery_id', _ROW_ID, nullable=False),
    sa.Column('attempted_at', _TIMESTAMP, nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['webhook_deliveries.id'], name=op.f('fk_webhook_attempts_delivery_id_webhook_deliveries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_webhook_attempts_delivery_id'), 'webhook_attempts', ['delivery_id'], unique=False)


def downgrade() -> None:
    """Drop the tables this revision created, dependants first."""
    for table in (
        "webhook_attempts",
        "webhook_deliveries",
        "evidence_access",
        "user_notices",
        "evidence",
        "enforcements",
        "rules",
        "domain_policies",
    ):
        op.drop_table(table)
