"""Everything a front end needs for sources, built from settings: catalog, sync engine, feedback queue and sender."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from brightline.actions.keys import key_provider_from_settings
from brightline.banks.provenance import ProvenanceService
from brightline.errors import EntryNotFoundError
from brightline.settings import Settings
from brightline.sources.catalog import SourceCatalog
from brightline.sources.feedback import FeedbackSender, SourceFeedback
from brightline.sources.registry import SourceRegistry
from brightline.sources.sync import SafetyLimits, SyncEngine
from brightline.store.db import Database

log = logging.getLogger(__name__)


@dataclass
class SourceService:
    """Configured sources, their syncs and the feedback written back to them."""

    catalog: SourceCatalog
    engine: SyncEngine
    sender: FeedbackSender
    listener: SourceFeedback

    def run_once(self, *, actor: str = "system") -> None:
        """One scheduled pass: sync every due source, then send the feedback that is due."""
        for result in self.engine.sync_all(actor=actor):
            if result.status not in ("ok", "busy"):
                log.warning("source %s: %s (%s)", result.source, result.status, result.message)
        self.sender.deliver()


def limits_from_settings(settings: Settings) -> SafetyLimits:
    """The feed safety thresholds in force."""
    return SafetyLimits(
        max_remove_percent=settings.source_max_remove_percent,
        max_add_percent=settings.source_max_add_percent,
        min_entries=settings.source_safety_min_entries,
    )


def source_service_from_settings(
    db: Database,
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    registry: SourceRegistry | None = None,
) -> SourceService:
    """Sources on ``db``, credentials sealed with the evidence key provider, limits from settings."""
    catalog = SourceCatalog(db, key_provider_from_settings(settings), transport=transport, registry=registry)
    return SourceService(
        catalog=catalog,
        engine=SyncEngine(catalog, limits=limits_from_settings(settings)),
        sender=FeedbackSender(catalog),
        listener=SourceFeedback(catalog),
    )


async def run_sources_periodically(service: SourceService, stop: asyncio.Event, *, every_s: float) -> None:
    """Sync sources and deliver feedback every ``every_s`` seconds until ``stop`` is set (one task per worker).

    Workers and replicas all run this; the per-source lock makes the first one to arrive sync it
    and the others skip it, and feedback rows are claimed one sender at a time.
    """
    while not stop.is_set():
        try:
            await asyncio.to_thread(service.run_once, actor="scheduler")
        except Exception:  # the loop must outlive one bad pass (a database hiccup, a buggy source)
            log.exception("source sync pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)


def vouching_sources(db: Database, entry_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Per entry, the sources actively vouching for it, as match answers show them to provenance readers."""
    provenance = ProvenanceService(db)
    found: dict[int, list[dict[str, Any]]] = {}
    for entry_id in sorted(set(entry_ids)):
        try:
            sources = provenance.sources_of(entry_id)
        except EntryNotFoundError:  # removed since it matched
            found[entry_id] = []
            continue
        found[entry_id] = [
            {"source": s.source, "remote_id": s.remote_id, "classification": s.classification, "tags": list(s.tags)}
            for s in sources
            if s.active
        ]
    return found
