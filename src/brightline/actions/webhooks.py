"""Rule webhooks: signed POSTs persisted before the first attempt, retried with backoff, every attempt logged.

Receivers check ``Brightline-Signature: t=<unix>,v1=<hex>`` (HMAC-SHA256 of ``"<t>.<body>"``)
with ``verify`` or the same few lines in their own language, and dedupe on ``Brightline-Delivery``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from brightline import __version__
from brightline.errors import NotFoundError, ValidationError
from brightline.store.db import Database
from brightline.store.models import utcnow
from brightline.store.models_actions import webhook_attempts_table, webhook_deliveries_table

SIGNATURE_HEADER = "Brightline-Signature"
EVENT_HEADER = "Brightline-Event"
DELIVERY_HEADER = "Brightline-Delivery"
STATUSES = ("pending", "delivered", "failed")
MAX_DELAY_S = 3600.0  # backoff never waits longer than this between attempts
MAX_RETRY_AFTER_S = 86400.0  # a receiver's Retry-After is honoured up to a day
# Statuses worth retrying besides 5xx: the receiver asked us to slow down or timed out itself.
_RETRY_STATUSES = (408, 429)
_D = webhook_deliveries_table.c
_T = webhook_attempts_table.c


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: bytes, header: str, body: bytes, *, now: float, tolerance_s: float = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of ``now`` (unix seconds)."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


@dataclass(frozen=True)
class Delivery:
    """One webhook event to one URL and where its delivery stands."""

    id: int
    rule: str
    url: str
    event: str
    payload: dict[str, Any]
    scan_id: int | None
    case_id: int | None
    status: str  # pending, delivered or failed
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in ((n, getattr(self, n)) for n in self.__dataclass_fields__)
        }


@dataclass(frozen=True)
class DeliveryAttempt:
    """One HTTP attempt: its status code, or the error that stopped it."""

    id: int
    delivery_id: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


def _delivery(row: RowMapping) -> Delivery:
    return Delivery(
        id=row["id"],
        rule=row["rule"],
        url=row["url"],
        event=row["event"],
        payload=json.loads(row["payload"]),
        scan_id=row["scan_id"],
        case_id=row["case_id"],
        status=row["status"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
        last_attempt_at=row["last_attempt_at"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        delivered_at=row["delivered_at"],
    )


def body_of(delivery: Delivery) -> bytes:
    """The exact bytes POSTed for ``delivery`` (the same on every retry)."""
    document = {
        "id": delivery.id,
        "event": delivery.event,
        "rule": delivery.rule,
        "created_at": delivery.created_at.isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds a Retry-After header asks us to wait (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max((when - now).total_seconds(), 0.0), MAX_RETRY_AFTER_S)


class WebhookService:
    """Queues webhook deliveries in the database and sends the due ones."""

    def __init__(
        self,
        db: Database,
        secret: bytes,
        *,
        max_attempts: int = 8,
        base_delay_s: float = 2.0,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        if not secret:
            raise ValidationError("a webhook signing secret is required")
        if max_attempts < 1 or base_delay_s < 0 or timeout_s <= 0:
            raise ValidationError("max_attempts >= 1, base_delay_s >= 0 and timeout_s > 0 are required")
        self.db = db
        self._secret = secret
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.timeout_s = timeout_s
        self._transport = transport
        self._rng = rng or random.Random()  # jitter, not security

    def enqueue(
        self,
        *,
        rule: str,
        url: str,
        event: str,
        payload: dict[str, Any],
        scan_id: int | None = None,
        case_id: int | None = None,
    ) -> int:
        """Persist a delivery, due now, and return its id (nothing is sent yet)."""
        if not url.startswith(("http://", "https://")):
            raise ValidationError(f"webhook URL must be http:// or https://, got {url!r}")
        if not event or len(event) > 64:
            raise ValidationError("webhook event must be 1-64 characters")
        try:
            text = json.dumps(payload, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"webhook payload is not JSON-serialisable: {exc}") from None
        now = utcnow()
        with self.db.write_connection() as conn:
            return int(
                conn.execute(
                    sa.insert(webhook_deliveries_table)
                    .values(
                        rule=rule,
                        url=url,
                        event=event,
                        payload=text,
                        scan_id=scan_id,
                        case_id=case_id,
                        status="pending",
                        attempts=0,
                        created_at=now,
                        next_attempt_at=now,
                    )
                    .returning(_D.id)
                ).scalar_one()
            )

    def _claim(self, now: datetime, limit: int) -> list[Delivery]:
        """Due deliveries, pushed a lease into the future so a second worker does not send them too."""
        lease = now + timedelta(seconds=self.timeout_s * 2 + 30)
        with self.db.write_connection() as conn:
            rows = (
                conn.execute(
                    sa.select(webhook_deliveries_table)
                    .where(_D.status == "pending", _D.next_attempt_at <= now)
                    .order_by(_D.next_attempt_at, _D.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
                .mappings()
                .all()
            )
            if rows:
                ids = [row["id"] for row in rows]
                conn.execute(sa.update(webhook_deliveries_table).where(_D.id.in_(ids)).values(next_attempt_at=lease))
        return [_delivery(row) for row in rows]

    def _backoff(self, attempts: int) -> float:
        delay = min(self.base_delay_s * 2 ** (attempts - 1), MAX_DELAY_S)
        # "Equal jitter": half fixed, half random, so retries of many deliveries spread out.
        return float(delay / 2 + self._rng.uniform(0, delay / 2))

    def _send(
        self, client: httpx.Client, delivery: Delivery, now: datetime
    ) -> tuple[int | None, str | None, float | None]:
        """POST once: (status code, error, seconds the receiver asked us to wait)."""
        body = body_of(delivery)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"brightline-webhooks/{__version__}",
            SIGNATURE_HEADER: sign(self._secret, int(now.timestamp()), body),
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: str(delivery.id),
        }
        try:
            response = client.post(delivery.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500], None
        code = response.status_code
        if 200 <= code < 300:
            return code, None, None
        wait = retry_after_seconds(response.headers.get("Retry-After"), now) if code in (429, 503) else None
        return code, f"HTTP {code}", wait

    def _record(
        self, delivery: Delivery, now: datetime, result: tuple[int | None, str | None, float | None], ms: int
    ) -> None:
        code, error, wait = result
        attempts = delivery.attempts + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_attempt_at": now,
            "last_status_code": code,
            "last_error": error,
        }
        retryable = code is None or code >= 500 or code in _RETRY_STATUSES
        if error is None:
            values.update(status="delivered", delivered_at=now, next_attempt_at=None)
        elif not retryable or attempts >= self.max_attempts:
            # 3xx and most 4xx will not get better by retrying (redirects are never followed).
            values.update(status="failed", next_attempt_at=None)
        else:
            delay = max(self._backoff(attempts), wait or 0.0)
            values["next_attempt_at"] = now + timedelta(seconds=delay)
        with self.db.write_connection() as conn:
            conn.execute(sa.update(webhook_deliveries_table).where(_D.id == delivery.id).values(**values))
            conn.execute(
                sa.insert(webhook_attempts_table).values(
                    delivery_id=delivery.id, attempted_at=now, status_code=code, error=error, duration_ms=ms
                )
            )

    def deliver_due(self, *, now: datetime | None = None, limit: int = 100) -> int:
        """Attempt every delivery due at ``now`` (default: the current time); returns how many were attempted."""
        now = now or utcnow()
        due = self._claim(now, limit)
        if not due:
            return 0
        with httpx.Client(transport=self._transport, timeout=self.timeout_s, follow_redirects=False) as client:
            for delivery in due:
                started = time.monotonic()
                result = self._send(client, delivery, now)
                self._record(delivery, now, result, int((time.monotonic() - started) * 1000))
        return len(due)

    def get(self, delivery_id: int) -> Delivery:
        """One delivery; NotFoundError if there is none with this id."""
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(webhook_deliveries_table).where(_D.id == delivery_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no webhook delivery {delivery_id}")
        return _delivery(row)

    def deliveries(self, *, scan_id: int | None = None, status: str | None = None, limit: int = 100) -> list[Delivery]:
        """The delivery log, newest first, optionally for one scan or in one status."""
        if status is not None and status not in STATUSES:
            raise ValidationError(f"unknown delivery status {status!r} (use {', '.join(STATUSES)})")
        query = sa.select(webhook_deliveries_table).order_by(_D.id.desc()).limit(limit)
        if scan_id is not None:
            query = query.where(_D.scan_id == scan_id)
        if status is not None:
            query = query.where(_D.status == status)
        with self.db.engine.connect() as conn:
            return [_delivery(row) for row in conn.execute(query).mappings()]

    def attempts(self, delivery_id: int) -> list[DeliveryAttempt]:
        """Every HTTP attempt of one delivery, oldest first."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(webhook_attempts_table).where(_T.delivery_id == delivery_id).order_by(_T.id)
            ).mappings()
            return [
                DeliveryAttempt(
                    id=r["id"],
                    delivery_id=r["delivery_id"],
                    attempted_at=r["attempted_at"],
                    status_code=r["status_code"],
                    error=r["error"],
                    duration_ms=r["duration_ms"],
                )
                for r in rows
            ]

    def urls_for_scan(self, scan_id: int) -> list[str]:
        """The URLs webhooks were queued to for one scan, each once, in queueing order."""
        with self.db.engine.connect() as conn:
            urls = conn.execute(sa.select(_D.url).where(_D.scan_id == scan_id).order_by(_D.id)).scalars().all()
        return list(dict.fromkeys(urls))
