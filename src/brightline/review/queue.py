"""The review queue: cases in, claimed by one reviewer at a time, decided once, with every step recorded.

Each public method is one transaction. Claims expire after ``claim_minutes`` so an abandoned
item returns to the queue by itself; nothing has to sweep them. Decisions are handed to
listeners (reports, appeal reversals, bank feedback) only after they are committed, and a
failing listener never undoes or hides a decision: its error is recorded on the case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from brightline.errors import CaseNotFoundError, CaseStateError, ReviewCapReachedError, ValidationError
from brightline.review import rows
from brightline.review.audit_events import audit_opened, audit_status_changed, audit_viewed
from brightline.review.decisions import DecisionRequest, apply_decision, notify
from brightline.review.priority import case_priority, closest
from brightline.review.types import CaseEventInfo, CaseHit, CaseInfo, Decision, DecisionListener
from brightline.store.db import Database
from brightline.store.models import MAX_IDENTIFIER, utcnow
from brightline.store.models_cases import (
    CASE_KINDS,
    CASE_STATUSES,
    OPEN_STATUSES,
    case_events_table,
    cases_table,
)

_C = cases_table.c
_EV = case_events_table.c
# First key of the PostgreSQL advisory lock that makes open_case idempotent per scan.
_OPEN_LOCK_KEY = 0x6272_6361  # "brca"
MAX_PAGE = 500
MAX_ACTION = 32


def _identifier(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_IDENTIFIER:
        raise ValidationError(f"{name} must be 1 to {MAX_IDENTIFIER} characters")
    return value


def _page(limit: int, offset: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE}, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValidationError(f"offset must be a whole number of at least 0, got {offset!r}")


def _utc_midnight(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


class ReviewQueue:
    """Open, list, claim, view and decide review cases (see the module docstring for the guarantees)."""

    def __init__(
        self,
        db: Database,
        *,
        claim_minutes: int = 30,
        listeners: Sequence[DecisionListener] = (),
        daily_cap: int = 0,
    ) -> None:
        if claim_minutes < 1:
            raise ValidationError("claim_minutes must be at least 1")
        self._db = db
        self.claim_minutes = claim_minutes
        # Items per reviewer per UTC day when the reviewer has no cap of their own; 0 = no cap.
        self.daily_cap = max(0, daily_cap)
        self._listeners: list[DecisionListener] = list(listeners)

    def add_listener(self, listener: DecisionListener) -> None:
        """Call ``listener`` after every committed decision."""
        self._listeners.append(listener)

    # --- intake -------------------------------------------------------------------------

    def open_case(
        self,
        *,
        scan_id: int | None,
        account_id: str | None,
        content_id: str | None,
        hits: Sequence[CaseHit],
        verified: bool = True,
        report_on_confirm: bool = False,
        rules: Sequence[str] = (),
        actor: str = "system",
        kind: str = "match",
        appeal_of: int | None = None,
        note: str = "",
    ) -> CaseInfo:
        """Put a case in the queue; a still-open case of the same kind for the same scan is returned instead."""
        if kind not in CASE_KINDS:
            raise ValidationError(f"case kind must be one of {', '.join(CASE_KINDS)}, got {kind!r}")
        hits = tuple(hits)
        if not all(isinstance(h, CaseHit) for h in hits):
            raise ValidationError("hits must be CaseHit values")
        if kind == "match" and not hits:
            raise ValidationError("a match case needs at least one hit")
        account_id = _identifier("account id", account_id)
        content_id = _identifier("content id", content_id)
        rule_names = [str(r) for r in rules]
        if any("," in r or not r for r in rule_names):
            raise ValidationError("rule names must be non-empty and contain no commas")
        now = utcnow()
        with self._db.session(write=True) as session:
            conn = session.connection()
            if scan_id is not None:
                existing = self._open_for_scan(conn, scan_id, kind)
                if existing is not None:
                    return rows.case_info(existing, now, self.claim_minutes)
            confirmed_before = 0
            if account_id is not None:
                confirmed_before = conn.execute(
                    sa.select(sa.func.count()).where(_C.account_id == account_id, _C.status == "confirmed")
                ).scalar_one()
            values: dict[str, Any] = {
                "kind": kind,
                "status": "open",
                "priority": case_priority(hits, confirmed_before=int(confirmed_before), verified=verified),
                "scan_id": scan_id,
                "account_id": account_id,
                "content_id": content_id,
                "verified": bool(verified),
                "report_on_confirm": bool(report_on_confirm),
                "rules": ",".join(rule_names),
                "created_at": now,
                "updated_at": now,
                "appeal_of": appeal_of,
                "note": str(note),
            }
            values.update(self._hit_fields(conn, hits, appeal_of))
            case_id = conn.execute(sa.insert(cases_table).values(**values).returning(_C.id)).scalar_one()
            rows.add_event(conn, case_id, now, actor, "opened", {"hits": len(hits), "priority": values["priority"]})
            opened = rows.case_row(conn, case_id)
            audit_opened(conn, opened, actor, now)
            return rows.case_info(opened, now, self.claim_minutes)

    def _open_for_scan(self, conn: Connection, scan_id: int, kind: str) -> Any:
        if conn.dialect.name == "postgresql":
            # Two intakes of one scan at once must not both insert (SQLite's write lock serialises them).
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(CAST(:key AS integer), CAST(:scan AS integer))"),
                {"key": _OPEN_LOCK_KEY, "scan": scan_id & 0x7FFF_FFFF},
            )
        return conn.execute(
            sa.select(cases_table)
            .where(_C.scan_id == scan_id, _C.kind == kind, _C.status.in_(OPEN_STATUSES))
            .order_by(_C.id)
            .limit(1)
        ).first()

    @staticmethod
    def _hit_fields(conn: Connection, hits: Sequence[CaseHit], appeal_of: int | None) -> dict[str, Any]:
        best = closest(hits)
        if best is not None:
            return {
                "bank_name": best.bank,
                "list_domain": best.domain,
                "entry_category": best.category,
                "signal_type": best.signal_type,
                "entry_id": best.entry_id,
                "distance": best.distance,
                "exact": any(h.exact for h in hits),
            }
        if appeal_of is None:
            return {}
        # An appeal shows the reviewer what the contested case matched.
        contested = rows.case_row(conn, appeal_of)
        names = ("bank_name", "list_domain", "entry_category", "signal_type", "entry_id", "distance", "exact")
        return {name: getattr(contested, name) for name in names}

    # --- reading ------------------------------------------------------------------------

    def get(self, case_id: int) -> CaseInfo:
        """The case with that id; CaseNotFoundError."""
        with self._db.session() as session:
            return rows.case_info(rows.case_row(session.connection(), case_id), utcnow(), self.claim_minutes)

    def history(self, case_id: int) -> list[CaseEventInfo]:
        """Every step of the case, oldest first; CaseNotFoundError."""
        with self._db.session() as session:
            conn = session.connection()
            rows.case_row(conn, case_id)
            found = conn.execute(sa.select(case_events_table).where(_EV.case_id == case_id).order_by(_EV.id)).all()
        return [rows.event_info(r) for r in found]

    def record_event(self, case_id: int, *, actor: str, action: str, details: Mapping[str, Any] | None = None) -> None:
        """Append a step (reported, evidence_read, held...) to the case's history; CaseNotFoundError."""
        if not isinstance(action, str) or not action or len(action) > MAX_ACTION:
            raise ValidationError(f"event action must be 1 to {MAX_ACTION} characters")
        with self._db.session(write=True) as session:
            conn = session.connection()
            rows.case_row(conn, case_id)
            rows.add_event(conn, case_id, utcnow(), str(actor)[:128], action, dict(details or {}))

    def pending(self, *, limit: int = 50, offset: int = 0, kind: str | None = None) -> list[CaseInfo]:
        """Open and escalated cases, highest priority first, then oldest first."""
        _page(limit, offset)
        stmt = sa.select(cases_table).where(_C.status.in_(OPEN_STATUSES))
        if kind is not None:
            stmt = stmt.where(_C.kind == kind)
        stmt = stmt.order_by(_C.priority.desc(), _C.created_at, _C.id).limit(limit).offset(offset)
        now = utcnow()
        with self._db.session() as session:
            found = session.execute(stmt).all()
        return [rows.case_info(r, now, self.claim_minutes) for r in found]

    def count_pending(self, *, kind: str | None = None) -> int:
        """How many cases wait for a decision (open or escalated)."""
        stmt = sa.select(sa.func.count()).select_from(cases_table).where(_C.status.in_(OPEN_STATUSES))
        if kind is not None:
            stmt = stmt.where(_C.kind == kind)
        with self._db.session() as session:
            return int(session.execute(stmt).scalar_one())

    def account_history(self, account_id: str, *, limit: int = 20) -> list[CaseInfo]:
        """The account's cases, newest first."""
        _page(limit, 0)
        now = utcnow()
        with self._db.session() as session:
            found = session.execute(
                sa.select(cases_table)
                .where(_C.account_id == str(account_id))
                .order_by(_C.created_at.desc(), _C.id.desc())
                .limit(limit)
            ).all()
        return [rows.case_info(r, now, self.claim_minutes) for r in found]

    def decided_today(self, reviewer_id: int) -> int:
        """Decisions (escalations included) the reviewer took since UTC midnight."""
        with self._db.session() as session:
            conn = session.connection()
            return self._decided_today(conn, rows.actor(conn, reviewer_id), utcnow())

    @staticmethod
    def _decided_today(conn: Connection, who: rows.Actor, now: datetime) -> int:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    _EV.action == "decided", _EV.actor == who.label, _EV.created_at >= _utc_midnight(now)
                )
            ).scalar_one()
        )

    def cap_for(self, reviewer_id: int) -> int:
        """The reviewer's daily cap: their own, else the queue's default; 0 = no cap."""
        with self._db.session() as session:
            who = rows.actor(session.connection(), reviewer_id)
        return self._cap(who)

    def _cap(self, who: rows.Actor) -> int:
        return self.daily_cap if who.daily_cap is None else max(0, who.daily_cap)

    def _check_cap(self, conn: Connection, who: rows.Actor, now: datetime) -> None:
        cap = self._cap(who)
        if cap and self._decided_today(conn, who, now) >= cap:
            raise ReviewCapReachedError(f"{who.username} has decided {cap} items today, the daily cap; take a rest")

    # --- claims -------------------------------------------------------------------------

    def claim_next(self, reviewer_id: int, *, kind: str | None = None) -> CaseInfo:
        """Claim the most urgent unclaimed case (or return the one this reviewer holds); CaseNotFoundError if none."""
        now = utcnow()
        cutoff = now - timedelta(minutes=self.claim_minutes)
        with self._db.session(write=True) as session:
            conn = session.connection()
            who = rows.actor(conn, reviewer_id)
            self._check_cap(conn, who, now)
            base = sa.select(cases_table).where(_C.status.in_(OPEN_STATUSES))
            if kind is not None:
                base = base.where(_C.kind == kind)
            order = (_C.priority.desc(), _C.created_at, _C.id)
            held = conn.execute(
                base.where(_C.claimed_by == who.id, _C.claimed_at > cutoff).order_by(*order).limit(1)
            ).first()
            if held is not None:
                return rows.case_info(held, now, self.claim_minutes)
            free = sa.or_(_C.claimed_by.is_(None), _C.claimed_at.is_(None), _C.claimed_at <= cutoff)
            # SKIP LOCKED: a concurrent reviewer's transaction holding the top row makes this one take the next.
            row = conn.execute(base.where(free).order_by(*order).limit(1).with_for_update(skip_locked=True)).first()
            if row is None:
                raise CaseNotFoundError("the queue is empty")
            return self._set_claim(conn, row.id, who, now)

    def claim(self, case_id: int, reviewer_id: int) -> CaseInfo:
        """Claim one case (renewing one's own claim); CaseStateError if decided or held by someone else."""
        now = utcnow()
        with self._db.session(write=True) as session:
            conn = session.connection()
            who = rows.actor(conn, reviewer_id)
            row = rows.case_row(conn, case_id, lock=True)
            if row.status not in OPEN_STATUSES:
                raise CaseStateError(f"case {case_id} is already decided ({row.status})")
            holder = (
                row.claimed_by if rows.claim_live(row.claimed_by, row.claimed_at, now, self.claim_minutes) else None
            )
            if holder is not None and holder != who.id:
                raise CaseStateError(f"case {case_id} is claimed by another reviewer")
            return self._set_claim(conn, case_id, who, now)

    def _set_claim(self, conn: Connection, case_id: int, who: rows.Actor, now: datetime) -> CaseInfo:
        conn.execute(sa.update(cases_table).where(_C.id == case_id).values(claimed_by=who.id, claimed_at=now))
        rows.add_event(conn, case_id, now, who.label, "claimed", None)
        return rows.case_info(rows.case_row(conn, case_id), now, self.claim_minutes)

    def release(self, case_id: int, reviewer_id: int) -> CaseInfo:
        """Give a claimed case back to the queue (the claimer or an admin); releasing an unclaimed case is a no-op."""
        now = utcnow()
        with self._db.session(write=True) as session:
            conn = session.connection()
            who = rows.actor(conn, reviewer_id)
            row = rows.case_row(conn, case_id, lock=True)
            holder = (
                row.claimed_by if rows.claim_live(row.claimed_by, row.claimed_at, now, self.claim_minutes) else None
            )
            if holder is None or row.status not in OPEN_STATUSES:
                return rows.case_info(row, now, self.claim_minutes)
            if holder != who.id and not who.is_admin:
                raise CaseStateError(f"case {case_id} is claimed by another reviewer")
            conn.execute(sa.update(cases_table).where(_C.id == case_id).values(claimed_by=None, claimed_at=None))
            rows.add_event(conn, case_id, now, who.label, "released", None)
            return rows.case_info(rows.case_row(conn, case_id), now, self.claim_minutes)

    # --- viewing and deciding -----------------------------------------------------------

    def mark_viewed(self, case_id: int, reviewer_id: int, *, session_id: int | None = None) -> CaseInfo:
        """Record that the reviewer saw the media unblurred (the first view's time and viewer are kept).

        ``session_id`` names the console login that revealed it, so only that login gets the clear media.
        """
        now = utcnow()
        with self._db.session(write=True) as session:
            conn = session.connection()
            who = rows.actor(conn, reviewer_id)
            row = rows.case_row(conn, case_id, lock=True)
            if not row.media_viewed:
                conn.execute(
                    sa.update(cases_table)
                    .where(_C.id == case_id)
                    .values(media_viewed=True, viewed_at=now, viewed_by=who.id, updated_at=now)
                )
            rows.add_event(
                conn, case_id, now, who.label, "viewed", None if session_id is None else {"session": session_id}
            )
            audit_viewed(conn, case_id, who.label, now)
            return rows.case_info(rows.case_row(conn, case_id), now, self.claim_minutes)

    def decide(
        self,
        case_id: int,
        reviewer_id: int,
        decision: str,
        *,
        classification: str | None = None,
        domain: str | None = None,
        disable_entry: bool = False,
        negative_bank: str | None = None,
        note: str = "",
    ) -> CaseInfo:
        """Decide a case (only its claimer or an admin, within the daily cap), then tell every listener."""
        request = DecisionRequest(
            decision=decision,
            classification=classification,
            domain=domain,
            disable_entry=disable_entry,
            negative_bank=negative_bank,
            note=str(note),
        )
        now = utcnow()
        with self._db.session(write=True) as session:
            conn = session.connection()
            who = rows.actor(conn, reviewer_id)
            row = rows.case_row(conn, case_id, lock=True)
            if row.status not in OPEN_STATUSES:
                raise CaseStateError(f"case {case_id} is already decided ({row.status})")
            holder = (
                row.claimed_by if rows.claim_live(row.claimed_by, row.claimed_at, now, self.claim_minutes) else None
            )
            if holder != who.id and not who.is_admin:
                raise CaseStateError(f"claim case {case_id} before deciding it")
            checked = request.validated(row)
            self._check_cap(conn, who, now)
            apply_decision(conn, row, checked, who, now)
            info = rows.case_info(rows.case_row(conn, case_id), now, self.claim_minutes)
        self._notify(checked.to_decision(info, who))
        return info

    def _notify(self, decision: Decision) -> None:
        notify(self._listeners, decision, self.record_event)

    def set_status(self, case_id: int, status: str, *, actor: str, reason: str) -> CaseInfo:
        """Change a case's status outside a review decision (an upheld appeal reverses a confirmation)."""
        if status not in CASE_STATUSES:
            raise ValidationError(f"case status must be one of {', '.join(CASE_STATUSES)}, got {status!r}")
        now = utcnow()
        with self._db.session(write=True) as session:
            conn = session.connection()
            row = rows.case_row(conn, case_id, lock=True)
            conn.execute(sa.update(cases_table).where(_C.id == case_id).values(status=status, updated_at=now))
            details = {"from": row.status, "to": status, "reason": str(reason)}
            rows.add_event(conn, case_id, now, str(actor)[:128], "status_changed", details)
            audit_status_changed(conn, case_id, str(actor)[:128], now, status=status, reason=str(reason))
            return rows.case_info(rows.case_row(conn, case_id), now, self.claim_minutes)
