"""The FastAPI application factory; `brightline serve` builds one app per worker process (create_served_app)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

import httpx
from fastapi import FastAPI

from brightline import __version__
from brightline.auth import ApiKeyService, RateLimiter
from brightline.auth.reviewers import ReviewerService
from brightline.banks import BankService
from brightline.errors import BrightlineError
from brightline.matching import Matcher, MatchOptions
from brightline.privacy.audit_settings import record_settings
from brightline.privacy.retention import retention_service_from_settings, run_retention_periodically
from brightline.privacy.retention_policy import policy_from_settings
from brightline.records import RecordService
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
from brightline.service.wiring import (
    build_after_match,
    deliver_webhooks,
    flush_counters_periodically,
    review_services,
)
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
    queue, evidence = review_services(db, settings, banks)
    return ServiceState(
        settings=settings,
        db=db,
        banks=banks,
        keys=ApiKeyService(db),
        records=RecordService(db, counter_flush_seconds=settings.scan_counter_flush_seconds),
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


def settle_heap(keeper: IndexKeeper) -> None:
    """Compile the lookup kernels, then move every object alive now out of the garbage collector's sight.

    A worker holds some 300,000 long-lived objects (the web stack, SQLAlchemy, numba); each full
    collection walked them all, stalling every request on that worker for 150-200 ms. Frozen,
    they are never walked again, and a full collection looks only at what requests leave behind.
    """
    try:
        keeper.match_values("pdq", ["0" * 64])  # the first lookup compiles the kernels: do it before the freeze
    except BrightlineError as exc:  # no PDQ bank yet: nothing to warm, freeze anyway
        log.info("no PDQ lookup to warm up: %s", exc)
    gc.collect()
    gc.freeze()


def create_served_app() -> FastAPI:
    """The app `brightline serve` runs in each worker: create_app plus ``settle_heap`` after the first load."""
    return create_app(settle=True)


def create_app(
    settings: Settings | None = None, *, transport: httpx.BaseTransport | None = None, settle: bool = False
) -> FastAPI:
    """A new app: Settings() from the environment when none are given; nothing is shared between apps.

    ``transport`` replaces the network for outgoing HTTP (webhooks, reports): tests pass fakes here.
    ``settle`` freezes the heap after the first index load (see ``settle_heap``): for a process that
    runs one app for its lifetime, as `brightline serve` does, not for tests that build many.
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
        settled = partial(settle_heap, state.keeper) if settle else None
        refresh = state.keeper.run(settings.index_refresh_seconds, stop, after_first_load=settled)
        task = asyncio.create_task(refresh, name="index-refresh")
        hooks = asyncio.create_task(deliver_webhooks(state.webhooks, stop), name="webhook-delivery")
        jobs = [task, hooks]
        if settings.retention_interval_hours > 0:
            interval = timedelta(hours=settings.retention_interval_hours)
            loop = run_retention_periodically(retention, stop, interval=interval)
            jobs.append(asyncio.create_task(loop, name="retention"))
        if settings.source_sync_seconds > 0:
            feeds = run_sources_periodically(state.after.sources, stop, every_s=settings.source_sync_seconds)
            jobs.append(asyncio.create_task(feeds, name="source-sync"))
        if settings.scan_counter_flush_seconds > 0:
            counts = flush_counters_periodically(state.records, stop, every_s=settings.scan_counter_flush_seconds)
            jobs.append(asyncio.create_task(counts, name="scan-counters"))
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
