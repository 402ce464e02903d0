"""Bank contents over HTTP: banks:read sees counts and digests only; values need admin and every read is audited."""

from __future__ import annotations

import json

import pytest
from test_service_support import Service, bank_with_photo

from brightline.banks import EntryInput
from brightline.store.audit import AuditLog

pytestmark = pytest.mark.anyio
pytest_plugins = ("test_service_support",)


async def test_banks_read_sees_the_digest_but_no_values(service: Service, photos: list[bytes]) -> None:
    bank_with_photo(service, photos[0])
    values = [e.value for e in service.state.banks.list_entries("known")]
    shown = await service.client.get("/v1/banks/known", headers=service.auth("banks:read"))
    assert shown.status_code == 200
    assert shown.json()["digest"] == service.state.banks.digest("known").as_details()
    assert not any(v in shown.text for v in values)
    for url in ("/v1/banks/known/entries", "/v1/banks/known/export"):
        assert (await service.client.get(url, headers=service.auth("banks:read"))).status_code == 403


async def test_admin_export_and_pages_are_audited(service: Service, photos: list[bytes]) -> None:
    bank_with_photo(service, photos[0])
    admin = service.auth("admin")
    key_id = service.state.keys.authenticate(service.tokens["admin"]).id
    exported = await service.client.get("/v1/banks/known/export?format=jsonl", headers=admin)
    assert exported.status_code == 200
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert {line["value"] for line in lines} == {e.value for e in service.state.banks.list_entries("known")}
    page = await service.client.get("/v1/banks/known/entries?limit=1", headers=admin)
    assert len(page.json()["entries"]) == 1
    records = AuditLog(service.state.db).records(action="bank.exported")
    assert [(r.details["format"], r.details["entries"], r.actor) for r in records] == [
        ("jsonl", len(lines), f"api_key:{key_id}"),
        ("api-page", 1, f"api_key:{key_id}"),
    ]


async def test_bank_writes_over_the_api_name_the_key(service: Service) -> None:
    write = service.auth("banks:write")
    key_id = service.state.keys.authenticate(service.tokens["banks:write"]).id
    assert (await service.client.post("/v1/banks", json={"name": "api-list"}, headers=write)).status_code == 201
    body = {"entries": [{"signal_type": "pdq", "value": "f" * 64, "source": "partner-x"}]}
    assert (await service.client.post("/v1/banks/api-list/entries", json=body, headers=write)).status_code == 201
    records = AuditLog(service.state.db).records(action="bank.*")
    assert [(r.action, r.actor) for r in records] == [
        ("bank.created", f"api_key:{key_id}"),
        ("bank.entries_added", f"api_key:{key_id}"),
    ]


async def test_feedback_endpoint_answers_per_source(service: Service) -> None:
    service.state.banks.create_bank("fp")
    service.state.banks.add_entries("fp", [EntryInput("pdq", "e" * 64, source="partner-x")])
    answer = await service.client.get("/v1/feedback?source=partner-x&format=csv", headers=service.auth("admin"))
    assert answer.status_code == 200
    assert answer.text.splitlines() == ["entry_id,bank,signal_type,value,remote_id,false_positives,first_at,last_at"]
    refused = await service.client.get("/v1/feedback?source=partner-x", headers=service.auth("banks:read"))
    assert refused.status_code == 403
