"""Retention scheduled inside the service: it runs by itself, and once per interval however many apps run."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_service_support import make_settings, running_service

from brightline.errors import ConfigurationError
from brightline.privacy import retention
from brightline.service.app import create_app
from brightline.store.audit import AuditLog
from brightline.store.db import Database
from brightline.store.models import scan_records_table, utcnow
from brightline.store.models_retention import retention_runs_table
from tests.retention_scenario import Builder

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _runs(db: Database) -> list[tuple[bool, str]]:
    with db.engine.connect() as conn:
        return [
            tuple(r) for r in conn.execute(sa.select(retention_runs_table.c.dry_run, retention_runs_table.c.status))
        ]


async def _wait_for(condition: object, what: str) -> None:
    # A generous bound on a condition, not a timing assertion: it normally holds within a second.
    for _ in range(600):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_two_apps_on_one_database_run_retention_once(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "FIRST_CHECK_S", 0.05)
    monkeypatch.setattr(retention, "POLL_S", 0.05)
    settings = make_settings(tmp_path, database_url, retention_interval_hours=1.0)
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(contextlib.asynccontextmanager(running_service)(settings))
        db = first.state.db
        builder = Builder(db, first.state.evidence, utcnow())  # type: ignore[arg-type]
        due = builder.scan("due", 100)
        young = builder.scan("young", 1)
        await stack.enter_async_context(contextlib.asynccontextmanager(running_service)(settings))
        await _wait_for(lambda: "finished" in {s for _d, s in _runs(db)}, "a finished retention run")
        # Both apps keep polling: the guard and the last finished run keep it to one run per interval.
        await asyncio.sleep(0.3)
        assert _runs(db) == [(False, "finished")]
        with db.engine.connect() as conn:
            left = set(conn.execute(sa.select(scan_records_table.c.id)).scalars())
        assert left == {young.scan_id} and due.scan_id not in left
        assert [r.details["id"] for r in AuditLog(db).records(action="retention.deleted")] == [due.scan_id]
        assert AuditLog(db).records(action="retention.run")[0].actor == "service:retention"


@pytest.mark.parametrize(("hours", "scheduled"), [(0, False), (24, True)])
async def test_the_job_is_scheduled_unless_the_interval_is_zero(
    tmp_path: Path, database_url: str, hours: float, scheduled: bool
) -> None:
    async for _service in running_service(make_settings(tmp_path, database_url, retention_interval_hours=hours)):
        names = {task.get_name() for task in asyncio.all_tasks()}
        assert ("retention" in names) == scheduled


def test_the_service_refuses_to_start_with_an_unlawful_policy(tmp_path: Path, database_url: str) -> None:
    policy = tmp_path / "retention.toml"
    policy.write_text("[default]\nmax_days = 180\n")
    with pytest.raises(ConfigurationError, match="2258A"):
        create_app(make_settings(tmp_path, database_url, retention_file=policy))
