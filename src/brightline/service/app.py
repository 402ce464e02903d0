"""The FastAPI application factory; uvicorn calls ``create_app`` once per worker (factory=True)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from fastapi import FastAPI

from brightline import __version__
from brightline.actions import EvidenceStore, key_provider_from_settings
from brightline.auth import ApiKeyService, RateLimiter
from brightline.auth.reviewers import ReviewerService
from brightline.banks import BankService
from brightline.matching import Matcher, MatchOptions
from brightline.privacy.audit_settings import record_settings
from brightline.privacy.retention import retention_service_from_settings, run_retention_periodically
from brightline.privacy.retention_policy import policy_from_settings
from brightline.records import RecordService
from brightline.review.feedback import EntryFeedback
from brightline.review.queue import ReviewQueue
from brightline.service import (
    console,
    routes_actions,
    routes_admin,
    routes_audit,
    routes_banks,
    routes_cases,
    routes_health,
    routes_media,
    routes_provenance,
    routes_sources,
    routes_transparency,
)
from brightline.service.errors import install_error_handlers
from brightline.service.freshness import IndexKeeper
from brightline.service.limits import BodySizeLimitMiddleware
from brightline.service.metrics import Metrics, RequestMetricsMiddleware
from brightline.service.state import ServiceState
from brightline.service.wiring import build_after_match, deliver_webhooks
from brightline.settings import Settings
from brightline.sources.service import run_sources_periodically
from brightline.store.db import Database

log = logging.getLogger(__name__)

DESCRIPTION = """Match images and hashes against banks of known harmful media.

Authenticate with `Authorization: Bearer <API key>`; each endpoint names the scope it needs.
Errors are JSON: `{"error": {"code": "...", "message": "..."}}`.
"""


def build_state(settings: Settings, *, transport: httpx.BaseTransport | None = None) -> ServiceState:
    """Open the database (migrating it if behind) and build the services one worker needs."""
    db = Database(settings.effective_database_url)
    db.ensure_schema()
    record_settings(db, settings, actor="system")
    banks = BankService(db)
    options = MatchOptions(
        min_quality=settings.min_quality,
        dihedral=settings.match_dihedral,
        thresholds={"pdq": settings.pdq_threshold},
        video_query_percent=settings.video_query_percent,
        video_candidate_percent=settings.video_candidate_percent,
    )
    matcher = Matcher(banks, index_dir=settings.index_dir, options=options)
    queue = ReviewQueue(
        db,
        claim_minutes=settings.review_claim_minutes,
        daily_cap=settings.review_daily_cap,
        # False positives feed back into the banks (disable the entry, allow-list the media).
        listeners=[EntryFeedback(banks, db)],
    )
    evidence = EvidenceStore(db, settings.effective_evidence_dir, key_provider_from_settings(settings))
    return ServiceState(
        settings=settings,
        db=db,
        banks=banks,
        keys=ApiKeyService(db),
        records=RecordService(db),
        keeper=IndexKeeper(
            matcher, max_age_seconds=settings.max_index_age_seconds, store_revision=banks.current_revision
        ),
        limiter=RateLimiter(),
        metrics=Metrics(),
        reviewers=ReviewerService(db),
        queue=queue,
        evidence=evidence,
        after=build_after_match(db, settings, banks=banks, queue=queue, evidence=evidence, transport=transport),
    )


def create_app(settings: Settings | None = None, *, transport: httpx.BaseTransport | None = None) -> FastAPI:
    """A new app: Settings() from the environment when none are given; nothing is shared between apps.

    ``transport`` replaces the network for outgoing HTTP (webhooks, reports): tests pass fakes here.
    """
    settings = settings if settings is not None else Settings()
    # Checked before anything opens: a bad or unlawful retention policy stops start-up, not the first run.
    policy = policy_from_settings(settings)
    state = build_state(settings, transport=transport)
    retention = retention_service_from_settings(state.db, settings, evidence=state.evidence, policy=policy)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The first pass of the loop loads the index; /readyz says 503 until it has.
        stop = asyncio.Event()
        task = asyncio.create_task(state.keeper.run(settings.index_refresh_seconds, stop), name="index-refresh")
        hooks = asyncio.create_task(deliver_webhooks(state.webhooks, stop), name="webhook-delivery")
        jobs = [task, hooks]
        if settings.retention_interval_hours > 0:
            interval = timedelta(hours=settings.retention_interval_hours)
            loop = run_retention_periodically(retention, stop, interval=interval)
            jobs.append(asyncio.create_task(loop, name="retention"))
        if settings.source_sync_seconds > 0:
            feeds = run_sources_periodically(state.after.sources, stop, every_s=settings.source_sync_seconds)
            jobs.append(asyncio.create_task(feeds, name="source-sync"))
        try:
            yield
        finally:
            stop.set()
            for job in jobs:
                await job
            state.db.dispose()

    app = FastAPI(
        title="brightline",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.brightline = state
    install_error_handlers(app)
    # Added last = outermost: metrics also count the 413s the size limit answers.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestMetricsMiddleware, metrics=state.metrics)
    for module in (
        routes_health,
        routes_media,
        routes_banks,
        routes_admin,
        routes_audit,
        routes_cases,
        routes_actions,
        routes_transparency,
        routes_provenance,
        routes_sources,
    ):
        app.include_router(module.router)
    app.include_router(console.router)
    return app
