"""Feedback write-back: reviewers' false positives queued for the sources that supplied the entry, then sent.

``SourceFeedback`` is a decision listener: a match case decided ``false_positive``, or an appeal
upheld, about an entry that a feedback-capable source still vouches for queues one row per such
source. ``FeedbackSender.deliver`` claims due rows (so several workers never send one twice),
calls the source's ``send_feedback`` and marks the row sent, or retries later with exponential
backoff until it gives up; ``source.feedback_sent`` / ``source.feedback_failed`` record each outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from brightline.errors import BrightlineError, FeedbackUnsupportedError
from brightline.review.types import Decision
from brightline.sources.catalog import SourceCatalog, source_subject
from brightline.sources.types import Feedback, Opinion
from brightline.store.audit import append_audit
from brightline.store.models import entries_table, utcnow
from brightline.store.models_cases import cases_table
from brightline.store.models_provenance import entry_sources_table
from brightline.store.models_sources import source_feedback_table, sources_table

log = logging.getLogger(__name__)
_F = source_feedback_table.c
_S = sources_table.c
_V = entry_sources_table.c
_E = entries_table.c
_C = cases_table.c
MAX_ATTEMPTS = 8
BASE_DELAY_S = 60.0
MAX_DELAY_S = 6 * 3600.0
CLAIM_S = 300.0  # a claimed row is retried by anyone if its sender died mid-send
_NOTE_CHARS = 500


def backoff(attempts: int, base_s: float = BASE_DELAY_S) -> timedelta:
    """Delay before the next try after ``attempts`` failures: doubling from ``base_s``, capped at six hours."""
    return timedelta(seconds=min(MAX_DELAY_S, base_s * (2 ** max(0, attempts - 1))))


class SourceFeedback:
    """DecisionListener: queue false-positive feedback for every feedback-capable source vouching for the entry."""

    def __init__(self, catalog: SourceCatalog) -> None:
        self._catalog = catalog
        self._db = catalog.db

    def _entry_of(self, decision: Decision) -> tuple[int | None, int]:
        case = decision.case
        if case.kind == "appeal":
            if decision.decision != "uphold":
                return None, case.id
            if case.entry_id is None and case.appeal_of is not None:
                with self._db.engine.connect() as conn:
                    entry = conn.execute(sa.select(_C.entry_id).where(_C.id == case.appeal_of)).scalar()
                return (None if entry is None else int(entry)), case.appeal_of
            return case.entry_id, case.appeal_of or case.id
        if decision.decision != "false_positive":
            return None, case.id
        return case.entry_id, case.id

    def _supports(self, name: str) -> bool:
        try:
            return bool(self._catalog.build(name).describe().supports_feedback)
        except BrightlineError as exc:
            log.warning("source %s cannot be built to check feedback support: %s", name, exc.message)
            return False

    def on_decision(self, decision: Decision) -> None:
        """Queue feedback rows for a false positive (or upheld appeal) on an entry from feedback-capable sources."""
        entry_id, case_id = self._entry_of(decision)
        if entry_id is None:
            return
        with self._db.engine.connect() as conn:
            entry = conn.execute(sa.select(_E.signal_type, _E.value).where(_E.id == entry_id)).first()
            vouches = conn.execute(
                sa.select(_S.id, _S.name, _V.remote_id)
                .join_from(entry_sources_table, sources_table, _S.name == _V.source)
                .where(_V.entry_id == entry_id, _V.withdrawn_at.is_(None), _V.remote_id.is_not(None))
            ).all()
        if entry is None:
            return
        opinion: Opinion = "false_positive"
        for source_id, name, remote_id in vouches:
            if not self._supports(name):
                continue
            try:
                with self._db.write_connection() as conn:
                    conn.execute(
                        sa.insert(source_feedback_table).values(
                            source_id=source_id,
                            entry_id=entry_id,
                            case_id=case_id,
                            remote_id=remote_id,
                            signal_type=entry.signal_type,
                            value=entry.value,
                            opinion=opinion,
                            note=(decision.note or "")[:_NOTE_CHARS],
                            status="pending",
                            next_attempt_at=utcnow(),
                            created_at=utcnow(),
                        )
                    )
                    details = {"source": name, "entry_id": entry_id, "opinion": opinion, "case_id": case_id}
                    append_audit(
                        conn,
                        actor=f"reviewer:{decision.reviewer}",
                        action="source.feedback_queued",
                        subject=source_subject(name),
                        details=details,
                    )
            except IntegrityError:
                continue  # already queued for this case (a listener called twice)


@dataclass(frozen=True)
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0


class FeedbackSender:
    """Sends queued feedback to its sources with retries; safe to run in several workers at once."""

    def __init__(self, catalog: SourceCatalog, *, max_attempts: int = MAX_ATTEMPTS, base_delay_s: float = BASE_DELAY_S):
        self._catalog = catalog
        self._db = catalog.db
        self._max_attempts = max_attempts
        self._base_delay_s = base_delay_s

    def _claim(self, now: datetime, limit: int) -> list[int]:
        with self._db.engine.connect() as conn:
            due = list(
                conn.execute(
                    sa.select(_F.id)
                    .where(_F.status == "pending", _F.next_attempt_at <= now)
                    .order_by(_F.id)
                    .limit(limit)
                ).scalars()
            )
        mine = []
        for row_id in due:
            with self._db.write_connection() as conn:
                claimed = conn.execute(
                    sa.update(source_feedback_table)
                    .where(_F.id == row_id, _F.status == "pending", _F.next_attempt_at <= now)
                    .values(next_attempt_at=now + timedelta(seconds=CLAIM_S))
                ).rowcount
            if claimed:
                mine.append(int(row_id))
        return mine

    def deliver(self, *, now: datetime | None = None, limit: int = 100) -> DeliveryReport:
        """Send what is due (at ``now``, default the current time); returns the counts."""
        moment = now or utcnow()
        sent = retried = failed = 0
        for row_id in self._claim(moment, limit):
            with self._db.engine.connect() as conn:
                row = conn.execute(
                    sa.select(source_feedback_table, _S.name.label("source_name"))
                    .join_from(source_feedback_table, sources_table)
                    .where(_F.id == row_id)
                ).first()
            if row is None:
                continue
            item = Feedback(row.remote_id, row.signal_type, row.value, row.opinion, row.note, row.created_at)
            try:
                self._catalog.build(row.source_name).send_feedback(item)
            except FeedbackUnsupportedError as exc:
                self._finish(row, "failed", exc.message, moment)
                failed += 1
            except BrightlineError as exc:
                attempts = int(row.attempts) + 1
                if attempts >= self._max_attempts:
                    self._finish(row, "failed", exc.message, moment)
                    failed += 1
                else:
                    self._retry(row_id, attempts, exc.message, moment)
                    retried += 1
            else:
                self._finish(row, "sent", "", moment)
                sent += 1
        return DeliveryReport(sent=sent, retried=retried, failed=failed)

    def _retry(self, row_id: int, attempts: int, error: str, now: datetime) -> None:
        with self._db.write_connection() as conn:
            conn.execute(
                sa.update(source_feedback_table)
                .where(_F.id == row_id)
                .values(
                    attempts=attempts,
                    last_error=error[:500],
                    next_attempt_at=now + backoff(attempts, self._base_delay_s),
                )
            )

    def _finish(self, row: sa.Row[object], status: str, error: str, now: datetime) -> None:
        values = {"status": status, "attempts": int(row.attempts) + 1, "last_error": error[:500]}
        if status == "sent":
            values["sent_at"] = now
        with self._db.write_connection() as conn:
            conn.execute(sa.update(source_feedback_table).where(_F.id == row.id).values(**values))
            details = {
                "source": row.source_name,
                "entry_id": row.entry_id,
                "opinion": row.opinion,
                "case_id": int(row.case_id),
                "attempts": values["attempts"],
            }
            if error:
                details["error"] = error[:300]
            action = "source.feedback_sent" if status == "sent" else "source.feedback_failed"
            append_audit(
                conn, actor=f"source:{row.source_name}", action=action, subject=source_subject(row.source_name),
                details=details,
            )  # fmt: skip

    def retry_failed(self, name: str | None = None) -> int:
        """Put failed feedback (of one source, or all) back in the queue; returns how many rows."""
        with self._db.write_connection() as conn:
            stmt = sa.update(source_feedback_table).where(_F.status == "failed")
            if name is not None:
                source_id = self._catalog.get(name).id
                stmt = stmt.where(_F.source_id == source_id)
            return int(conn.execute(stmt.values(status="pending", attempts=0, next_attempt_at=utcnow())).rowcount)
