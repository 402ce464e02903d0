"""Build the after-a-match services (rules, evidence, enforcement, webhooks, reports, appeals) from settings.

Kept apart from app.py so the CLI can build the very same set, and so tests can hand in one
httpx transport (a fake CyberTipline and a fake platform) for everything that talks HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import httpx

from brightline.actions import (
    EnforcementService,
    EvidenceStore,
    NoticeService,
    RuleService,
    WebhookService,
    key_provider_from_settings,
    webhook_secret_from_settings,
)
from brightline.appeals import AppealService
from brightline.banks import BankService
from brightline.records import RecordService
from brightline.reporting.holds import HoldService
from brightline.reporting.listeners import ReportOnConfirm
from brightline.reporting.service import ReportService
from brightline.reporting.wiring import report_service_from_settings
from brightline.review.feedback import EntryFeedback
from brightline.review.intake import Intake
from brightline.review.queue import ReviewQueue
from brightline.settings import Settings
from brightline.sources.service import SourceService, source_service_from_settings
from brightline.store.db import Database

log = logging.getLogger(__name__)

# How often a worker sends the webhook deliveries that are due (each delivery is leased, so
# several workers and replicas never send the same one twice).
WEBHOOK_POLL_SECONDS = 2.0


@dataclass
class AfterMatch:
    """The services that act on a recorded match."""

    rules: RuleService
    notices: NoticeService
    enforcement: EnforcementService
    webhooks: WebhookService
    reports: ReportService
    holds: HoldService
    appeals: AppealService
    intake: Intake
    sources: SourceService  # hash-list feeds; their false-positive feedback listens on the queue


def review_services(db: Database, settings: Settings, banks: BankService) -> tuple[ReviewQueue, EvidenceStore]:
    """The review queue and the evidence store, configured from the settings."""
    queue = ReviewQueue(
        db,
        claim_minutes=settings.review_claim_minutes,
        daily_cap=settings.review_daily_cap,
        # False positives feed back into the banks (disable the entry, allow-list the media).
        listeners=[EntryFeedback(banks, db)],
    )
    evidence = EvidenceStore(db, settings.effective_evidence_dir, key_provider_from_settings(settings))
    return queue, evidence


def build_intake(db: Database, settings: Settings, banks: BankService) -> Intake:
    """Review intake wired as the service wires it, for callers outside a server (backlog scans)."""
    queue, evidence = review_services(db, settings, banks)
    return build_after_match(db, settings, banks=banks, queue=queue, evidence=evidence).intake


def build_after_match(
    db: Database,
    settings: Settings,
    *,
    banks: BankService,
    queue: ReviewQueue,
    evidence: EvidenceStore,
    transport: httpx.BaseTransport | None = None,
) -> AfterMatch:
    """Wire the services together and register the decision listeners on the queue."""
    rules = RuleService(db, min_independent_sources=settings.min_independent_sources)
    if settings.rules_file is not None:
        # The file is the source of truth at start-up; API edits last until the next restart.
        loaded = rules.load_file(settings.rules_file)
        log.info("loaded %d rules from %s", loaded, settings.rules_file)
    notices = NoticeService(db)
    enforcement = EnforcementService(db)
    webhooks = WebhookService(db, webhook_secret_from_settings(settings), transport=transport)
    # Missing NCMEC credentials must not stop the service: reporting then fails, visibly, per case.
    reports = report_service_from_settings(db, settings, transport=transport, require_credentials=False)
    appeals = AppealService(db, queue=queue, enforcement=enforcement, webhooks=webhooks, reports=reports)
    queue.add_listener(ReportOnConfirm(reports))
    queue.add_listener(appeals)
    sources = source_service_from_settings(db, settings, transport=transport)
    queue.add_listener(sources.listener)
    intake = Intake(
        db,
        banks=banks,
        rules=rules,
        queue=queue,
        evidence=evidence,
        notices=notices,
        enforcement=enforcement,
        webhooks=webhooks,
    )
    return AfterMatch(
        rules=rules,
        notices=notices,
        enforcement=enforcement,
        webhooks=webhooks,
        reports=reports,
        holds=HoldService(db),
        appeals=appeals,
        intake=intake,
        sources=sources,
    )


async def deliver_webhooks(
    webhooks: WebhookService, stop: asyncio.Event, every_s: float = WEBHOOK_POLL_SECONDS
) -> None:
    """Send due webhook deliveries until ``stop`` is set (runs in each service worker)."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(webhooks.deliver_due)
        except Exception:  # the loop must outlive one bad pass (a database hiccup)
            log.exception("webhook delivery pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)


async def flush_counters_periodically(records: RecordService, stop: asyncio.Event, every_s: float) -> None:
    """Write buffered scan counts every ``every_s`` while idle, and once more when ``stop`` is set."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)
        await asyncio.to_thread(records.flush_counters_if_due)
    try:
        await asyncio.to_thread(records.flush_counters)
    except Exception:  # shutting down: say what was lost rather than hide it
        log.exception("scan counters could not be written at shutdown")
