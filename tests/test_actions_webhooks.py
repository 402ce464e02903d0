"""Webhooks: signed bodies, retries with backoff, Retry-After, giving up, and the delivery log."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

from brightline.actions.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WebhookService,
    retry_after_seconds,
    sign,
    verify,
)
from brightline.errors import NotFoundError, ValidationError
from brightline.store.db import Database
from brightline.store.models import scan_records_table, utcnow

SECRET = b"shared-secret"
URL = "https://platform.example/hooks/brightline"


class Receiver:
    """A fake platform endpoint answering from a script of responses, recording each request."""

    def __init__(self, *answers: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request)


def status(code: int, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _request: httpx.Response(code, headers=headers)


def down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def service(db: Database, receiver: Receiver, **kwargs: object) -> WebhookService:
    return WebhookService(
        db,
        SECRET,
        transport=httpx.MockTransport(receiver),
        rng=random.Random(7),
        **kwargs,  # type: ignore[arg-type]
    )


def enqueue(hooks: WebhookService, scan_id: int | None = None) -> int:
    return hooks.enqueue(rule="csam-known", url=URL, event="match", payload={"content_id": "c1"}, scan_id=scan_id)


def test_sign_and_verify() -> None:
    body = b'{"a":1}'
    header = sign(SECRET, 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=")
    assert verify(SECRET, header, body, now=1_700_000_100)
    assert not verify(SECRET, header, body + b" ", now=1_700_000_100)
    assert not verify(b"other", header, body, now=1_700_000_100)
    assert not verify(SECRET, header, body, now=1_700_000_301)  # too old: a replay
    assert not verify(SECRET, "garbage", body, now=1_700_000_000)


def test_a_delivery_is_persisted_then_sent_signed(db: Database) -> None:
    receiver = Receiver(status(200))
    hooks = service(db, receiver)
    delivery_id = enqueue(hooks, scan_id=None)
    assert hooks.get(delivery_id).status == "pending" and receiver.requests == []
    now = utcnow()
    assert hooks.deliver_due(now=now) == 1
    (request,) = receiver.requests
    body = request.content
    assert verify(SECRET, request.headers[SIGNATURE_HEADER], body, now=now.timestamp())
    assert request.headers[EVENT_HEADER] == "match"
    assert request.headers[DELIVERY_HEADER] == str(delivery_id)
    document = json.loads(body)
    assert document["id"] == delivery_id and document["data"] == {"content_id": "c1"}
    delivered = hooks.get(delivery_id)
    assert delivered.status == "delivered" and delivered.attempts == 1 and delivered.last_status_code == 200
    assert hooks.deliver_due(now=now + timedelta(days=1)) == 0  # nothing left to send


def test_a_server_error_is_retried_with_backoff(db: Database) -> None:
    receiver = Receiver(status(500), status(200))
    hooks = service(db, receiver, base_delay_s=2.0)
    delivery_id = enqueue(hooks)
    now = utcnow()
    hooks.deliver_due(now=now)
    waiting = hooks.get(delivery_id)
    assert waiting.status == "pending" and waiting.last_error == "HTTP 500"
    assert waiting.next_attempt_at is not None
    assert now + timedelta(seconds=1) <= waiting.next_attempt_at <= now + timedelta(seconds=2)
    assert hooks.deliver_due(now=now + timedelta(milliseconds=500)) == 0  # not due yet
    assert hooks.deliver_due(now=waiting.next_attempt_at) == 1
    assert hooks.get(delivery_id).status == "delivered"
    bodies = {r.content for r in receiver.requests}
    assert len(receiver.requests) == 2 and len(bodies) == 1  # the same body on every retry
    assert [a.status_code for a in hooks.attempts(delivery_id)] == [500, 200]


def test_retry_after_is_honoured(db: Database) -> None:
    receiver = Receiver(status(429, **{"Retry-After": "120"}), status(200))
    hooks = service(db, receiver)
    delivery_id = enqueue(hooks)
    now = utcnow()
    hooks.deliver_due(now=now)
    waiting = hooks.get(delivery_id)
    assert waiting.next_attempt_at == now + timedelta(seconds=120)
    assert hooks.deliver_due(now=now + timedelta(seconds=119)) == 0
    assert hooks.deliver_due(now=now + timedelta(seconds=120)) == 1


def test_retry_after_as_a_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=utcnow().tzinfo)
    assert retry_after_seconds("Wed, 01 Jan 2025 12:01:00 GMT", now) == 60
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_network_errors_are_retried_until_the_attempts_run_out(db: Database) -> None:
    receiver = Receiver(down)
    hooks = service(db, receiver, max_attempts=3)
    delivery_id = enqueue(hooks)
    now = utcnow()
    for _ in range(5):
        now = now + timedelta(hours=2)
        hooks.deliver_due(now=now)
    failed = hooks.get(delivery_id)
    assert failed.status == "failed" and failed.attempts == 3 and failed.next_attempt_at is None
    assert "ConnectError" in (failed.last_error or "")
    assert len(receiver.requests) == 3
    assert [d.id for d in hooks.deliveries(status="failed")] == [delivery_id]


def test_a_client_error_is_not_retried(db: Database) -> None:
    hooks = service(db, Receiver(status(404)))
    delivery_id = enqueue(hooks)
    hooks.deliver_due()
    assert hooks.get(delivery_id).status == "failed"
    assert hooks.get(delivery_id).attempts == 1


def test_redirects_are_not_followed(db: Database) -> None:
    receiver = Receiver(status(302, Location="http://169.254.169.254/"))
    hooks = service(db, receiver)
    delivery_id = enqueue(hooks)
    hooks.deliver_due()
    assert len(receiver.requests) == 1 and hooks.get(delivery_id).status == "failed"


def test_delivery_log_by_scan(db: Database) -> None:
    hooks = service(db, Receiver(status(200)))
    first = enqueue(hooks)
    second = hooks.enqueue(rule="r2", url="https://other.example/h", event="match", payload={})
    assert [d.id for d in hooks.deliveries()] == [second, first]
    assert [d.id for d in hooks.deliveries(status="pending")] == [second, first]
    assert hooks.deliveries(scan_id=12345) == []
    assert hooks.urls_for_scan(12345) == []
    with pytest.raises(ValidationError):
        hooks.deliveries(status="lost")
    with pytest.raises(NotFoundError):
        hooks.get(999)


def test_bad_deliveries_are_refused(db: Database) -> None:
    hooks = service(db, Receiver(status(200)))
    with pytest.raises(ValidationError):
        hooks.enqueue(rule="r", url="file:///etc/passwd", event="match", payload={})
    with pytest.raises(ValidationError):
        hooks.enqueue(rule="r", url=URL, event="match", payload={"x": object()})


def test_urls_for_a_scan(db: Database) -> None:
    with db.write_connection() as conn:
        scan_id = conn.execute(
            sa.insert(scan_records_table)
            .values(created_at=utcnow(), content_type="image")
            .returning(scan_records_table.c.id)
        ).scalar_one()
    hooks = service(db, Receiver(status(200)))
    enqueue(hooks, scan_id=scan_id)
    enqueue(hooks, scan_id=scan_id)
    hooks.enqueue(rule="r2", url="https://other.example/h", event="match", payload={}, scan_id=scan_id)
    enqueue(hooks)
    assert hooks.urls_for_scan(scan_id) == [URL, "https://other.example/h"]
    assert len(hooks.deliveries(scan_id=scan_id)) == 3
