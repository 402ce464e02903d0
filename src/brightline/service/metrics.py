"""Prometheus metrics, one CollectorRegistry per app so apps (and tests) never share counters."""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brightline.matching import Match
from brightline.service.freshness import IndexKeeper

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Request, hashing, matching and index metrics of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "brightline_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "brightline_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.hashes = Counter("brightline_hashes_computed", "Media files hashed.", registry=self.registry)
        self.matches = Counter("brightline_matches", "Matches found, by bank.", ["bank"], registry=self.registry)
        self.index_entries = Gauge(
            "brightline_index_entries", "Entries in this worker's index.", ["signal_type"], registry=self.registry
        )
        self.index_age = Gauge(
            "brightline_index_age_seconds",
            "Seconds since this worker's index last refreshed (-1 before the first).",
            registry=self.registry,
        )
        self.index_revision = Gauge(
            "brightline_index_revision", "Store revision this worker's index reflects.", registry=self.registry
        )

    def count_matches(self, matches: Iterable[Match]) -> None:
        """Add matches to the per-bank counter."""
        for match in matches:
            self.matches.labels(bank=match.bank).inc()

    def render(self, keeper: IndexKeeper) -> bytes:
        """The exposition text, with index gauges read now rather than at the last refresh."""
        status = keeper.status()
        entries = status["entries"]
        if isinstance(entries, dict):
            for signal_type, count in entries.items():
                self.index_entries.labels(signal_type=signal_type).set(count)
        age = status["age_seconds"]
        self.index_age.set(age if isinstance(age, float) else -1)
        revision = status["revision"]
        if isinstance(revision, int):
            self.index_revision.set(revision)
        return generate_latest(self.registry)


class RequestMetricsMiddleware:
    """Counts requests and their latency by route template (never the raw path: unbounded labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and label it with the route that handled it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = str(getattr(route, "path", "unmatched")) if route is not None else "unmatched"
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method=method, route=template, status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=template).observe(time.perf_counter() - started)
