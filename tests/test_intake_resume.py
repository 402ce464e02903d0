"""An interrupted review intake (a crash between recording a match and finishing intake) is finished
by the next replay of the same scan, without doing any step twice; a recent one is left alone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from brightline.banks import BankService, EntryInput
from brightline.matching import Match
from brightline.records import RecordService
from brightline.records.types import ScanMetadata, ScanRecord
from brightline.review.intake import RESUME_AFTER, Intake
from brightline.service.wiring import build_intake
from brightline.settings import Settings
from brightline.signals.hashing import MediaHashes
from brightline.store.db import Database
from brightline.store.models import scan_records_table, utcnow
from brightline.store.models_actions import (
    enforcements_table,
    evidence_table,
    user_notices_table,
    webhook_deliveries_table,
)
from brightline.store.models_cases import cases_table

RULES = """
[[rules]]
name = "everything"
domains = ["csam"]
actions = ["block", "review", "webhook", "notify_user"]
webhook_url = "https://platform.test/hooks"
"""
MEDIA = b"the matched upload"


@dataclass
class Setup:
    db: Database
    records: RecordService
    intake: Intake
    match: Match


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    url = f"sqlite:///{tmp_path / 'bl.db'}"
    settings = Settings(database_url=url, data_dir=tmp_path / "data", rules_file=rules)
    db = Database(url)
    db.upgrade()
    banks = BankService(db)
    banks.create_bank("known", domain="csam")
    banks.add_entries("known", [EntryInput("md5", "a" * 32)])
    entry = banks.list_entries("known")[0]
    match = Match(bank="known", entry_id=entry.id, signal_type="md5", distance=0)
    yield Setup(db, RecordService(db), build_intake(db, settings, banks), match)
    db.dispose()


def _record(s: Setup) -> ScanRecord:
    record = s.records.record_scan(
        api_key_id=None,
        idempotency_key="retry-me",
        metadata=ScanMetadata(content_id="c1", account_id="u1"),
        hashes=MediaHashes(md5="a" * 32, sha256="b" * 64, pdq="c" * 64, quality=90),
        content_type="image",
        matches=[s.match],
    )
    assert record is not None
    return record


def _age(s: Setup, record: ScanRecord, by: timedelta) -> None:
    with s.db.write_connection() as conn:
        conn.execute(
            sa.update(scan_records_table).where(scan_records_table.c.id == record.id).values(created_at=utcnow() - by)
        )


def _counts(s: Setup) -> dict[str, int]:
    tables = {
        "evidence": evidence_table,
        "cases": cases_table,
        "enforcements": enforcements_table,
        "notices": user_notices_table,
        "webhooks": webhook_deliveries_table,
    }
    with s.db.engine.connect() as conn:
        counts = {
            name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for name, t in tables.items()
        }
        done = conn.execute(sa.select(scan_records_table.c.intake_at)).scalar_one()
    return counts | {"finished": int(done is not None)}


ALL_ONCE = {"evidence": 1, "cases": 1, "enforcements": 1, "notices": 1, "webhooks": 1, "finished": 1}


def test_a_finished_intake_is_replayed_not_redone(setup: Setup) -> None:
    first = setup.intake.process(_record(setup), [setup.match], media=MEDIA, media_type="image", actor="t")
    assert first.case_id is not None and first.block and first.webhooks == 1
    assert _counts(setup) == ALL_ONCE
    _age(setup, first_record := _record(setup), RESUME_AFTER * 2)
    again = setup.intake.process(first_record, [setup.match], media=MEDIA, media_type="image", actor="t")
    assert first_record.replayed and again.case_id == first.case_id and again.block
    assert _counts(setup) == ALL_ONCE


@pytest.mark.parametrize("failing", ["_open_case", "_send_webhooks", "_finished"])
def test_an_interrupted_intake_is_finished_by_a_later_replay(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    record = _record(setup)
    with monkeypatch.context() as patch:

        def crash(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the worker died here")

        patch.setattr(setup.intake, failing, crash)
        with pytest.raises(RuntimeError):
            setup.intake.process(record, [setup.match], media=MEDIA, media_type="image", actor="t")
    assert _counts(setup)["finished"] == 0
    replay = _record(setup)
    assert not setup.intake.interrupted(replay)  # too recent: perhaps still running elsewhere
    setup.intake.process(replay, [setup.match], media=MEDIA, media_type="image", actor="t")
    assert _counts(setup)["finished"] == 0 and _counts(setup)["cases"] <= 1

    _age(setup, replay, RESUME_AFTER * 2)
    assert setup.intake.interrupted(replay)
    # The retry's own matches may differ (a bank changed): the record's match events decide.
    result = setup.intake.process(replay, [], media=MEDIA, media_type="image", actor="t")
    assert result.case_id is not None and result.block and result.evidence_id is not None
    assert _counts(setup) == ALL_ONCE  # every step once, whichever had already run
    assert not setup.intake.interrupted(replay)
