"""Sources over HTTP and the CLI: configure, status, sync, pause, resume; credentials never come back; provenance."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sources_support import md5
from test_service_support import Service, make_settings, running_service
from typer.testing import CliRunner

from brightline.cli import app
from brightline.sources.feedback import SourceFeedback

pytestmark = pytest.mark.anyio
pytest_plugins = ("test_service_support",)


@pytest.fixture
async def svc(tmp_path: Path, database_url: str, anyio_backend: str) -> AsyncIterator[Service]:
    # No scheduled passes: the tests sync when they choose.
    async for running in running_service(make_settings(tmp_path, database_url, source_sync_seconds=0)):
        yield running


def _listing(tmp_path: Path, numbers: range) -> Path:
    path = tmp_path / "list.txt"
    path.write_text("".join(md5(n) + "\n" for n in numbers))
    return path


async def test_configure_sync_and_read_status_over_http(svc: Service, tmp_path: Path) -> None:
    svc.state.banks.create_bank("feed")
    admin = svc.auth("admin")
    body = {
        "name": "drop",
        "kind": "file",
        "bank": "feed",
        "options": {"path": str(_listing(tmp_path, range(3))), "signal_type": "md5"},
    }
    created = await svc.client.post("/v1/sources", json=body, headers=admin)
    assert created.status_code == 201, created.text
    again = await svc.client.post("/v1/sources", json=body, headers=admin)
    assert again.status_code == 409
    synced = await svc.client.post("/v1/sources/drop/sync", headers=admin)
    assert synced.status_code == 200 and synced.json()["result"]["added"] == 3
    status = (await svc.client.get("/v1/sources/drop", headers=admin)).json()
    assert status["totals"]["added"] == 3 and status["last_success_at"] and status["lag_seconds"] is not None
    matched = await svc.client.post(
        "/v1/match", json={"signals": [{"type": "md5", "value": md5(1)}]}, headers=svc.auth("match")
    )
    assert matched.json()["matched"]  # this worker refreshed its index after the sync
    assert (await svc.client.delete("/v1/sources/drop", headers=admin)).status_code == 200
    assert (await svc.client.get("/v1/sources/drop", headers=admin)).status_code == 404


async def test_credentials_go_in_and_never_come_out(svc: Service) -> None:
    svc.state.banks.create_bank("feed")
    admin = svc.auth("admin")
    body = {
        "name": "peer",
        "kind": "brightline",
        "bank": "feed",
        "options": {"url": "https://bl.example.org"},
        "credentials": {"token": "very-secret-token"},
    }
    assert (await svc.client.post("/v1/sources", json=body, headers=admin)).status_code == 201
    changed = await svc.client.put(
        "/v1/sources/peer/credentials", json={"credentials": {"token": "newer-secret"}}, headers=admin
    )
    assert changed.status_code == 200
    listed = await svc.client.get("/v1/sources", headers=admin)
    for text in (listed.text, changed.text, (await svc.client.get("/v1/sources/peer", headers=admin)).text):
        assert "secret" not in text
    assert listed.json()["sources"][0]["has_credentials"] is True


async def _synced_drop(svc: Service, tmp_path: Path, entries: int) -> Path:
    """A `file` source "drop" into a new bank "feed", synced once with ``entries`` hashes; its list file."""
    svc.state.banks.create_bank("feed")
    path = _listing(tmp_path, range(entries))
    body = {"name": "drop", "kind": "file", "bank": "feed", "options": {"path": str(path), "signal_type": "md5"}}
    admin = svc.auth("admin")
    await svc.client.post("/v1/sources", json=body, headers=admin)
    await svc.client.post("/v1/sources/drop/sync", headers=admin)
    return path


async def test_a_paused_source_answers_409_until_resumed(svc: Service, tmp_path: Path) -> None:
    admin = svc.auth("admin")
    path = await _synced_drop(svc, tmp_path, 150)
    path.write_text(md5(1) + "\n")  # 149 of 150 gone at once
    paused = await svc.client.post("/v1/sources/drop/sync", headers=admin)
    assert paused.json()["result"]["status"] == "paused"
    refused = await svc.client.post("/v1/sources/drop/sync", headers=admin)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "source_paused"
    resumed = await svc.client.post("/v1/sources/drop/resume", headers=admin)
    assert resumed.json()["result"]["removed"] == 149
    assert svc.state.banks.get_bank("feed").enabled_count == 1


async def test_an_admin_pause_stops_syncs_and_resuming_it_confirms_nothing(svc: Service, tmp_path: Path) -> None:
    admin = svc.auth("admin")
    path = await _synced_drop(svc, tmp_path, 150)
    paused = await svc.client.post("/v1/sources/drop/pause", params={"reason": "the partner asked"}, headers=admin)
    assert paused.status_code == 200
    assert paused.json()["source"]["paused_reason"] == "paused by an admin: the partner asked"
    refused = await svc.client.post("/v1/sources/drop/sync", headers=admin)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "source_paused"
    too_long = await svc.client.post("/v1/sources/drop/pause", params={"reason": "x" * 501}, headers=admin)
    assert too_long.status_code == 422
    path.write_text(md5(1) + "\n")  # 149 of 150 gone: the safety check must still see it after the resume
    resumed = await svc.client.post("/v1/sources/drop/resume", headers=admin)
    assert resumed.json()["result"]["status"] == "paused"
    assert svc.state.banks.get_bank("feed").enabled_count == 150


async def test_matches_name_their_sources_only_for_provenance_readers(svc: Service, tmp_path: Path) -> None:
    svc.state.banks.create_bank("feed")
    catalog = svc.state.after.sources.catalog
    catalog.add(
        "drop", kind="file", bank="feed", options={"path": str(_listing(tmp_path, range(2))), "signal_type": "md5"}
    )
    svc.state.after.sources.engine.sync("drop")
    svc.state.keeper.refresh()
    query = {"signals": [{"type": "md5", "value": md5(1)}]}
    plain = (await svc.client.post("/v1/match", json=query, headers=svc.auth("match"))).json()
    assert "sources" not in plain["results"][0]["matches"][0]
    headers = {"Authorization": f"Bearer {svc.state.keys.create('prov', ['match', 'provenance:read'])[0]}"}
    told = (await svc.client.post("/v1/match", json=query, headers=headers)).json()
    [source] = told["results"][0]["matches"][0]["sources"]
    assert source["source"] == "drop" and source["remote_id"].startswith("md5:")


async def test_the_service_listens_for_false_positives(svc: Service) -> None:
    assert any(isinstance(listener, SourceFeedback) for listener in svc.state.queue._listeners)


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_add_sync_status_list_remove(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIGHTLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BRIGHTLINE_DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
        result = runner.invoke(app, list(args), input=stdin, catch_exceptions=False)
        return result.exit_code, result.stdout + result.stderr

    assert run("bank", "create", "feed")[0] == 0
    path = _listing(tmp_path, range(4))
    code, out = run(
        "source", "add", "drop", "--kind", "file", "--bank", "feed",
        "--option", f"path={path}", "--option", "signal_type=md5", "--credential", "token",
        stdin="cli-secret-value\n",
    )  # fmt: skip
    assert code == 0, out
    code, out = run("source", "sync", "drop", "--once")
    assert code == 0 and "+4" in out, out
    code, out = run("source", "status", "drop", "--json")
    status = json.loads(out)
    assert status["totals"]["added"] == 4 and status["has_credentials"] and "cli-secret" not in out
    code, out = run("source", "list")
    assert "drop" in out and "cli-secret" not in out
    assert run("source", "feedback-retry")[0] == 0
    code, out = run("source", "pause", "drop", "--reason", "checking the feed")
    assert code == 0 and "paused drop" in out, out
    code, out = run("source", "status", "drop", "--json")
    assert json.loads(out)["paused_reason"] == "paused by an admin: checking the feed"
    code, out = run("source", "sync", "drop", "--once")
    assert code == 2 and "paused" in out, out
    assert run("source", "resume", "drop", "--no-sync")[0] == 0
    assert run("source", "remove", "drop", "--yes")[0] == 0
    code, out = run("source", "status", "drop")
    assert code == 2 and "no source named" in out
