"""Review cases and their history, console reviewers and sessions, legal holds and appeals.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types are spelled out rather than imported so this migration never changes when the models do.
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the reviewer, console session, case, case event, legal hold and appeal tables."""
    op.create_table('reviewers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=128), server_default='', nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('role', sa.String(length=16), server_default='reviewer', nullable=False),
    sa.Column('daily_cap', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', _TIMESTAMP, nullable=False),
    sa.Column('last_login_at', _TIMESTAMP, nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username', name=op.f('uq_reviewers_username'))
    )
    op.create_table('console_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', _TIMESTAMP, nullable=False),
    sa.Column('expires_at', _TIMESTAMP, nullable=False),
    sa.Column('last_seen_at', _TIMESTAMP, nullable=False),
    sa.Column('break_reminded_at', _TIMESTAMP, nullable=True),
    sa.ForeignKeyConstraint(['reviewer_id'], ['reviewers.id'], name=op.f('fk_console_sessions_reviewer_id_reviewers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash', name=op.f('uq_console_sessions_token_hash'))
    )
    op.create_index(op.f('ix_console_sessions_reviewer_id'), 'console_sessions', ['reviewer_id'], unique=False)
    op.create_table('cases',
    sa.Column('id', _ROW_ID, nullable=False),
    sa.Column('kind', sa.String(length=16), server_default='match', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
    sa.Column('priority', sa.Integer(), server_default='0', nullable=False),
    sa.Column('scan_id', _ROW_ID, nullable=True),
    sa.Column('account_id', sa.String(length=256), nullable=True),
    sa.Column('content_id', sa.String(length=256), nullable=True),
    sa.Column('bank_name', sa.String(length=64), server_default='', nullable=False),
    sa.Column('list_domain', sa.String(length=32), server_default='other', nullable=False),
    sa.Column('entry_category', sa.String(length=64), server_default='', nullable=False),
    sa.Column('signal_type', sa.String(length=32), server_default='', nullable=False),
    sa.Column('entry_id', sa.BigInteger(), nullable=True),
    sa.Column('distance', sa.Integer(), nullable=True),
    sa.Column('exact', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('verified', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('report_on_confirm', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('rules', sa.Text(), server_default='', nullable=False),
    sa.Column('claimed_by', sa.Integer(), nullable=True),
    sa.Column('claimed_at', _TIMESTAMP, nullable=True),
    sa.Column('created_at', _TIMESTAMP, nullable=False),
    sa.Column('updated_at', _TIMESTAMP, nullable=False),
    sa.Column('decided_at', _TIMESTAMP, nullable=True),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decision', sa.String(length=32), nullable=True),
    sa.Column('classification', sa.String(length=8), nullable=True),
    sa.Column('decision_domain', sa.String(length=32), nullable=True),
    sa.Column('media_viewed', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('viewed_at', _TIMESTAMP, nullable=True),
    sa.Column('viewed_by', sa.Integer(), nullable=True),
    sa.Column('appeal_of', _ROW_ID, nullable=True),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['appeal_of'], ['cases.id'], name=op.f('fk_cases_appeal_of_cases'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['claimed_by'], ['reviewers.id'], name=op.f('fk_cases_claimed_by_reviewers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['decided_by'], ['reviewers.id'], name=op.f('fk_cases_decided_by_reviewers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['scan_id'], ['scan_records.id'], name=op.f('fk_cases_scan_id_scan_records'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['viewed_by'], ['reviewers.id'], name=op.f('fk_cases_viewed_by_reviewers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_cases_account_id_created_at'), 'cases', ['account_id', 'created_at'], unique=False)
    op.create_index(op.f('ix_cases_content_id'), 'cases', ['content_id'], unique=False)
    op.create_index(op.f('ix_cases_created_at'), 'cases', ['created_at'], unique=False)
    op.create_index(op.f('ix_cases_scan_id'), 'cases', ['scan_id'], unique=False)
    op.create_index(op.f('ix_cases_status_priority'), 'cases', ['status', 'priority'], unique=False)
    op.create_table('appeals',
    sa.Column('id', _ROW_ID, nullable=False),
    sa.Column('case_id', _ROW_ID, nullable=True),
    sa.Column('review_case_id', _ROW_ID, nullable=True),
    sa.Column('content_id', sa.String(length=256), nullable=True),
    sa.Column('account_id', sa.String(length=256), nullable=True),
    sa.Column('reason', sa.Text(), server_default='', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
    sa.Column('api_key_id', sa.Integer(), nullable=True),
    sa.Column('created_at', _TIMESTAMP, nullable=False),
    sa.Column('decided_at', _TIMESTAMP, nullable=True),
    sa.Column('outcome', sa.Text(), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_appeals_api_key_id_api_keys'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_appeals_case_id_cases'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['review_case_id'], ['cases.id'], name=op.f('fk_appeals_review_case_id_cases'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_appeals_case_id'), 'appeals', ['case_id'], unique=False)
    op.create_table('case_events',
    sa.Column('id', _ROW_ID, nullable=False),
    sa.Column('case_id', _ROW_ID, nullable=False),
    sa.Column('created_at', _TIMESTAMP, nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('details', sa.Text(), server_default='{}', nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_events_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_case_events_case_id'), 'case_events', ['case_id'], unique=False)
    op.create_table('legal_holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', _ROW_ID, nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', _TIMESTAMP, nullable=False),
    sa.Column('expires_at', _TIMESTAMP, nullable=True),
    sa.Column('released_at', _TIMESTAMP, nullable=True),
    sa.Column('released_by', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_legal_holds_case_id_cases'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_legal_holds_case_id'), 'legal_holds', ['case_id'], unique=False)


def downgrade() -> None:
    """Drop the tables this revision created, dependants first."""
    for table in ("legal_holds", "case_events", "appeals", "cases", "console_sessions", "reviewers"):
        op.drop_table(table)
