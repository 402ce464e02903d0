"""Scans, records and the index through the API: what is stored, idempotency, freshness of writes, ops endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from test_service_support import Service, bank_with_photo, make_settings, running_service, upload

from brightline.review.intake import RESUME_AFTER
from brightline.store import Database
from brightline.store.models import scan_records_table
from brightline.store.models_actions import evidence_table

pytestmark = pytest.mark.anyio
pytest_plugins = ("test_service_support",)


def _all_rows(service: Service) -> dict[str, list[tuple[Any, ...]]]:
    engine = service.state.db.engine
    with engine.connect() as conn:
        return {
            name: [tuple(row) for row in conn.execute(sa.text(f'SELECT * FROM "{name}"'))]
            for name in sa.inspect(engine).get_table_names()
        }


async def test_a_non_matching_scan_stores_nothing_about_the_content(service: Service, photos: list[bytes]) -> None:
    bank_with_photo(service, photos[0])
    before = _all_rows(service)
    response = await service.client.post(
        "/v1/scan",
        files=upload(photos[3]),
        data={"content_id": "content-777", "account_id": "account-555", "source": "avatar", "context": '{"k": "v"}'},
        headers={**service.auth("scan"), "Idempotency-Key": "idem-1"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "matched": False,
        "scan_id": None,
        "replayed": False,
        "low_quality": False,
        "matches": [],
        "actions": None,
    }
    after = _all_rows(service)
    assert set(after) == set(before)
    counts = {name: (len(before[name]), len(after[name])) for name in before if name != "scan_counters"}
    assert all(old == new for old, new in counts.values()), counts
    assert [(c["scans"], c["matched"]) for c in service.state.records.counters()] == [(1, 0)]
    hashed = await service.client.post("/v1/hash", files=upload(photos[3]), headers=service.auth("hash"))
    text = repr(after)
    for secret in ("content-777", "account-555", "avatar", "idem-1", *hashed.json().values()):
        if isinstance(secret, str) and len(secret) > 4:
            assert secret not in text


async def test_a_matching_scan_is_recorded_before_the_response(service: Service, photos: list[bytes]) -> None:
    bank_with_photo(service, photos[0])
    response = await service.client.post(
        "/v1/scan", files=upload(photos[0]), data={"account_id": "acct-1"}, headers=service.auth("scan")
    )
    body = response.json()
    assert response.status_code == 200 and body["matched"] is True and body["scan_id"] is not None
    assert {m["signal_type"] for m in body["matches"]} == {"pdq", "md5", "sha256"}
    events, _ = service.state.records.list_matches(account_id="acct-1")
    assert {e.scan_id for e in events} == {body["scan_id"]} and len(events) == 3


async def _scan_ok(service: Service, photo: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """POST /v1/scan, which must answer 200; its JSON body."""
    response = await service.client.post("/v1/scan", files=upload(photo), headers=headers)
    assert response.status_code == 200
    return dict(response.json())


async def test_idempotent_scan_retry_returns_the_same_record(service: Service, photos: list[bytes]) -> None:
    bank_with_photo(service, photos[0])
    headers = {**service.auth("scan"), "Idempotency-Key": "retry-me"}

    def scan() -> Awaitable[dict[str, Any]]:
        return _scan_ok(service, photos[0], headers)

    first = await scan()
    again = await scan()
    assert first["replayed"] is False and again["replayed"] is True
    assert again["scan_id"] == first["scan_id"] and again["matches"] == first["matches"]
    concurrent = await asyncio.gather(*(scan() for _ in range(4)))
    assert {c["scan_id"] for c in concurrent} == {first["scan_id"]}
    events, _ = service.state.records.list_matches()
    assert len(events) == 3  # one scan's worth, not six
    # The same key from another API key is a different request.
    other = await service.client.post(
        "/v1/scan", files=upload(photos[0]), headers={**service.auth("admin"), "Idempotency-Key": "retry-me"}
    )
    assert other.json()["scan_id"] != first["scan_id"]


async def test_matches_are_filtered_and_paginated(service: Service, photos: list[bytes]) -> None:
    bank_with_photo(service, photos[0], name="one")
    bank_with_photo(service, photos[1], name="two")
    for photo, account in ((photos[0], "a"), (photos[1], "b"), (photos[0], "b")):
        await service.client.post(
            "/v1/scan", files=upload(photo), data={"account_id": account}, headers=service.auth("scan")
        )
    headers = service.auth("matches:read")
    everything = (await service.client.get("/v1/matches", headers=headers)).json()
    assert len(everything["matches"]) == 9 and everything["next_cursor"] is None
    by_bank = (await service.client.get("/v1/matches", params={"bank": "two"}, headers=headers)).json()
    assert {m["bank"] for m in by_bank["matches"]} == {"two"} and len(by_bank["matches"]) == 3
    by_account = (await service.client.get("/v1/matches", params={"account_id": "b"}, headers=headers)).json()
    assert len(by_account["matches"]) == 6
    now = datetime.now(UTC)
    future = (
        await service.client.get(
            "/v1/matches", params={"since": (now + timedelta(hours=1)).isoformat()}, headers=headers
        )
    ).json()
    assert future["matches"] == []
    past = (
        await service.client.get(
            "/v1/matches", params={"until": (now - timedelta(hours=1)).isoformat()}, headers=headers
        )
    ).json()
    assert past["matches"] == []
    window = {"since": (now - timedelta(hours=1)).isoformat(), "until": (now + timedelta(hours=1)).isoformat()}
    assert len((await service.client.get("/v1/matches", params=window, headers=headers)).json()["matches"]) == 9
    seen: list[int] = []
    cursor: int | None = None
    while True:
        params: dict[str, Any] = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await service.client.get("/v1/matches", params=params, headers=headers)).json()
        seen.extend(m["id"] for m in page["matches"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(m["id"] for m in everything["matches"]) and len(set(seen)) == 9


async def test_bank_writes_refresh_this_worker_at_once(service: Service, photos: list[bytes]) -> None:
    write = service.auth("banks:write")
    assert (
        await service.client.post("/v1/banks", json={"name": "live", "threshold": 20}, headers=write)
    ).status_code == 201
    added = await service.client.post("/v1/banks/live/entries", files=upload(photos[2]), headers=write)
    assert added.json()["added"] == 4  # pdq, pdq_regions, md5, sha256

    async def matched() -> list[dict[str, Any]]:
        response = await service.client.post("/v1/scan", files=upload(photos[2]), headers=service.auth("scan"))
        return list(response.json()["matches"])

    hits = await matched()
    assert len(hits) == 4
    pdq_id = next(m["entry_id"] for m in hits if m["signal_type"] == "pdq")
    disabled = await service.client.patch(f"/v1/banks/live/entries/{pdq_id}", json={"enabled": False}, headers=write)
    assert disabled.json()["changed"] == 1
    assert {m["signal_type"] for m in await matched()} == {"pdq_regions", "md5", "sha256"}
    await service.client.patch(f"/v1/banks/live/entries/{pdq_id}", json={"enabled": True}, headers=write)
    assert len(await matched()) == 4
    await service.client.delete(f"/v1/banks/live/entries/{pdq_id}", headers=write)
    assert len(await matched()) == 3
    await service.client.patch("/v1/banks/live", json={"enabled": False}, headers=write)
    assert await matched() == []
    renamed = await service.client.patch(
        "/v1/banks/live", json={"enabled": True, "name": "renamed", "threshold": None}, headers=write
    )
    assert renamed.json()["name"] == "renamed" and renamed.json()["threshold"] is None
    assert {m["bank"] for m in await matched()} == {"renamed"}
    shown = (await service.client.get("/v1/banks/renamed", headers=service.auth("banks:read"))).json()
    assert shown["bank"]["entry_count"] == 3 and shown["digest"]["entries"] == 3 and "entries" not in shown
    paged = (await service.client.get("/v1/banks/renamed/entries", headers=service.auth("admin"))).json()
    assert len(paged["entries"]) == 3
    assert (await service.client.delete("/v1/banks/renamed", headers=write)).json()["entries_removed"] == 3
    assert await matched() == []


async def test_json_entries_and_import_then_match(service: Service) -> None:
    write = service.auth("banks:write")
    await service.client.post("/v1/banks", json={"name": "lists"}, headers=write)
    entries = {"entries": [{"signal_type": "md5", "value": "a" * 32, "source": "partner", "category": "A1"}]}
    first = await service.client.post("/v1/banks/lists/entries", json=entries, headers=write)
    again = await service.client.post("/v1/banks/lists/entries", json=entries, headers=write)
    assert first.json()["added"] == 1 and again.json() == {"added": 0, "unchanged": 1, "skipped": []}
    csv = "signal_type,value,category\nsha256," + "b" * 64 + ",B2\npdq," + "0f" * 32 + ",A2\n"
    imported = await service.client.post(
        "/v1/banks/lists/import", files={"file": ("list.csv", csv.encode(), "text/csv")}, headers=write
    )
    assert imported.status_code == 201 and imported.json()["added"] == 2
    signals = [
        {"type": "md5", "value": "A" * 32},
        {"type": "sha256", "value": "b" * 64},
        {"type": "pdq", "value": "0f" * 31 + "0e"},
    ]
    result = (await service.client.post("/v1/match", json={"signals": signals}, headers=service.auth("match"))).json()
    assert result["matched"] is True
    assert [[(m["bank"], m["distance"]) for m in r["matches"]] for r in result["results"]] == [
        [("lists", 0)],
        [("lists", 0)],
        [("lists", 1)],
    ]


async def test_hash_endpoint_matches_the_library(service: Service, photos: list[bytes]) -> None:
    from brightline.signals.hashing import HashOptions, hash_bytes

    expected = hash_bytes(photos[0], HashOptions(exact=True, dihedral=True))
    response = await service.client.post(
        "/v1/hash?exact=true&dihedral=true", files=upload(photos[0]), headers=service.auth("hash")
    )
    body = response.json()
    assert (body["pdq"], body["quality"], body["md5"], body["sha256"]) == (
        expected.pdq,
        expected.quality,
        expected.md5,
        expected.sha256,
    )
    assert body["pdq_dihedral"] == list(expected.pdq_dihedral)


async def test_health_readiness_metrics_and_docs(service: Service, photos: list[bytes]) -> None:
    bank_with_photo(service, photos[0])
    assert (await service.client.get("/healthz")).json() == {"status": "ok"}
    ready = await service.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["index"]["fresh"] is True
    await service.client.post("/v1/scan", files=upload(photos[0]), headers=service.auth("scan"))
    await service.client.get("/v1/banks/known", headers=service.auth("banks:read"))
    text = (await service.client.get("/metrics")).text
    assert 'brightline_http_requests_total{method="POST",route="/v1/scan",status="200"} 1.0' in text
    assert 'route="/v1/banks/{name}"' in text  # the template, not the raw path
    assert "brightline_hashes_computed_total 1.0" in text
    assert 'brightline_matches_total{bank="known"} 3.0' in text
    assert 'brightline_index_entries{signal_type="pdq"} 1.0' in text
    assert "brightline_index_age_seconds" in text and "brightline_http_request_duration_seconds_bucket" in text
    spec = (await service.client.get("/openapi.json")).json()
    assert {"/v1/hash", "/v1/match", "/v1/scan", "/v1/banks/{name}/entries", "/v1/matches", "/v1/keys"} <= set(
        spec["paths"]
    )
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert (await service.client.get("/docs")).status_code == 200


async def test_readyz_is_503_when_the_index_goes_stale(service: Service) -> None:
    service.state.keeper.max_age_seconds = 0.0
    stale = await service.client.get("/readyz")
    assert stale.status_code == 503 and stale.json()["status"] == "not_ready"


async def test_buffered_scan_counts_are_written_at_shutdown(
    tmp_path: Path, database_url: str, photos: list[bytes]
) -> None:
    settings = make_settings(tmp_path, database_url, scan_counter_flush_seconds=3600)
    async for service in running_service(settings):
        for _ in range(3):
            response = await service.client.post("/v1/scan", files=upload(photos[3]), headers=service.auth("scan"))
            assert response.status_code == 200 and response.json()["matched"] is False
        db_url = service.state.settings.effective_database_url
        assert _counter_rows(db_url) == []  # still in memory: no write transaction per scan
    assert _counter_rows(db_url) == [3]


async def test_idle_buffered_counts_are_written_by_the_background_flush(
    tmp_path: Path, database_url: str, photos: list[bytes]
) -> None:
    settings = make_settings(tmp_path, database_url, scan_counter_flush_seconds=0.1)
    async for service in running_service(settings):
        response = await service.client.post("/v1/scan", files=upload(photos[3]), headers=service.auth("scan"))
        assert response.status_code == 200
        db_url = service.state.settings.effective_database_url
        for _ in range(100):
            if _counter_rows(db_url) == [1]:
                break
            await asyncio.sleep(0.05)
        assert _counter_rows(db_url) == [1]


def _counter_rows(url: str) -> list[int]:
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            return [int(n) for n in conn.execute(sa.text("SELECT scans FROM scan_counters")).scalars()]
    finally:
        db.dispose()


async def test_a_retry_finishes_an_interrupted_intake_with_the_resent_upload(
    service: Service, photos: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    bank_with_photo(service, photos[0])
    headers = {**service.auth("scan"), "Idempotency-Key": "crash-me"}

    def scan() -> Awaitable[dict[str, Any]]:
        return _scan_ok(service, photos[0], headers)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the worker died after recording the match")

    with monkeypatch.context() as patch:
        patch.setattr(service.state.intake, "_open_case", crash)
        with pytest.raises(RuntimeError):
            await service.client.post("/v1/scan", files=upload(photos[0]), headers=headers)
    events, _ = service.state.records.list_matches()
    scan_id = events[0].scan_id
    soon = await scan()  # seconds later the first intake might still be running elsewhere: left alone
    assert soon["replayed"] is True and soon["actions"]["review_case_id"] is None
    with service.state.db.write_connection() as conn:
        conn.execute(sa.update(scan_records_table).values(created_at=datetime.now(UTC) - 2 * RESUME_AFTER))
    later = await scan()
    assert later["replayed"] is True and later["scan_id"] == scan_id
    assert later["actions"]["review_case_id"] is not None
    with service.state.db.engine.connect() as conn:  # stored by the first try, not stored again
        kept = conn.execute(sa.select(evidence_table.c.scan_id)).scalars().all()
    assert kept == [scan_id]
    assert (await scan())["actions"]["review_case_id"] == later["actions"]["review_case_id"]
