"""ORM tables of retention runs: when each run (or dry run) happened, who started it and what it deleted.

Only counts are kept here; what each deletion removed (ids and policy, never content) is in the audit log.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from brightline.store.models import Base, EntryId, table_of, utcnow

RUN_STATUSES = ("running", "finished", "failed")


class RetentionRun(Base):
    """One retention run: its window, whether it was a dry run, its outcome and the counts per kind."""

    __tablename__ = "retention_runs"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(EntryId, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    dry_run: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    # "cli:<login>", "service" ...
    actor: Mapped[str] = mapped_column(sa.String(128))
    status: Mapped[str] = mapped_column(sa.String(16), default="running", server_default="running")
    # JSON object: deleted (or, in a dry run, due) items per kind, and kept items per reason.
    counts: Mapped[str] = mapped_column(sa.Text, default="{}", server_default="{}")
    error: Mapped[str] = mapped_column(sa.Text, default="", server_default="")


retention_runs_table = table_of(RetentionRun)
