"""What happens right after a recorded match: rules, evidence, enforcement, notices, webhooks, a review case.

This is the one place that turns a recorded scan and its matches into actions, used by the
service's /v1/scan and the CLI alike. Order matters: evidence is stored before a case is
opened (a reviewer must never meet a case without its media), and webhooks are queued last
so their payload can name the case.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from brightline.actions.enforcement import EnforcementService
from brightline.actions.evidence import EvidenceStore
from brightline.actions.notices import NoticeService
from brightline.actions.rules import RuleOutcome, RuleService, count_account_matches
from brightline.actions.webhooks import WebhookService
from brightline.banks import BankService
from brightline.banks.provenance import ProvenanceService
from brightline.errors import EntryNotFoundError
from brightline.matching import Match
from brightline.records import ScanRecord
from brightline.review.queue import ReviewQueue
from brightline.review.types import CaseHit, CaseInfo
from brightline.store.db import Database
from brightline.store.models import scan_records_table, utcnow
from brightline.store.models_actions import (
    enforcements_table,
    evidence_table,
    user_notices_table,
    webhook_deliveries_table,
)
from brightline.store.models_cases import cases_table

log = logging.getLogger(__name__)

# An intake still unfinished this long after its record was written was interrupted (a crash,
# a killed worker) rather than still running: a replay of the scan then finishes it.
RESUME_AFTER = timedelta(seconds=60)
_R = scan_records_table.c

# Signal types whose match means the very same file, which rules may act on at the first match.
EXACT_SIGNAL_TYPES = frozenset({"md5", "sha256"})


@dataclass(frozen=True)
class IntakeResult:
    """What a matched scan led to, as the scan response reports it to the platform."""

    block: bool = False
    quarantine: bool = False
    case_id: int | None = None
    evidence_id: int | None = None
    notice: str | None = None
    rules: tuple[str, ...] = ()
    withheld: tuple[str, ...] = ()
    webhooks: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the scan response's ``actions`` object)."""
        return {
            "block": self.block,
            "quarantine": self.quarantine,
            "review_case_id": self.case_id,
            "notice": self.notice,
            "rules": list(self.rules),
            "withheld": list(self.withheld),
        }


class Intake:
    """Runs the rules on a recorded match and carries out what they decide."""

    def __init__(
        self,
        db: Database,
        *,
        banks: BankService,
        rules: RuleService,
        queue: ReviewQueue,
        evidence: EvidenceStore,
        notices: NoticeService,
        enforcement: EnforcementService,
        webhooks: WebhookService,
    ) -> None:
        self._db = db
        self._banks = banks
        self._rules = rules
        self._queue = queue
        self._evidence = evidence
        self._notices = notices
        self._enforcement = enforcement
        self._webhooks = webhooks
        self._provenance = ProvenanceService(db)

    def hits(self, matches: Sequence[Match]) -> list[CaseHit]:
        """The rules' view of each match: its bank's list domain and the entry's category."""
        hits: list[CaseHit] = []
        vouchers = self._provenance.vouchers([match.entry_id for match in matches]) if matches else {}
        for match in matches:
            try:
                entry = self._banks.get_entry(match.entry_id)
                domain, category = entry.domain, entry.category
            except EntryNotFoundError:
                # Removed between matching and now: keep the hit, with the bank's domain if it still exists.
                domain, category = "other", ""
            hits.append(
                CaseHit(
                    bank=match.bank,
                    domain=domain,
                    category=category,
                    signal_type=match.signal_type,
                    entry_id=match.entry_id,
                    distance=match.distance,
                    exact=match.signal_type in EXACT_SIGNAL_TYPES,
                    vouchers=vouchers.get(match.entry_id, 1),
                )
            )
        return hits

    def process(
        self,
        record: ScanRecord,
        matches: Sequence[Match],
        *,
        media: bytes | None,
        media_type: str,
        actor: str,
    ) -> IntakeResult:
        """Apply the rules to a freshly recorded matching scan.

        A replayed record returns what its first intake led to; if that intake was interrupted
        (see ``interrupted``), this one finishes it from the record's own match events instead.
        """
        if not record.replayed:
            return self._take_in(record, matches, media=media, media_type=media_type, actor=actor, resume=False)
        if not self.interrupted(record):
            return self.replay(record)
        log.warning("finishing the interrupted review intake of scan %d", record.id)
        recorded = [
            Match(bank=e.bank, entry_id=e.entry_id, signal_type=e.signal_type, distance=e.distance, variant=e.variant)
            for e in record.matches
        ]
        return self._take_in(record, recorded, media=media, media_type=media_type, actor=actor, resume=True)

    def interrupted(self, record: ScanRecord) -> bool:
        """Whether this record's intake never finished and has had time to (a crash, a killed worker)."""
        with self._db.engine.connect() as conn:
            row = conn.execute(sa.select(_R.intake_at, _R.created_at).where(_R.id == record.id)).first()
        if row is None or row.intake_at is not None:
            return False
        age: timedelta = utcnow() - row.created_at  # read back timezone-aware (UTCDateTime)
        return age >= RESUME_AFTER

    def _take_in(
        self,
        record: ScanRecord,
        matches: Sequence[Match],
        *,
        media: bytes | None,
        media_type: str,
        actor: str,
        resume: bool,
    ) -> IntakeResult:
        """Run the rules and carry out their decision; when resuming, skip what an earlier run did."""
        hits = self.hits(matches)
        if not hits:
            self._finished(record.id)
            return IntakeResult()
        outcome = self._rules.engine().evaluate(
            hits, account_matches=count_account_matches(self._db, record.account_id)
        )
        done = _Done.of(self._db, record.id) if resume else _Done()
        evidence_id = done.evidence_id
        if evidence_id is None and media is not None:
            evidence_id = self._evidence.put(record.id, media, media_type=media_type, actor=actor).id
        # With no rule for these banks a match still goes to a human: nothing is acted on unseen.
        case_id = done.case_id
        if (outcome.review or not outcome.fired) and case_id is None:
            case_id = self._open_case(record, hits, outcome, actor).id
        for action, wanted in (("block", outcome.block), ("quarantine", outcome.quarantine)):
            if wanted and action not in done.enforced:
                self._enforcement.apply(
                    scan_id=record.id,
                    content_id=record.content_id,
                    account_id=record.account_id,
                    action=action,
                    rule=",".join(outcome.fired),
                    actor=actor,
                )
        notice = done.notice
        if outcome.notice is not None and notice is None:
            notice = self._notices.create(
                scan_id=record.id,
                account_id=record.account_id,
                content_id=record.content_id,
                text=outcome.notice,
                rule=",".join(outcome.fired),
            ).text
        result = IntakeResult(
            block=outcome.block,
            quarantine=outcome.quarantine,
            case_id=case_id,
            evidence_id=evidence_id,
            notice=notice if outcome.notice is not None else None,
            rules=outcome.fired,
            withheld=outcome.withheld,
        )
        sent = self._send_webhooks(record, hits, outcome, result, already=done.webhooks)
        self._finished(record.id)
        return IntakeResult(**{**result.__dict__, "webhooks": sent})

    def _finished(self, scan_id: int) -> None:
        with self._db.write_connection() as conn:
            conn.execute(sa.update(scan_records_table).where(_R.id == scan_id).values(intake_at=utcnow()))

    def _open_case(self, record: ScanRecord, hits: list[CaseHit], outcome: RuleOutcome, actor: str) -> CaseInfo:
        return self._queue.open_case(
            scan_id=record.id,
            account_id=record.account_id,
            content_id=record.content_id,
            hits=hits,
            verified=outcome.verified,
            report_on_confirm=outcome.report_on_confirm,
            rules=outcome.fired,
            actor=actor,
        )

    def _send_webhooks(
        self,
        record: ScanRecord,
        hits: list[CaseHit],
        outcome: RuleOutcome,
        result: IntakeResult,
        *,
        already: frozenset[tuple[str, str]] = frozenset(),
    ) -> int:
        # The platform learns ids and what was decided, never hashes: a webhook URL is less guarded than the API.
        payload = {
            "scan_id": record.id,
            "content_id": record.content_id,
            "account_id": record.account_id,
            "actions": result.as_dict(),
            "banks": sorted({hit.bank for hit in hits}),
        }
        due = [(rule, url) for rule, url in outcome.webhooks if (rule, url) not in already]
        for rule, url in due:
            self._webhooks.enqueue(
                rule=rule, url=url, event="match", payload=payload, scan_id=record.id, case_id=result.case_id
            )
        return len(due)

    def replay(self, record: ScanRecord) -> IntakeResult:
        """What an earlier intake of this scan decided, read back from the store (idempotent retries)."""
        with self._db.engine.connect() as conn:
            case_id = conn.execute(
                sa.select(cases_table.c.id)
                .where(cases_table.c.scan_id == record.id, cases_table.c.kind == "match")
                .order_by(cases_table.c.id)
                .limit(1)
            ).scalar()
        actions = {e.action for e in self._enforcement.active(content_id=None, scan_id=record.id)}
        notices = self._notices.list(scan_id=record.id, limit=1)
        return IntakeResult(
            block="block" in actions,
            quarantine="quarantine" in actions,
            case_id=case_id,
            notice=notices[0].text if notices else None,
        )


@dataclass(frozen=True)
class _Done:
    """What an interrupted intake of one scan had already done (empty for a fresh intake)."""

    evidence_id: int | None = None
    case_id: int | None = None
    enforced: frozenset[str] = frozenset()
    notice: str | None = None
    webhooks: frozenset[tuple[str, str]] = frozenset()  # (rule, url) already queued

    @classmethod
    def of(cls, db: Database, scan_id: int) -> _Done:
        """Read it back from the store."""
        with db.engine.connect() as conn:
            evidence_id = conn.execute(
                sa.select(evidence_table.c.id).where(evidence_table.c.scan_id == scan_id).limit(1)
            ).scalar()
            case_id = conn.execute(
                sa.select(cases_table.c.id)
                .where(cases_table.c.scan_id == scan_id, cases_table.c.kind == "match")
                .order_by(cases_table.c.id)
                .limit(1)
            ).scalar()
            enforced = conn.execute(
                sa.select(enforcements_table.c.action).where(enforcements_table.c.scan_id == scan_id)
            ).scalars()
            notice = conn.execute(
                sa.select(user_notices_table.c.text).where(user_notices_table.c.scan_id == scan_id).limit(1)
            ).scalar()
            queued = conn.execute(
                sa.select(webhook_deliveries_table.c.rule, webhook_deliveries_table.c.url).where(
                    webhook_deliveries_table.c.scan_id == scan_id
                )
            ).all()
        return cls(evidence_id, case_id, frozenset(enforced), notice, frozenset((r.rule, r.url) for r in queued))
