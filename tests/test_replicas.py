"""Many `brightline serve` replicas on one PostgreSQL: writes anywhere, consistent matches, one record, one job.

Three real server processes on their own ports and index folders share one fresh PostgreSQL schema,
as behind a load balancer. Waits poll with deadlines; nothing sleeps a fixed time.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from test_service_server import Server

from brightline.auth import ApiKeyService
from brightline.signals.hashing import hash_bytes
from brightline.store.db import Database
from brightline.store.models import scan_records_table
from brightline.store.models_retention import retention_runs_table

REPLICAS = 3
MAX_AGE_S = 5.0  # the documented freshness bound (BRIGHTLINE_MAX_INDEX_AGE_SECONDS)
# Retention every 0.002 h (7.2 s): each replica checks soon after start and then every 7.2 s.
RETENTION_HOURS = 0.002
KEY = "replica-test-key-1"

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def admin_token(database_url: str) -> str:
    db = Database(database_url)
    db.upgrade()
    token, _ = ApiKeyService(db).create("admin", ["admin"])
    db.dispose()
    return token


@pytest.fixture
def replicas(tmp_path: Path, database_url: str, admin_token: str) -> Iterator[list[Server]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BRIGHTLINE_") or k == "BRIGHTLINE_SHARED"}
    base.update(
        {
            "BRIGHTLINE_ENVIRONMENT": "test",
            "BRIGHTLINE_DATABASE_URL": database_url,
            "BRIGHTLINE_INDEX_REFRESH_SECONDS": "0.2",
            "BRIGHTLINE_MAX_INDEX_AGE_SECONDS": str(MAX_AGE_S),
            "BRIGHTLINE_RETENTION_INTERVAL_HOURS": str(RETENTION_HOURS),
        }
    )
    servers: list[Server] = []
    try:
        for n in range(REPLICAS):
            # Each replica: its own port and data folder (index snapshots), the same database.
            env = {**base, "BRIGHTLINE_DATA_DIR": str(tmp_path / f"data-{n}")}
            servers.append(Server(env, tmp_path / f"replica-{n}.log"))
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


def _poll(predicate: Callable[[], bool], deadline_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not true within {deadline_s} s")


def _matches(client: httpx.Client, pdq: str) -> bool:
    response = client.post("/v1/match", json={"signals": [{"type": "pdq", "value": pdq}]})
    assert response.status_code == 200, response.text
    return bool(response.json()["results"][0]["matches"])


def _photo(shared_dir: Path, n: int = 0) -> bytes:
    return sorted((shared_dir / "corpus" / "kodak24").iterdir())[n].read_bytes()


def test_a_write_through_any_replica_matches_on_every_replica_within_the_bound(
    replicas: list[Server], admin_token: str, shared_dir: Path
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    photo = _photo(shared_dir)
    clients = [httpx.Client(base_url=s.url, timeout=30.0, headers=headers) for s in replicas]
    try:
        writer = clients[1]  # not the first: any replica takes writes
        assert writer.post("/v1/banks", json={"name": "shared"}).status_code == 201
        added = writer.post("/v1/banks/shared/entries", files={"file": ("p.png", photo, "image/png")})
        assert added.status_code in (200, 201), added.text

        pdq = hash_bytes(photo).pdq

        def matched_everywhere() -> bool:
            return all(_matches(c, pdq) for c in clients)

        # The bound plus slack for a starved refresh thread when the machine is saturated (see test_service_server).
        assert _poll(matched_everywhere, MAX_AGE_S + 5.0) <= MAX_AGE_S + 5.0
        scans = [c.post("/v1/scan", files={"file": ("p.png", photo, "image/png")}).json() for c in clients]
        assert all(s["matched"] for s in scans)
        assert len({m["entry_id"] for s in scans for m in s["matches"]}) == len(scans[0]["matches"])  # same entries
        for client in clients:
            assert client.get("/readyz").json()["index"]["age_seconds"] <= MAX_AGE_S
    finally:
        for client in clients:
            client.close()


def test_concurrent_scans_with_one_idempotency_key_store_one_record(
    replicas: list[Server], admin_token: str, shared_dir: Path, database_url: str
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    photo = _photo(shared_dir, 1)
    with httpx.Client(base_url=replicas[0].url, timeout=30.0, headers=headers) as first:
        assert first.post("/v1/banks", json={"name": "known"}).status_code == 201
        first.post("/v1/banks/known/entries", files={"file": ("p.png", photo, "image/png")})
    pdq = hash_bytes(photo).pdq
    for server in replicas:  # every replica sees the entry before the race starts
        with httpx.Client(base_url=server.url, timeout=30.0, headers=headers) as client:
            _poll(lambda c=client: _matches(c, pdq), MAX_AGE_S + 5.0)
    barrier = threading.Barrier(REPLICAS * 2)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def scan(url: str) -> None:
        with httpx.Client(base_url=url, timeout=60.0) as client:
            barrier.wait()
            response = client.post(
                "/v1/scan",
                files={"file": ("p.png", photo, "image/png")},
                headers={**headers, "Idempotency-Key": KEY},
            )
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=scan, args=(s.url,)) for s in replicas for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == REPLICAS * 2
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    bodies = [a.json() for a in answers]
    assert {b["scan_id"] for b in bodies} != {None} and len({b["scan_id"] for b in bodies}) == 1
    assert sum(not b["replayed"] for b in bodies) == 1  # the one that stored it; the rest replay it
    db = Database(database_url)
    try:
        with db.engine.connect() as conn:
            stored = conn.execute(
                sa.select(sa.func.count()).where(scan_records_table.c.idempotency_key == KEY)
            ).scalar_one()
    finally:
        db.dispose()
    assert stored == 1


def test_retention_runs_once_per_interval_across_replicas(replicas: list[Server], database_url: str) -> None:
    db = Database(database_url)
    runs = retention_runs_table.c
    query = sa.select(runs.started_at, runs.finished_at, runs.status).where(runs.dry_run.is_(False))

    def finished_runs() -> list[sa.Row[tuple[object, object, str]]]:
        with db.engine.connect() as conn:
            return list(conn.execute(query.order_by(runs.started_at)).all())

    try:
        # Three replicas poll every 7.2 s: within ~20 s there are many chances to run twice at once.
        _poll(lambda: sum(r.status == "finished" for r in finished_runs()) >= 2, 60.0)
        rows = finished_runs()
    finally:
        db.dispose()
    interval = RETENTION_HOURS * 3600
    assert all(r.status in ("finished", "running") for r in rows)
    for before, after in itertools.pairwise(rows):
        # One at a time (the advisory lock), and one per interval overall (the last finished run).
        assert before.finished_at is not None and before.finished_at <= after.started_at
        assert (after.started_at - before.started_at).total_seconds() >= interval * 0.99
