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
from brightline.store.models_cases import cases_table

log = logging.getLogger(__name__)

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
        """Apply the rules to a freshly recorded matching scan (a replayed one returns what it led to then)."""
        if record.replayed:
            return self.replay(record)
        hits = self.hits(matches)
        if not hits:
            return IntakeResult()
        outcome = self._rules.engine().evaluate(
            hits, account_matches=count_account_matches(self._db, record.account_id)
        )
        evidence_id = None
        if media is not None:
            evidence_id = self._evidence.put(record.id, media, media_type=media_type, actor=actor).id
        # With no rule for these banks a match still goes to a human: nothing is acted on unseen.
        review = outcome.review or not outcome.fired
        case = self._open_case(record, hits, outcome, actor) if review else None
        for action, wanted in (("block", outcome.block), ("quarantine", outcome.quarantine)):
            if wanted:
                self._enforcement.apply(
                    scan_id=record.id,
                    content_id=record.content_id,
                    account_id=record.account_id,
                    action=action,
                    rule=",".join(outcome.fired),
                    actor=actor,
                )
        notice = None
        if outcome.notice is not None:
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
            case_id=case.id if case is not None else None,
            evidence_id=evidence_id,
            notice=notice,
            rules=outcome.fired,
            withheld=outcome.withheld,
        )
        sent = self._send_webhooks(record, hits, outcome, result)
        return IntakeResult(**{**result.__dict__, "webhooks": sent})

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
        self, record: ScanRecord, hits: list[CaseHit], outcome: RuleOutcome, result: IntakeResult
    ) -> int:
        # The platform learns ids and what was decided, never hashes: a webhook URL is less guarded than the API.
        payload = {
            "scan_id": record.id,
            "content_id": record.content_id,
            "account_id": record.account_id,
            "actions": result.as_dict(),
            "banks": sorted({hit.bank for hit in hits}),
        }
        for rule, url in outcome.webhooks:
            self._webhooks.enqueue(
                rule=rule, url=url, event="match", payload=payload, scan_id=record.id, case_id=result.case_id
            )
        return len(outcome.webhooks)

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
