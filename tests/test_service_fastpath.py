"""The request fast paths: refreshes that skip an unchanged store, and lookups that never block the event loop."""

from __future__ import annotations

import asyncio
import gc
import threading
from pathlib import Path
from typing import Any

import pytest
from test_service_support import Service, make_settings, running_service, upload

from brightline.banks import EntryInput
from brightline.service.app import create_app

pytestmark = pytest.mark.anyio
pytest_plugins = ("test_service_support",)

PDQ = "f8" * 32


def _count_feed_reads(service: Service, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = service.state.banks.changes_since

    def counting(revision: int, *args: Any, **kwargs: Any) -> object:
        calls.append(revision)
        return original(revision, *args, **kwargs)

    monkeypatch.setattr(service.state.banks, "changes_since", counting)
    return calls


async def test_a_refresh_of_an_unchanged_store_reads_no_change_feed(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    keeper = service.state.keeper
    keeper.refresh()
    calls = _count_feed_reads(service, monkeypatch)
    keeper.refresh()
    keeper.refresh()
    assert calls == []
    assert keeper.is_fresh()
    service.state.banks.create_bank("fresh")
    service.state.banks.add_entries("fresh", [EntryInput("pdq", PDQ, source="test")])
    keeper.refresh()
    assert len(calls) == 1
    body = {"signals": [{"type": "pdq", "value": PDQ}]}
    answer = await service.client.post("/v1/match", json=body, headers=service.auth("match"))
    assert answer.status_code == 200 and answer.json()["matched"] is True


async def test_a_lookup_waits_for_a_refresh_off_the_event_loop(service: Service) -> None:
    service.state.banks.create_bank("held")
    service.state.banks.add_entries("held", [EntryInput("pdq", PDQ, source="test")])
    keeper = service.state.keeper
    keeper.refresh()
    held = threading.Event()
    release = threading.Event()

    def hold_the_index() -> None:
        # What a long refresh does: hold the index lock.
        with keeper._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_index)
    holder.start()
    try:
        assert held.wait(10)
        assert keeper.match_values_nowait("pdq", [PDQ]) is None
        # The event loop stays free: /healthz answers while the match waits on the lock.
        body = {"signals": [{"type": "pdq", "value": PDQ}]}
        task = asyncio.ensure_future(service.client.post("/v1/match", json=body, headers=service.auth("match")))
        assert (await service.client.get("/healthz")).status_code == 200
        assert not task.done()
        release.set()
        answer = await task
    finally:
        release.set()
        holder.join()
    assert answer.status_code == 200 and answer.json()["matched"] is True
    found = keeper.match_values_nowait("pdq", [PDQ])
    assert found is not None and [m.bank for m in found] == ["held"]


async def test_a_large_batch_is_answered_in_order(service: Service) -> None:
    service.state.banks.create_bank("batch")
    service.state.banks.add_entries("batch", [EntryInput("pdq", PDQ, source="test")])
    service.state.keeper.refresh()
    # Over the inline limit, so the lookups run on the threadpool; the answer is the same.
    signals = [{"type": "pdq", "value": PDQ if n % 7 == 0 else "0f" * 32} for n in range(40)]
    answer = await service.client.post("/v1/match", json={"signals": signals}, headers=service.auth("match"))
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [bool(r["matches"]) for r in results] == [n % 7 == 0 for n in range(40)]


async def test_a_cached_key_is_authenticated_without_a_threadpool_hop(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = service.auth("match")
    body = {"signals": [{"type": "pdq", "value": PDQ}]}
    assert (await service.client.post("/v1/match", json=body, headers=headers)).status_code == 200
    hops: list[object] = []
    original = service.state.keys.authenticate

    def counting(token: str) -> object:
        hops.append(token)
        return original(token)

    monkeypatch.setattr(service.state.keys, "authenticate", counting)
    for _ in range(5):
        assert (await service.client.post("/v1/match", json=body, headers=headers)).status_code == 200
    assert hops == []  # answered from the cache on the event loop


async def test_a_served_app_freezes_its_heap_once_the_index_is_loaded(tmp_path: Path, database_url: str) -> None:
    assert gc.get_freeze_count() == 0
    app = create_app(make_settings(tmp_path, database_url), settle=True)
    try:
        async with app.router.lifespan_context(app):
            for _ in range(400):
                if gc.get_freeze_count():
                    break
                await asyncio.sleep(0.05)
            # Everything alive after start-up is out of the collector's sight: full collections stay short.
            assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()


async def test_apps_built_for_tests_leave_the_heap_alone(tmp_path: Path, database_url: str) -> None:
    app = create_app(make_settings(tmp_path, database_url))
    async with app.router.lifespan_context(app):
        keeper = app.state.brightline.keeper
        for _ in range(400):
            if keeper.status()["loaded"]:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # past the point where a served app would have frozen
        assert keeper.status()["loaded"] is True
        assert gc.get_freeze_count() == 0


async def test_hashing_threads_bound_the_uploads_hashed_at_once(
    tmp_path: Path, database_url: str, photos: list[bytes]
) -> None:
    settings = make_settings(tmp_path, database_url, hashing_threads=3)
    async for service in running_service(settings):
        response = await service.client.post("/v1/hash", files=upload(photos[0]), headers=service.auth("hash"))
        assert response.status_code == 200
        assert service.app.state.hashing_slots.total_tokens == 3
