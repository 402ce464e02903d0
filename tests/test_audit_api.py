"""/v1/audit over HTTP: pages of records, a signed anchor, and the chain check."""

from __future__ import annotations

import pytest
from test_service_support import Service

from brightline.store.models_audit import audit_table

pytestmark = pytest.mark.anyio
pytest_plugins = ("test_service_support",)


async def test_audit_routes_page_anchor_and_verify(service: Service) -> None:
    admin = service.auth("admin")
    # Start-up recorded the settings, and a key was created for each scope.
    first = (await service.client.get("/v1/audit", params={"limit": 3}, headers=admin)).json()
    assert [r["id"] for r in first["records"]] == [1, 2, 3] and first["next_since_id"] == 3
    assert first["records"][0]["action"] == "settings.loaded"
    keys = (await service.client.get("/v1/audit", params={"action": "key.*"}, headers=admin)).json()
    assert keys["records"] and {r["action"] for r in keys["records"]} == {"key.created"}
    anchor = (await service.client.get("/v1/audit/anchor", headers=admin)).json()
    assert anchor["id"] == anchor["count"] and len(anchor["hmac"]) == 64
    assert (await service.client.get("/v1/audit/verify", headers=admin)).json()["ok"] is True
    with service.state.db.engine.begin() as conn:
        conn.execute(audit_table.update().where(audit_table.c.id == 2).values(actor="someone-else"))
    broken = (await service.client.get("/v1/audit/verify", headers=admin)).json()
    assert broken["ok"] is False and broken["first_broken_id"] == 2
