"""Retention runs: delete the matched data the policy makes due, with an audit record for every deletion.

A run plans (see :mod:`brightline.privacy.retention_plan`), then deletes unit by unit: each
evidence file through :class:`EvidenceStore` (which refuses anything preserved or held) and its
metadata row, then every row of the unit in one transaction that re-checks holds and
preservation under lock. Every deleted row gets a ``retention.deleted`` audit record (ids and
names only) in the transaction that deletes it; each run ends with one ``retention.run`` record.
Only one run goes at a time across workers and replicas: a PostgreSQL advisory lock, or on
SQLite a claim row taken under the database's write lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from brightline.actions.evidence import EvidenceStore
from brightline.actions.keys import key_provider_from_settings
from brightline.errors import EvidenceNotFoundError, LegalHoldError, RetentionBusyError
from brightline.privacy.retention_plan import (
    KINDS,
    PlanItem,
    RetentionPlan,
    build_plan,
    chunks,
    protection,
    unit_contents,
)
from brightline.privacy.retention_policy import RetentionPolicy, policy_from_settings
from brightline.settings import Settings
from brightline.store.audit import append_audit
from brightline.store.db import Database
from brightline.store.models import match_events_table, scan_records_table, utcnow
from brightline.store.models_actions import (
    enforcements_table,
    evidence_access_table,
    evidence_table,
    user_notices_table,
    webhook_attempts_table,
    webhook_deliveries_table,
)
from brightline.store.models_cases import appeals_table, case_events_table, cases_table, legal_holds_table
from brightline.store.models_reporting import reports_table
from brightline.store.models_retention import retention_runs_table

log = logging.getLogger(__name__)

# The advisory lock key of retention runs (any constant distinct from the migration lock's).
ADVISORY_KEY = 0x42_4C_52_54  # "BLRT"
# A SQLite claim older than this is taken to be a crashed run and ignored.
STALE_CLAIM = timedelta(hours=6)
# The service's first check comes this long after start-up (not at once: start-up stays fast), then every POLL_S.
FIRST_CHECK_S = 60.0
POLL_S = 300.0
_RUNS = retention_runs_table.c

# Rows of each kind, by table, in deletion order (children before parents).
_TABLES: dict[str, sa.Table] = {
    "delivery": webhook_deliveries_table,
    "notice": user_notices_table,
    "enforcement": enforcements_table,
    "appeal": appeals_table,
    "report": reports_table,
    "hold": legal_holds_table,
    "case": cases_table,
    "evidence": evidence_table,
    "scan": scan_records_table,
}


@dataclass(frozen=True)
class RetentionOutcome:
    """What one run (or dry run) did: its plan, what it deleted per kind, and what it kept or left."""

    plan: RetentionPlan
    dry_run: bool
    run_id: int
    deleted: dict[str, int] = field(default_factory=dict)
    # Units kept although due (holds, preservation), and units left because they changed since planned.
    kept: int = 0
    changed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "deleted": self.deleted,
            "kept": self.kept,
            "changed": self.changed,
            "plan": self.plan.as_dict(),
        }


class _UnitChangedError(Exception):
    """A unit changed between planning and deletion (new case, new hold): left for the next run."""


class RetentionService:
    """Plan and run retention on one database under one policy."""

    def __init__(self, db: Database, policy: RetentionPolicy, evidence: EvidenceStore) -> None:
        self.db = db
        self.policy = policy
        self.evidence = evidence

    def plan(self, *, now: datetime | None = None) -> RetentionPlan:
        """What a run at ``now`` would delete and keep (reads only)."""
        with self.db.engine.connect() as conn:
            return build_plan(conn, self.policy, now or utcnow())

    def run(self, *, actor: str, dry_run: bool = False, now: datetime | None = None) -> RetentionOutcome:
        """Delete what is due at ``now`` (or only plan it); RetentionBusyError while another run goes."""
        now = now or utcnow()
        if dry_run:
            plan = self.plan(now=now)
            logged = self._log_run(actor, now, dry_run=True, counts=plan.counts(), status="finished")
            return RetentionOutcome(plan=plan, dry_run=True, run_id=logged, deleted=plan.counts(), kept=len(plan.kept))
        with self._exclusive(actor, now) as run_id:
            if run_id is None:
                raise RetentionBusyError("another retention run is in progress")
            return self._run(run_id, actor, now)

    def run_if_due(self, *, actor: str, interval: timedelta, now: datetime | None = None) -> RetentionOutcome | None:
        """Run unless another run goes now or one finished within ``interval`` (the scheduled entry point)."""
        now = now or utcnow()
        with self._exclusive(actor, now, interval=interval) as run_id:
            return None if run_id is None else self._run(run_id, actor, now)

    # --- the single-runner guard ---

    @contextlib.contextmanager
    def _exclusive(self, actor: str, now: datetime, *, interval: timedelta | None = None) -> Iterator[int | None]:
        """Yield a new run's id while this process holds the guard, or None when it must not run."""
        if self.db.dialect_name != "postgresql":
            # SQLite: the claim row is checked and written under the write lock, so one claim wins.
            run_id = self._claim(actor, now, interval, check_running=True)
            yield run_id
            return
        with self.db.engine.connect() as lock_conn:
            # Session-level: released by pg_advisory_unlock, or by PostgreSQL if this process dies.
            got = bool(lock_conn.execute(sa.select(sa.func.pg_try_advisory_lock(ADVISORY_KEY))).scalar_one())
            lock_conn.commit()
            if not got:
                yield None
                return
            try:
                yield self._claim(actor, now, interval, check_running=False)
            finally:
                lock_conn.execute(sa.select(sa.func.pg_advisory_unlock(ADVISORY_KEY)))
                lock_conn.commit()

    def _claim(self, actor: str, now: datetime, interval: timedelta | None, *, check_running: bool) -> int | None:
        with self.db.write_connection() as conn:
            real = _RUNS.dry_run.is_(False)
            if check_running:
                running = sa.select(_RUNS.id).where(
                    real, _RUNS.status == "running", _RUNS.started_at > now - STALE_CLAIM
                )
                if conn.execute(running.limit(1)).first() is not None:
                    return None
            if interval is not None:
                recent = sa.select(_RUNS.id).where(real, _RUNS.status == "finished", _RUNS.started_at > now - interval)
                if conn.execute(recent.limit(1)).first() is not None:
                    return None
            return int(
                conn.execute(
                    sa.insert(retention_runs_table)
                    .values(started_at=now, dry_run=False, actor=actor, status="running")
                    .returning(_RUNS.id)
                ).scalar_one()
            )

    def _log_run(self, actor: str, now: datetime, *, dry_run: bool, counts: dict[str, int], status: str) -> int:
        with self.db.write_connection() as conn:
            values = {"started_at": now, "finished_at": utcnow(), "dry_run": dry_run, "actor": actor}
            values |= {"status": status, "counts": json.dumps(counts, sort_keys=True)}
            return int(conn.execute(sa.insert(retention_runs_table).values(**values).returning(_RUNS.id)).scalar_one())

    # --- deleting ---

    def _run(self, run_id: int, actor: str, now: datetime) -> RetentionOutcome:
        deleted = dict.fromkeys(KINDS, 0)
        kept = changed = 0
        try:
            plan = self.plan(now=now)
            kept = len(plan.kept)
            for item in plan.to_delete:
                try:
                    for kind, count in self._delete_unit(item, actor, now).items():
                        deleted[kind] += count
                except _UnitChangedError as exc:
                    log.info("retention: %s %d left for the next run: %s", item.kind, item.id, exc)
                    changed += 1
        except BaseException as exc:
            with self.db.write_connection() as conn:
                conn.execute(
                    sa.update(retention_runs_table)
                    .where(_RUNS.id == run_id)
                    .values(status="failed", finished_at=utcnow(), counts=json.dumps(deleted), error=str(exc)[:2000])
                )
            raise
        with self.db.write_connection() as conn:
            conn.execute(
                sa.update(retention_runs_table)
                .where(_RUNS.id == run_id)
                .values(status="finished", finished_at=utcnow(), counts=json.dumps(deleted, sort_keys=True))
            )
            details = {"run_id": run_id, "deleted": deleted, "kept": kept, "changed": changed, "dry_run": False}
            append_audit(conn, actor=actor, action="retention.run", subject=f"retention_run:{run_id}", details=details)
        return RetentionOutcome(plan=plan, dry_run=False, run_id=run_id, deleted=deleted, kept=kept, changed=changed)

    def _audit(self, conn: Connection, actor: str, item: PlanItem, kind: str, ident: int) -> None:
        details = {"kind": kind, "id": ident, "policy": item.policy, "age_days": item.age_days}
        append_audit(conn, actor=actor, action="retention.deleted", subject=f"{kind}:{ident}", details=details)

    def _delete_unit(self, item: PlanItem, actor: str, now: datetime) -> dict[str, int]:
        counts = dict.fromkeys(KINDS, 0)
        for evidence_id in item.contents.get("evidence", ()):
            try:
                # Deletes the file and marks the row; refuses (LegalHoldError) while preserved or held.
                self.evidence.delete(evidence_id, actor=actor, reason=f"retention: {item.policy}")
            except EvidenceNotFoundError:
                continue
            except LegalHoldError as exc:
                raise _UnitChangedError(str(exc)) from None
            with self.db.write_connection() as conn:
                if self._delete_evidence_rows(conn, [evidence_id]):
                    self._audit(conn, actor, item, "evidence", evidence_id)
                    counts["evidence"] += 1
        with self.db.write_connection() as conn:
            for kind, ids in self._recheck(conn, item, now).items():
                for ident in ids:
                    self._audit(conn, actor, item, kind, ident)
                counts[kind] += len(ids)
        return counts

    def _recheck(self, conn: Connection, item: PlanItem, now: datetime) -> dict[str, Sequence[int]]:
        """In the deleting transaction: lock the unit, make sure it is unchanged and unprotected, delete it."""
        c = cases_table.c
        case_ids, scan_ids = list(item.case_ids), list(item.scan_ids)
        locked: set[int] = set()
        for part in chunks(case_ids):
            # FOR UPDATE: a hold being placed locks the case row first, so it waits for us (or we for it).
            locked.update(conn.execute(sa.select(c.id).where(c.id.in_(part)).with_for_update()).scalars())
        s = scan_records_table.c
        present = set(conn.execute(sa.select(s.id).where(s.id.in_(scan_ids or [-1]))).scalars())
        if locked != set(case_ids) or present != set(scan_ids):
            raise _UnitChangedError("cases or scans were deleted meanwhile")
        linked = sa.select(c.id).where(
            sa.or_(c.scan_id.in_(scan_ids or [-1]), c.appeal_of.in_(case_ids or [-1])), c.id.not_in(case_ids or [-1])
        )
        if conn.execute(linked.limit(1)).first() is not None:
            raise _UnitChangedError("a new case joined the unit")
        reason = protection(conn, case_ids, scan_ids, now)
        if reason:
            raise _UnitChangedError(reason)
        contents = unit_contents(conn, case_ids, scan_ids)
        self._delete_rows(conn, contents, scan_ids)
        return {k: v for k, v in contents.items() if v}

    def _delete_evidence_rows(self, conn: Connection, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        conn.execute(sa.delete(evidence_access_table).where(evidence_access_table.c.evidence_id.in_(ids)))
        e = evidence_table.c
        # Only rows whose file is gone (deleted_at set): a live evidence file is never orphaned.
        return int(conn.execute(sa.delete(evidence_table).where(e.id.in_(ids), e.deleted_at.is_not(None))).rowcount)

    def _delete_rows(self, conn: Connection, contents: dict[str, tuple[int, ...]], scan_ids: list[int]) -> None:
        if contents["evidence"]:
            live = sa.select(evidence_table.c.id).where(
                evidence_table.c.id.in_(contents["evidence"]), evidence_table.c.deleted_at.is_(None)
            )
            if conn.execute(live.limit(1)).first() is not None:
                raise _UnitChangedError("evidence was stored meanwhile")
            self._delete_evidence_rows(conn, contents["evidence"])
        for part in chunks(contents["delivery"]):
            conn.execute(sa.delete(webhook_attempts_table).where(webhook_attempts_table.c.delivery_id.in_(part)))
        for part in chunks(contents["case"]):
            conn.execute(sa.delete(case_events_table).where(case_events_table.c.case_id.in_(part)))
            # Appeal cases point at the case they contest: unlink first, so the order of deletion never matters.
            conn.execute(sa.update(cases_table).where(cases_table.c.id.in_(part)).values(appeal_of=None))
        for part in chunks(scan_ids):
            conn.execute(sa.delete(match_events_table).where(match_events_table.c.scan_id.in_(part)))
        for kind, table in _TABLES.items():
            if kind == "evidence":
                continue
            for part in chunks(contents[kind]):
                conn.execute(sa.delete(table).where(table.c.id.in_(part)))


def retention_service_from_settings(
    db: Database, settings: Settings, *, evidence: EvidenceStore | None = None, policy: RetentionPolicy | None = None
) -> RetentionService:
    """The retention service for these settings (ConfigurationError on a bad or unlawful policy)."""
    if evidence is None:
        evidence = EvidenceStore(db, settings.effective_evidence_dir, key_provider_from_settings(settings))
    return RetentionService(db, policy or policy_from_settings(settings), evidence)


async def run_retention_periodically(
    service: RetentionService, stop: asyncio.Event, *, interval: timedelta, actor: str = "service:retention"
) -> None:
    """Check every few minutes (and soon after start) whether a run is due; run it if no one else does."""
    # Every worker polls; the guard and the last finished run make it one run per interval overall.
    poll_s = min(interval.total_seconds(), POLL_S)
    first_s = min(interval.total_seconds(), FIRST_CHECK_S)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=first_s)
    while not stop.is_set():
        try:
            outcome = await asyncio.to_thread(service.run_if_due, actor=actor, interval=interval)
            if outcome is not None:
                log.info("retention run %d deleted %s", outcome.run_id, outcome.deleted)
        except Exception:  # the loop must outlive one bad pass (a database hiccup)
            log.exception("retention run failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=poll_s)
