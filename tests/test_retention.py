"""Retention: exactly the due units go (rows, evidence files, audit records), held and preserved ones stay."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from brightline.errors import RetentionBusyError
from brightline.privacy.retention import RetentionService, retention_service_from_settings
from brightline.privacy.retention_policy import JurisdictionPolicy, RetentionPolicy
from brightline.settings import Settings
from brightline.store.audit import AuditLog
from brightline.store.db import Database
from brightline.store.models import match_events_table, scan_counters_table, scan_records_table, utcnow
from brightline.store.models_actions import evidence_table
from brightline.store.models_cases import cases_table, legal_holds_table
from brightline.store.models_reporting import reports_table
from brightline.store.models_retention import retention_runs_table
from tests.retention_scenario import Unit, build

EU_POLICY = {"default": {}, "jurisdictions": {"EU": {"max_days": 365}}}


def _service(db: Database, tmp_path: Path, policy: dict[str, object] | None = None) -> RetentionService:
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=str(db.url))  # type: ignore[call-arg]
    service = retention_service_from_settings(db, settings)
    service.policy = RetentionPolicy.from_mapping(policy or EU_POLICY, base=JurisdictionPolicy(), source="test")
    return service


def _ids(db: Database, table: sa.Table) -> set[int]:
    with db.engine.connect() as conn:
        return set(conn.execute(sa.select(table.c.id)).scalars())


@pytest.fixture
def scenario(db: Database, tmp_path: Path) -> tuple[RetentionService, dict[str, Unit], set[str]]:
    service = _service(db, tmp_path)
    units, deleted = build(db, service.evidence, utcnow())
    return service, units, deleted


def test_a_run_deletes_exactly_the_due_units(
    db: Database, scenario: tuple[RetentionService, dict[str, Unit], set[str]]
) -> None:
    service, units, deleted = scenario
    outcome = service.run(actor="test")
    kept = [u for name, u in units.items() if name not in deleted]
    gone = [u for name, u in units.items() if name in deleted]
    assert _ids(db, scan_records_table) == {u.scan_id for u in kept}
    assert _ids(db, cases_table) == {c for u in kept for c in u.case_ids}
    with db.engine.connect() as conn:
        events_left = set(conn.execute(sa.select(match_events_table.c.scan_id)).scalars())
    assert not events_left & {u.scan_id for u in gone}
    assert outcome.deleted["scan"] == len(gone)
    assert outcome.deleted["case"] == sum(len(u.case_ids) for u in gone)
    assert outcome.kept == 3  # fp-held, fp-evidence-preserved, us-reported-preserved


def test_every_side_row_of_a_deleted_unit_goes_with_it(
    db: Database, scenario: tuple[RetentionService, dict[str, Unit], set[str]]
) -> None:
    service, units, deleted = scenario
    outcome = service.run(actor="test")
    for kind in ("delivery", "notice", "enforcement", "report", "hold", "appeal"):
        expected = sum(len(u.extra.get(kind, [])) for n, u in units.items() if n in deleted)
        assert outcome.deleted[kind] == expected, kind
    # The held unit's hold and the preserved US report are still there.
    assert units["fp-held"].extra["hold"][0] in _ids(db, legal_holds_table)
    assert units["us-reported-preserved"].extra["report"][0] in _ids(db, reports_table)


def test_evidence_files_of_deleted_units_disappear_and_held_ones_stay(
    db: Database, scenario: tuple[RetentionService, dict[str, Unit], set[str]]
) -> None:
    service, units, deleted = scenario
    files = {name: u.evidence_file for name, u in units.items() if u.evidence_file is not None}
    assert all(path.exists() for path in files.values())
    service.run(actor="test")
    for name, path in files.items():
        assert path.exists() == (name not in deleted), name
    left = _ids(db, evidence_table)
    assert left == {u.evidence_id for n, u in units.items() if u.evidence_id is not None and n not in deleted}


def test_every_deletion_has_its_audit_record_and_the_run_one_more(
    db: Database, scenario: tuple[RetentionService, dict[str, Unit], set[str]]
) -> None:
    service, units, deleted = scenario
    outcome = service.run(actor="retention-test")
    log = AuditLog(db)
    records = log.records(action="retention.deleted", limit=10_000)
    per_kind = Counter(r.details["kind"] for r in records)
    assert {k: v for k, v in outcome.deleted.items() if v} == dict(per_kind)
    scans = {r.details["id"] for r in records if r.details["kind"] == "scan"}
    assert scans == {u.scan_id for n, u in units.items() if n in deleted}
    first = next(r for r in records if r.details["kind"] == "case" and r.details["id"] == units["fp-old"].case_ids[0])
    assert first.actor == "retention-test"
    assert first.details == {
        "kind": "case",
        "id": first.details["id"],
        "policy": "default.false_positive_days=30",
        "age_days": 40,
    }
    eu = next(
        r for r in records if r.details["kind"] == "scan" and r.details["id"] == units["eu-confirmed-old-scan"].scan_id
    )
    assert eu.details["policy"] == "EU.max_days=365"
    runs = log.records(action="retention.run")
    assert len(runs) == 1
    assert runs[0].details["deleted"] == outcome.deleted
    assert runs[0].details["dry_run"] is False


def test_a_dry_run_shows_the_plan_and_deletes_nothing(
    db: Database, scenario: tuple[RetentionService, dict[str, Unit], set[str]]
) -> None:
    service, units, deleted = scenario
    before = (_ids(db, scan_records_table), _ids(db, cases_table), _ids(db, evidence_table))
    audit_before = AuditLog(db).count()
    dry = service.run(actor="test", dry_run=True)
    assert (_ids(db, scan_records_table), _ids(db, cases_table), _ids(db, evidence_table)) == before
    assert all(u.evidence_file is None or u.evidence_file.exists() for u in units.values())
    assert AuditLog(db).count() == audit_before
    by_scan = {i.scan_ids[0]: i for i in dry.plan.items}
    assert {by_scan[u.scan_id].action for n, u in units.items() if n in deleted} == {"delete"}
    assert by_scan[units["fp-held"].scan_id].reason == f"kept: legal hold {units['fp-held'].extra['hold'][0]}"
    assert by_scan[units["us-reported-preserved"].scan_id].reason.startswith("kept: preserved until ")
    assert by_scan[units["fp-evidence-preserved"].scan_id].reason.startswith("kept: preserved until ")
    assert len(dry.plan.items) == len(deleted) + 3
    assert dry.plan.not_due == len(units) - len(deleted) - 3
    # The real run deletes what the dry run announced.
    assert service.run(actor="test").deleted == dry.plan.counts()
    with db.engine.connect() as conn:
        logged = conn.execute(sa.select(retention_runs_table.c.dry_run, retention_runs_table.c.status)).all()
    assert sorted(logged) == [(False, "finished"), (True, "finished")]


def test_the_plan_serialises_without_content(scenario: tuple[RetentionService, dict[str, Unit], set[str]]) -> None:
    service, _units, _deleted = scenario
    text = json.dumps(service.plan().as_dict())
    assert "content-" not in text and "account-" not in text
    assert '"kept: legal hold' in text


def test_a_hold_placed_after_planning_keeps_the_unit(
    db: Database, scenario: tuple[RetentionService, dict[str, Unit], set[str]]
) -> None:
    from brightline.reporting.holds import HoldService

    service, units, _deleted = scenario
    plan = service.plan()
    HoldService(db).place(units["fp-hold-released"].case_ids[0], reason="late", actor="test")
    item = next(i for i in plan.to_delete if i.scan_ids == (units["fp-hold-released"].scan_id,))
    from brightline.privacy.retention import _UnitChangedError

    with pytest.raises(_UnitChangedError):
        service._delete_unit(item, "test", plan.now)
    assert units["fp-hold-released"].scan_id in _ids(db, scan_records_table)


def test_a_second_run_finds_nothing_more_and_counters_stay(
    db: Database, scenario: tuple[RetentionService, dict[str, Unit], set[str]]
) -> None:
    service, _units, _deleted = scenario
    with db.write_connection() as conn:
        conn.execute(
            sa.insert(scan_counters_table).values(
                day=utcnow().date(), content_type="image/png", api_key_id=0, scans=7, matched=2
            )
        )
    service.run(actor="test")
    assert sum(service.run(actor="test").deleted.values()) == 0
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(scan_counters_table.c.scans, scan_counters_table.c.matched)).one() == (7, 2)


def test_only_one_run_at_a_time(db: Database, tmp_path: Path) -> None:
    from datetime import timedelta

    first, second = _service(db, tmp_path), _service(db, tmp_path)
    now = utcnow()
    with first._exclusive("a", now) as claimed:
        assert claimed is not None
        with pytest.raises(RetentionBusyError):
            second.run(actor="b")
        assert second.run_if_due(actor="b", interval=timedelta(hours=1)) is None
    # Released: the scheduled entry point runs once, then not again within its interval.
    with db.write_connection() as conn:
        conn.execute(sa.update(retention_runs_table).values(status="finished"))
    assert second.run_if_due(actor="b", interval=timedelta(seconds=0)) is not None
    assert second.run_if_due(actor="b", interval=timedelta(hours=1)) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"default": {"confirmed_days": 200}}, "default.confirmed_days = 200"),
        ({"jurisdictions": {"us": {"max_days": 364}}}, "US.max_days = 364"),
        ({"default": {"unconfirmed_dayz": 3}}, "unknown key 'unconfirmed_dayz'"),
        ({"default": {"max_days": -1}}, "default.max_days must be a whole number"),
        ({"default": {"max_days": True}}, "default.max_days must be a whole number"),
        ({"retention": {}}, "unknown section 'retention'"),
        ({"jurisdictions": {"E U": {}}}, "not a short code"),
    ],
)
def test_bad_policies_are_refused(data: dict[str, object], message: str) -> None:
    from brightline.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=re.escape(message)):
        RetentionPolicy.from_mapping(data, base=JurisdictionPolicy(), source="test")


def test_a_us_section_may_keep_longer_than_a_short_default() -> None:
    policy = RetentionPolicy.from_mapping(
        {
            "default": {"confirmed_days": 90, "max_days": 180},
            "jurisdictions": {"US": {"confirmed_days": 365, "max_days": 0}},
        },
        base=JurisdictionPolicy(),
        source="test",
    )
    assert policy.for_jurisdiction("us") == ("US", JurisdictionPolicy(90, 30, 365, 0))
    assert policy.for_jurisdiction("DE") == ("default", JurisdictionPolicy(90, 30, 90, 180))
