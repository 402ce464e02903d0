"""Feedback write-back (queued on false positives, sent with retries, audited) and credentials sealed at rest."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sources_support import Script, entry, make_catalog, make_engine, md5, scripted

from brightline.actions.keys import LocalKeyProvider
from brightline.banks import BankService
from brightline.errors import SourceError, ValidationError
from brightline.review.types import CaseInfo, Decision
from brightline.sources.catalog import SourceCatalog
from brightline.sources.credentials import open_sealed, seal
from brightline.sources.feedback import FeedbackSender, SourceFeedback
from brightline.store.audit import AuditLog
from brightline.store.db import Database
from brightline.store.models_sources import sources_table

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _case(entry_id: int | None, *, kind: str = "match", appeal_of: int | None = None) -> CaseInfo:
    values: dict[str, Any] = dict.fromkeys(CaseInfo.__dataclass_fields__)
    values.update(
        id=7, kind=kind, status="false_positive", priority=1, bank_name="feed", list_domain="csam",
        entry_category="A1", signal_type="md5", entry_id=entry_id, exact=True, verified=False,
        report_on_confirm=False, rules=(), created_at=NOW, updated_at=NOW, media_viewed=False,
        appeal_of=appeal_of, note="",
    )  # fmt: skip
    return CaseInfo(**values)


def _decision(entry_id: int | None, decision: str = "false_positive", **kw: Any) -> Decision:
    return Decision(case=_case(entry_id, **kw), decision=decision, reviewer_id=1, reviewer="rev", note="not it")


@pytest.fixture
def setup(db: Database) -> tuple[SourceCatalog, Script, int]:
    banks = BankService(db)
    banks.create_bank("feed")
    catalog = make_catalog(db)
    script = scripted(catalog, "owner", "feed", Script())
    script.add(upserts=(entry(1), entry(2)))
    make_engine(catalog).sync("owner")
    entry_id = next(e.id for e in banks.list_entries("feed") if e.value == md5(1))
    return catalog, script, entry_id


def _actions(db: Database) -> list[str]:
    return [r.action for r in AuditLog(db).records(limit=10_000, action="source.*")]


def test_a_false_positive_is_queued_and_sent_to_the_source(db: Database, setup: tuple[Any, Script, int]) -> None:
    catalog, script, entry_id = setup
    SourceFeedback(catalog).on_decision(_decision(entry_id))
    SourceFeedback(catalog).on_decision(_decision(entry_id))  # told twice: queued once
    assert catalog.get("owner").feedback == {"pending": 1, "sent": 0, "failed": 0}
    report = FeedbackSender(catalog).deliver()
    assert report.sent == 1
    [sent] = script.sent
    assert (sent.remote_id, sent.value, sent.opinion, sent.note) == ("r-1", md5(1), "false_positive", "not it")
    assert catalog.get("owner").feedback["sent"] == 1
    assert {"source.feedback_queued", "source.feedback_sent"} <= set(_actions(db))


def test_confirmations_and_rejected_appeals_send_nothing(db: Database, setup: tuple[Any, Script, int]) -> None:
    catalog, _, entry_id = setup
    SourceFeedback(catalog).on_decision(_decision(entry_id, "confirm"))
    SourceFeedback(catalog).on_decision(_decision(entry_id, "reject", kind="appeal", appeal_of=3))
    assert catalog.get("owner").feedback["pending"] == 0


def test_an_upheld_appeal_is_feedback_too(db: Database, setup: tuple[Any, Script, int]) -> None:
    catalog, _, entry_id = setup
    SourceFeedback(catalog).on_decision(_decision(entry_id, "uphold", kind="appeal", appeal_of=3))
    assert catalog.get("owner").feedback["pending"] == 1


def test_failed_deliveries_are_retried_with_backoff_then_given_up(db: Database, setup: tuple[Any, Script, int]) -> None:
    catalog, script, entry_id = setup
    script.feedback_failures = 10
    SourceFeedback(catalog).on_decision(_decision(entry_id))
    sender = FeedbackSender(catalog, max_attempts=3, base_delay_s=60)
    now = datetime.now(UTC)
    assert sender.deliver(now=now).retried == 1
    assert sender.deliver(now=now + timedelta(seconds=30)).retried == 0  # not due yet
    assert sender.deliver(now=now + timedelta(seconds=61)).retried == 1
    assert sender.deliver(now=now + timedelta(seconds=61 + 121)).failed == 1
    assert catalog.get("owner").feedback == {"pending": 0, "sent": 0, "failed": 1}
    assert "source.feedback_failed" in _actions(db)
    script.feedback_failures = 0
    assert sender.retry_failed("owner") == 1
    assert sender.deliver().sent == 1


def test_sources_that_take_no_feedback_get_none(db: Database, tmp_path: Any) -> None:
    BankService(db).create_bank("feed")
    (tmp_path / "l.txt").write_text(md5(1) + "\n")
    catalog = make_catalog(db)
    catalog.add("drop", kind="file", bank="feed", options={"path": str(tmp_path / "l.txt"), "signal_type": "md5"})
    make_engine(catalog).sync("drop")
    entry_id = BankService(db).list_entries("feed")[0].id
    SourceFeedback(catalog).on_decision(_decision(entry_id))
    assert catalog.get("drop").feedback["pending"] == 0


# --- credentials -----------------------------------------------------------------------------


def test_credentials_are_sealed_and_never_shown(db: Database) -> None:
    BankService(db).create_bank("feed")
    catalog = make_catalog(db)
    url = {"url": "https://bl.example.org"}
    catalog.add("peer", kind="brightline", bank="feed", options=url, credentials={"token": "s3cret-token"})
    with db.engine.connect() as conn:
        stored = conn.execute(sa.select(sources_table)).mappings().one()
    assert "s3cret" not in repr(dict(stored))
    assert catalog.config("peer").credentials == {"token": "s3cret-token"}
    info = catalog.get("peer")
    assert info.has_credentials and "s3cret" not in repr(info.as_dict())
    assert all("s3cret" not in repr(r.details) for r in AuditLog(db).records(limit=1000))


def test_sealed_credentials_are_bound_to_their_source_and_key() -> None:
    keys = LocalKeyProvider(os.urandom(32))
    text, key_id = seal(keys, "a", {"token": "x"})
    assert open_sealed(keys, "a", text, key_id) == {"token": "x"}
    with pytest.raises(SourceError):
        open_sealed(keys, "b", text, key_id)  # copied to another source's row
    with pytest.raises(SourceError):
        open_sealed(LocalKeyProvider(os.urandom(32)), "a", text, key_id)


def test_a_source_must_be_given_the_credentials_its_kind_needs(db: Database) -> None:
    BankService(db).create_bank("feed")
    with pytest.raises(ValidationError, match="token"):
        make_catalog(db).add("peer", kind="brightline", bank="feed", options={"url": "https://bl.example.org"})
    with pytest.raises(ValidationError, match="unknown source kind"):
        make_catalog(db).add("x", kind="gopher", bank="feed")
