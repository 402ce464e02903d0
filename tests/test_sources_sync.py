"""The sync engine: batches with checkpoints, provenance, withdrawals, crash and resume, safety, errors, locks."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sources_support import (
    Script,
    all_rows,
    bank_state,
    entry,
    make_catalog,
    make_engine,
    md5,
    scripted,
    vouch_rows,
)

from brightline.banks import BankService, EntryInput
from brightline.banks.provenance import ProvenanceService
from brightline.errors import SourceAuthError, SourceError, SourcePausedError
from brightline.matching import Matcher
from brightline.sources.locks import sync_lock
from brightline.sources.sync import CREDENTIALS_REFUSED
from brightline.store.audit import AuditLog
from brightline.store.db import Database
from brightline.store.models_sources import sources_table


def _audit(db: Database, action: str) -> list[dict[str, object]]:
    return [r.details for r in AuditLog(db).records(limit=10_000) if r.action == action]


def _checkpoint(db: Database, name: str) -> str | None:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sources_table.c.checkpoint).where(sources_table.c.name == name)).scalar()


@pytest.fixture
def banks(db: Database) -> BankService:
    service = BankService(db)
    service.create_bank("feed")
    return service


def test_batches_add_entries_with_provenance_checkpoint_and_audit(db: Database, banks: BankService) -> None:
    catalog = make_catalog(db)
    script = Script()
    script.add(upserts=(entry(1, classification="A1", category="A1", tags=("x",)), entry(2)))
    script.add(upserts=(entry(3),))
    scripted(catalog, "owner", "feed", script)
    result = make_engine(catalog).sync("owner")
    assert (result.status, result.batches, result.added) == ("ok", 2, 3)
    assert bank_state(db) == {("md5", md5(n), True) for n in (1, 2, 3)}
    first = next(e for e in banks.list_entries("feed") if e.value == md5(1))
    [vouch] = ProvenanceService(db).sources_of(first.id)
    assert (vouch.source, vouch.remote_id, vouch.classification, vouch.tags) == ("owner", "r-1", "A1", ("x",))
    assert first.category == "A1"
    assert _checkpoint(db, "owner") == "2"
    synced = _audit(db, "source.synced")
    assert [(d["added"], d["checkpoint_seq"]) for d in synced] == [(2, 1), (1, 2)]
    info = catalog.get("owner")
    assert info.totals["added"] == 3 and info.last_success_at is not None


def test_a_second_sync_resumes_after_the_checkpoint_and_changes_nothing(db: Database, banks: BankService) -> None:
    catalog = make_catalog(db)
    script = scripted(catalog, "owner", "feed", Script())
    script.add(upserts=(entry(1), entry(2)))
    engine = make_engine(catalog)
    engine.sync("owner")
    again = engine.sync("owner")
    assert (again.batches, again.added) == (0, 0)
    assert script.fetches == [None, "1"]
    assert all_rows(db) == 2 and len(vouch_rows(db)) == 2


def test_a_changed_entry_updates_its_provenance(db: Database, banks: BankService) -> None:
    catalog = make_catalog(db)
    script = scripted(catalog, "owner", "feed", Script())
    script.add(upserts=(entry(1, classification="A2"),))
    script.add(upserts=(entry(1, classification="A1", tags=("reviewed",)),))
    result = make_engine(catalog).sync("owner")
    assert (result.added, result.changed) == (1, 1)
    [row] = vouch_rows(db)
    assert ProvenanceService(db).sources_of(row[0])[0].classification == "A1"


def test_removal_disables_the_entry_unless_another_source_vouches(db: Database, banks: BankService) -> None:
    banks.add_entries("feed", [EntryInput("md5", md5(2), source="manual")])
    catalog = make_catalog(db)
    script = scripted(catalog, "owner", "feed", Script())
    script.add(upserts=(entry(1), entry(2)))
    script.add(removals=("r-1", "r-2", "never-sent"))
    result = make_engine(catalog).sync("owner")
    assert (result.removed, result.unknown_removals) == (2, 1)
    assert bank_state(db) == {("md5", md5(1), False), ("md5", md5(2), True)}
    assert all(not active for _, source, _, active in vouch_rows(db) if source == "owner")


def test_a_removed_entry_stops_matching_after_an_index_refresh(db: Database, banks: BankService) -> None:
    catalog = make_catalog(db)
    script = scripted(catalog, "owner", "feed", Script())
    script.add(upserts=(entry(1),))
    engine = make_engine(catalog)
    engine.sync("owner")
    matcher = Matcher(banks)
    matcher.refresh()
    assert matcher.match_values("md5", [md5(1)])
    script.add(removals=("r-1",))
    engine.sync("owner")
    matcher.refresh()
    assert matcher.match_values("md5", [md5(1)]) == []


def test_the_source_listing_an_entry_again_enables_it(db: Database, banks: BankService) -> None:
    catalog = make_catalog(db)
    script = scripted(catalog, "owner", "feed", Script())
    script.add(upserts=(entry(1),))
    script.add(removals=("r-1",))
    script.add(upserts=(entry(1),))
    make_engine(catalog).sync("owner")
    assert bank_state(db) == {("md5", md5(1), True)}
    assert [active for *_, active in vouch_rows(db)] == [True]


def test_a_crash_mid_sync_resumes_without_loss_or_duplicates(db: Database, banks: BankService) -> None:
    catalog = make_catalog(db)
    script = scripted(catalog, "owner", "feed", Script(crash_after=2))
    for n in range(5):
        script.add(upserts=(entry(2 * n), entry(2 * n + 1)), removals=(f"r-{2 * n - 3}",) if n >= 2 else ())
    with pytest.raises(RuntimeError):
        make_engine(catalog).sync("owner")
    assert _checkpoint(db, "owner") == "2"
    assert catalog.get("owner").last_error.startswith("RuntimeError")
    script.crash_after = None
    make_engine(catalog).sync("owner")
    # The same script, uninterrupted, in a second bank.
    banks.create_bank("control")
    control = scripted(catalog, "control", "control", Script())
    control.batches = list(script.batches)
    make_engine(catalog).sync("control")
    control_id = banks.get_bank("control").id
    assert bank_state(db, banks.get_bank("feed").id) == bank_state(db, control_id)
    assert all_rows(db) == 20
    owner_rows = [r for r in vouch_rows(db) if r[1] == "owner"]
    assert len(owner_rows) == len({r[2] for r in owner_rows}) == 10


def test_malformed_records_are_counted_and_never_stop_a_sync(db: Database, banks: BankService) -> None:
    catalog = make_catalog(db)
    script = scripted(catalog, "owner", "feed", Script())
    bad_hex = entry(9).__class__(remote_id="bad", signal_type="md5", value="zz")
    unknown_type = entry(9).__class__(remote_id="odd", signal_type="tmk", value="00")
    no_bank = entry(4, bank="missing")
    script.add(upserts=(entry(1), bad_hex, unknown_type, no_bank), malformed=2, problems=("line 7: no hash",))
    result = make_engine(catalog).sync("owner")
    assert (result.status, result.added, result.malformed) == ("ok", 1, 5)
    info = catalog.get("owner")
    assert info.totals["malformed"] == 5 and "line 7: no hash" in info.problems
    assert _audit(db, "source.synced")[0]["malformed"] == 5


def test_an_implausible_removal_pauses_until_an_admin_resumes(db: Database, banks: BankService) -> None:
    catalog = make_catalog(db)
    script = scripted(catalog, "owner", "feed", Script())
    script.add(upserts=tuple(entry(n) for n in range(150)))
    engine = make_engine(catalog, max_remove_percent=20, min_entries=100)
    engine.sync("owner")
    script.add(removals=tuple(f"r-{n}" for n in range(40)))
    paused = engine.sync("owner")
    assert paused.status == "paused"
    info = catalog.get("owner")
    assert info.state == "paused" and "remove 40" in info.paused_reason
    assert _checkpoint(db, "owner") == "1"  # the held batch's checkpoint is not stored
    assert banks.get_bank("feed").enabled_count == 150
    assert _audit(db, "source.paused")
    with pytest.raises(SourcePausedError):
        engine.sync("owner")
    engine.resume("owner", actor="admin")
    assert engine.sync("owner").removed == 40
    assert banks.get_bank("feed").enabled_count == 110
    assert catalog.get("owner").state == "active" and not catalog.get("owner").confirmed


def test_an_implausible_addition_pauses_but_small_banks_fill_freely(db: Database, banks: BankService) -> None:
    catalog = make_catalog(db)
    script = scripted(catalog, "owner", "feed", Script())
    # An empty bank is under min_entries: the whole first run fills it, however many batches it takes.
    script.add(upserts=tuple(entry(n) for n in range(50)))
    script.add(upserts=tuple(entry(n) for n in range(50, 100)))
    engine = make_engine(catalog, max_add_percent=500, min_entries=100)
    assert engine.sync("owner").status == "ok"
    script.add(upserts=tuple(entry(n) for n in range(100, 400)))
    script.add(upserts=tuple(entry(n) for n in range(400, 700)))  # 600 more over the run: over 500%
    result = engine.sync("owner")
    assert result.status == "paused" and result.batches == 1
    assert banks.get_bank("feed").enabled_count == 400


def test_refused_credentials_pause_the_source(db: Database, banks: BankService) -> None:
    catalog = make_catalog(db)
    scripted(catalog, "owner", "feed", Script(error=SourceAuthError("token expired")))
    result = make_engine(catalog).sync("owner")
    info = catalog.get("owner")
    assert result.status == "paused" and info.paused_reason == CREDENTIALS_REFUSED
    assert info.last_error == "token expired"


def test_a_failing_source_records_the_error_and_time(db: Database, banks: BankService) -> None:
    catalog = make_catalog(db)
    scripted(catalog, "owner", "feed", Script(error=SourceError("HTTP 503 five times")))
    result = make_engine(catalog).sync("owner")
    info = catalog.get("owner")
    assert result.status == "failed" and info.state == "active"
    assert info.last_error == "HTTP 503 five times" and info.last_error_at is not None
    assert info.last_success_at is None and _audit(db, "source.sync_failed")


def test_only_one_process_syncs_a_source_at_a_time(db: Database, banks: BankService) -> None:
    catalog = make_catalog(db)
    script = scripted(catalog, "owner", "feed", Script())
    script.add(upserts=(entry(1),))
    with sync_lock(db, catalog.get("owner").id, "someone-else:1:x") as got:
        assert got
        assert make_engine(catalog).sync("owner").status == "busy"
    assert make_engine(catalog).sync("owner").status == "ok"


def test_bank_map_routes_entries_by_category(db: Database, banks: BankService) -> None:
    banks.create_bank("video")
    catalog = make_catalog(db)
    script = scripted(catalog, "owner", "feed", Script(), bank_map={"B2": "video"})
    script.add(upserts=(entry(1, category="B2"), entry(2, category="A1")))
    make_engine(catalog).sync("owner")
    assert bank_state(db, banks.get_bank("video").id) == {("md5", md5(1), True)}
    assert bank_state(db, banks.get_bank("feed").id) == {("md5", md5(2), True)}
