"""ORM tables of the reporting layer: reports to NCMEC's CyberTipline and other destinations."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from brightline.store.models import Base, EntryId, table_of, utcnow

# pending: created, nothing delivered yet; submitted: the destination holds it, not yet finished;
# finished: delivered; failed: the last attempt stopped with an error (progress kept for a resume);
# retracted: withdrawn (after a reversal on appeal, or by hand).
REPORT_STATUSES = ("pending", "submitted", "finished", "failed", "retracted")
ACTIVE_REPORT_STATUSES = ("pending", "submitted", "finished", "failed")


class Report(Base):
    """One report of a confirmed case to one destination, with the exact documents it sent."""

    __tablename__ = "reports"
    __table_args__ = (
        sa.Index(None, "status", "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(EntryId, primary_key=True)
    # RESTRICT: a reported case's records outlive any attempt to delete the case.
    case_id: Mapped[int] = mapped_column(EntryId, sa.ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    destination: Mapped[str] = mapped_column(sa.String(32))
    jurisdiction: Mapped[str] = mapped_column(sa.String(16), default="", server_default="")
    status: Mapped[str] = mapped_column(sa.String(16), default="pending", server_default="pending")
    # The destination's id for the report (NCMEC's reportId) once it has one.
    remote_id: Mapped[str | None] = mapped_column(sa.String(64), default=None, index=True)
    # The exact report document sent (or to be sent), and the exact fileDetails documents (JSON list).
    report_xml: Mapped[str] = mapped_column(sa.Text)
    file_xml: Mapped[str] = mapped_column(sa.Text, default="[]", server_default="[]")
    # JSON: how far delivery got (reporting.destinations.DeliveryProgress), for resuming after a failure.
    progress: Mapped[str] = mapped_column(sa.Text, default="{}", server_default="{}")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    last_error: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    # Evidence and records of the case are kept at least until then.
    preserve_until: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    retracted_at: Mapped[datetime | None] = mapped_column(default=None)
    retracted_by: Mapped[str | None] = mapped_column(sa.String(128), default=None)
    retract_reason: Mapped[str] = mapped_column(sa.Text, default="", server_default="")


reports_table = table_of(Report)
