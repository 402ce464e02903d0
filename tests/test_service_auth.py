"""Every endpoint × {right scope, wrong scope, no key}, plus scope isolation and rate limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.routing import APIRoute
from test_service_support import Service, bank_with_photo, upload

from brightline.service.deps import ScopeGuard

pytestmark = pytest.mark.anyio
pytest_plugins = ("test_service_support",)

PDQ = "f" * 64


@dataclass(frozen=True)
class Call:
    method: str
    template: str
    scope: str
    ok: int
    json: Any = None
    multipart: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


CALLS = [
    Call("POST", "/v1/hash", "hash", 200, multipart=True),
    Call("POST", "/v1/match", "match", 200, json={"signals": [{"type": "pdq", "value": PDQ}]}),
    Call("POST", "/v1/scan", "scan", 200, multipart=True),
    Call("GET", "/v1/banks", "banks:read", 200),
    Call("POST", "/v1/banks", "banks:write", 201, json={"name": "fresh"}),
    Call("GET", "/v1/banks/{name}", "banks:read", 200),
    Call("GET", "/v1/banks/{name}/entries", "admin", 200),
    Call("GET", "/v1/banks/{name}/export", "admin", 200),
    Call("GET", "/v1/feedback", "admin", 200, extra={"query": {"source": "ncmec"}}),
    Call("PATCH", "/v1/banks/{name}", "banks:write", 200, json={"description": "changed"}),
    Call("DELETE", "/v1/banks/{name}", "banks:write", 200),
    Call(
        "POST", "/v1/banks/{name}/entries", "banks:write", 201, json={"entries": [{"signal_type": "pdq", "value": PDQ}]}
    ),
    Call("DELETE", "/v1/banks/{name}/entries/{entry_id}", "banks:write", 200),
    Call("PATCH", "/v1/banks/{name}/entries/{entry_id}", "banks:write", 200, json={"enabled": False}),
    Call("POST", "/v1/banks/{name}/import", "banks:write", 201, extra={"import": True}),
    Call("GET", "/v1/matches", "matches:read", 200),
    Call("GET", "/v1/keys", "admin", 200),
    Call("POST", "/v1/keys", "admin", 201, json={"name": "new", "scopes": ["hash"]}),
    Call("DELETE", "/v1/keys/{key_id}", "admin", 200),
    # After a match: unknown ids answer 404 once the scope check has passed.
    Call("GET", "/v1/cases", "admin", 200),
    Call("GET", "/v1/cases/{case_id}", "admin", 404),
    Call("POST", "/v1/cases/{case_id}/report", "admin", 404),
    Call("POST", "/v1/cases/{case_id}/holds", "admin", 404, json={"reason": "court order"}),
    Call("GET", "/v1/reports", "admin", 200),
    Call("GET", "/v1/reports/{report_id}", "admin", 404),
    Call("POST", "/v1/reports/{report_id}/retract", "admin", 404, json={"reason": "withdrawn"}),
    Call("GET", "/v1/holds", "admin", 200),
    Call("POST", "/v1/holds/{hold_id}/release", "admin", 404),
    Call("POST", "/v1/appeals", "appeals", 404, json={"content_id": "never-matched", "reason": "mine"}),
    Call("GET", "/v1/appeals", "appeals", 200),
    Call("GET", "/v1/appeals/{appeal_id}", "appeals", 404),
    Call("GET", "/v1/rules", "admin", 200),
    Call("PUT", "/v1/rules/{name}", "admin", 200, json={"actions": ["review"]}),
    Call("DELETE", "/v1/rules/{name}", "admin", 404),
    Call("GET", "/v1/rules.toml", "admin", 200),
    Call("GET", "/v1/notices", "scan", 200),
    Call("GET", "/v1/enforcement", "scan", 200),
    Call("GET", "/v1/webhooks/deliveries", "admin", 200),
    Call("GET", "/v1/audit", "admin", 200),
    Call("GET", "/v1/audit/anchor", "admin", 200),
    Call("GET", "/v1/audit/verify", "admin", 200),
    Call("GET", "/v1/transparency", "admin", 200),
    Call("GET", "/v1/sources", "admin", 200),
    Call(
        "POST",
        "/v1/sources",
        "admin",
        201,
        json={"name": "drop", "kind": "file", "bank": "known", "options": {"path": "/nonexistent"}},
    ),
    Call("GET", "/v1/sources/{name}", "admin", 404),
    Call("DELETE", "/v1/sources/{name}", "admin", 404),
    Call("PUT", "/v1/sources/{name}/credentials", "admin", 404, json={"credentials": {"token": "x"}}),
    Call("POST", "/v1/sources/{name}/sync", "admin", 404),
    Call("POST", "/v1/sources/{name}/pause", "admin", 404),
    Call("POST", "/v1/sources/{name}/resume", "admin", 404),
]


async def _send(service: Service, call: Call, headers: dict[str, str], photo: bytes, ids: dict[str, int]) -> Any:
    missing = dict.fromkeys(("case_id", "report_id", "hold_id", "appeal_id"), 999_999)
    url = call.template.format(name="known", **missing, **ids)
    kwargs: dict[str, Any] = {"headers": headers}
    if call.json is not None:
        kwargs["json"] = call.json
    if call.multipart:
        kwargs["files"] = upload(photo)
    if "query" in call.extra:
        kwargs["params"] = call.extra["query"]
    if call.extra.get("import"):
        kwargs["files"] = {"file": ("list.txt", f"{PDQ}\n".encode(), "text/plain")}
    return await service.client.request(call.method, url, **kwargs)


@pytest.mark.parametrize("call", CALLS, ids=[f"{c.method} {c.template}" for c in CALLS])
async def test_endpoint_needs_its_scope(service: Service, photos: list[bytes], call: Call) -> None:
    entry_ids = bank_with_photo(service, photos[0])
    ids = {"entry_id": entry_ids[0], "key_id": service.state.keys.create("spare", ["hash"])[1].id}
    missing = await _send(service, call, {}, photos[1], ids)
    assert missing.status_code == 401, missing.text
    assert missing.json()["error"]["code"] == "unauthenticated"
    assert missing.headers["www-authenticate"] == "Bearer"
    garbage = await _send(service, call, {"Authorization": "Bearer not-a-key"}, photos[1], ids)
    assert garbage.status_code == 401
    wrong = await _send(service, call, service.key_without(call.scope), photos[1], ids)
    assert wrong.status_code == 403, wrong.text
    assert wrong.json()["error"]["code"] == "forbidden"
    right = await _send(service, call, service.auth(call.scope), photos[1], ids)
    assert right.status_code == call.ok, right.text
    admin = await _send(service, call, service.auth("admin"), photos[1], ids)
    # admin implies every scope (the resource may be gone after the first call: 404/409 are fine)
    assert admin.status_code in (call.ok, 404, 409), admin.text


def _guards(route: APIRoute) -> list[str]:
    found: list[str] = []
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, ScopeGuard):
            found.append(dep.call.scope)
        stack.extend(dep.dependencies)
    return found


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    found: list[APIRoute] = []
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI >= 0.13x nests included routers
        if included is not None:
            found.extend(_api_routes(included.routes))
        elif isinstance(route, APIRoute):
            found.append(route)
    return found


async def test_the_table_covers_every_v1_route_with_its_declared_scope(service: Service) -> None:
    declared = {}
    for route in _api_routes(service.app.routes):
        if route.path.startswith("/v1"):
            for method in route.methods:
                declared[(method, route.path)] = _guards(route)
    table = {(c.method, c.template): [c.scope] for c in CALLS}
    assert declared == table


async def test_a_scan_only_key_cannot_read_banks_or_entries(service: Service, photos: list[bytes]) -> None:
    bank_with_photo(service, photos[0])
    headers = service.auth("scan")
    for url in ("/v1/banks", "/v1/banks/known", "/v1/matches", "/v1/keys"):
        response = await service.client.get(url, headers=headers)
        assert response.status_code == 403, url
        assert "known" not in response.text or url == "/v1/banks/known"
    scanned = await service.client.post("/v1/scan", files=upload(photos[0]), headers=headers)
    assert scanned.status_code == 200
    (first, *_rest) = scanned.json()["matches"]
    # A match names the bank and entry only: no hash values, sources, notes or categories.
    assert set(first) == {"bank", "entry_id", "signal_type", "distance", "variant"}
    entry = service.state.banks.get_entry(first["entry_id"])
    assert entry.value not in scanned.text and "test" not in scanned.text


async def test_match_key_sees_only_public_match_fields(service: Service, photos: list[bytes]) -> None:
    bank_with_photo(service, photos[0])
    entry = service.state.banks.list_entries("known")[0]
    response = await service.client.post(
        "/v1/match",
        json={"signals": [{"type": entry.signal_type, "value": entry.value}]},
        headers=service.auth("match"),
    )
    (result,) = response.json()["results"]
    assert [set(m) for m in result["matches"]] == [{"bank", "entry_id", "signal_type", "distance", "variant"}]


async def test_revoked_key_is_refused(service: Service) -> None:
    token, info = service.state.keys.create("short-lived", ["banks:read"])
    headers = {"Authorization": f"Bearer {token}"}
    assert (await service.client.get("/v1/banks", headers=headers)).status_code == 200
    revoked = await service.client.delete(f"/v1/keys/{info.id}", headers=service.auth("admin"))
    assert revoked.status_code == 200 and revoked.json()["key"]["revoked_at"] is not None
    assert (await service.client.get("/v1/banks", headers=headers)).status_code == 401


async def test_rate_limit_answers_429_with_retry_after(service: Service) -> None:
    token, _ = service.state.keys.create("slow", ["banks:read"], rate_limit_per_minute=2)
    headers = {"Authorization": f"Bearer {token}"}
    statuses = [(await service.client.get("/v1/banks", headers=headers)).status_code for _ in range(2)]
    limited = await service.client.get("/v1/banks", headers=headers)
    assert statuses == [200, 200]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    # Other keys are not affected.
    assert (await service.client.get("/v1/banks", headers=service.auth("banks:read"))).status_code == 200


async def test_created_key_token_is_returned_once_and_works(service: Service) -> None:
    created = await service.client.post(
        "/v1/keys", json={"name": "ci", "scopes": ["banks:read"]}, headers=service.auth("admin")
    )
    assert created.status_code == 201
    token = created.json()["token"]
    listed = await service.client.get("/v1/keys", headers=service.auth("admin"))
    assert token not in listed.text
    assert (await service.client.get("/v1/banks", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    bad = await service.client.post("/v1/keys", json={"name": "x", "scopes": ["root"]}, headers=service.auth("admin"))
    assert bad.status_code == 422 and "error" in bad.json()
