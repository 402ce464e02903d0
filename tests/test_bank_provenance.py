"""Hash-list provenance: bank digests, bank.* audit records, vouching sources, the two-source policy, feedback."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import sqlalchemy as sa

from brightline.actions.rules import DomainPolicy, Rule, RuleEngine
from brightline.banks import BankService, EntryInput
from brightline.banks.digest import EMPTY, compute, delta_of, fold, leaf
from brightline.banks.feedback import false_positive_feedback, render_feedback
from brightline.banks.provenance import ProvenanceService
from brightline.banks.transfer import export_bank_file, import_bank_file
from brightline.matching import Match
from brightline.review.intake import Intake
from brightline.review.types import CaseHit
from brightline.store import Database
from brightline.store.audit import AuditLog
from brightline.store.models import utcnow
from brightline.store.models_cases import cases_table


def _pdq(i: int) -> str:
    return f"{i:064x}"


def _add(banks: BankService, bank: str, values: list[str], source: str = "") -> None:
    banks.add_entries(bank, [EntryInput("pdq", v, source=source) for v in values])


def _recomputed(db: Database, banks: BankService, bank: str) -> tuple[str, int]:
    with db.engine.connect() as conn:
        full = compute(conn, banks.get_bank(bank).id).digest
    return full.digest, full.entries


# --- the digest -----------------------------------------------------------------------------


def test_digest_is_order_independent_and_matches_a_plain_sum() -> None:
    pairs = [("pdq", _pdq(i)) for i in range(50)]
    shuffled = pairs[:]
    random.Random(7).shuffle(shuffled)
    assert delta_of(pairs) == delta_of(shuffled)
    expected = sum(int.from_bytes(leaf(t, v), "big") for t, v in pairs) % (1 << 256)
    assert delta_of(pairs).total == expected
    assert fold(b"".join(leaf(t, v) for t, v in pairs)) == expected
    assert delta_of(pairs[:49]) != delta_of(pairs)


def test_digest_changes_with_every_change_and_equals_the_recompute(db: Database) -> None:
    banks = BankService(db)
    banks.create_bank("list")
    assert banks.digest("list") == EMPTY
    seen = {banks.digest("list").digest}
    _add(banks, "list", [_pdq(i) for i in range(1, 6)])
    seen.add(banks.digest("list").digest)
    ids = [e.id for e in banks.list_entries("list")]
    banks.set_entries_enabled("list", ids[:2], False)
    seen.add(banks.digest("list").digest)
    assert banks.digest("list").entries == 3
    banks.set_entries_enabled("list", ids[:1], True)
    seen.add(banks.digest("list").digest)
    banks.remove_entries("list", ids[2:3])
    seen.add(banks.digest("list").digest)
    assert len(seen) == 5  # every change gave a new digest
    assert (banks.digest("list").digest, banks.digest("list").entries) == _recomputed(db, banks, "list")
    # Back to the same contents, back to the same digest: it depends on contents only.
    banks.set_entries_enabled("list", ids[1:2], True)
    banks.remove_entries("list", [ids[0], ids[1]])
    fresh = BankService(db)
    fresh.create_bank("other")
    _add(fresh, "other", [_pdq(i) for i in (4, 5)])
    assert banks.digest("list") == fresh.digest("other")


def test_digest_survives_a_random_sequence_of_operations(db: Database) -> None:
    banks = BankService(db)
    banks.create_bank("churn")
    rng = random.Random(11)
    for _ in range(25):
        ids = [e.id for e in banks.list_entries("churn", limit=10_000)]
        op = rng.choice(["add", "add", "remove", "disable", "enable"])
        if op == "add" or not ids:
            _add(banks, "churn", [_pdq(rng.randrange(1, 60)) for _ in range(rng.randrange(1, 8))])
        elif op == "remove":
            banks.remove_entries("churn", rng.sample(ids, rng.randrange(1, min(4, len(ids)) + 1)))
        else:
            banks.set_entries_enabled("churn", rng.sample(ids, rng.randrange(1, len(ids) + 1)), op == "enable")
    stored = banks.digest("churn")
    assert (stored.digest, stored.entries) == _recomputed(db, banks, "churn")
    _, full = banks.verify_digest("churn")
    assert full.digest == stored and full.sorted_digest is not None


def test_bulk_import_digest_equals_the_recompute(db: Database, tmp_path: Path) -> None:
    banks = BankService(db)
    banks.create_bank("bulk")
    codes = np.unique(np.random.default_rng(3).integers(0, 256, size=(12_000, 32), dtype=np.uint8), axis=0)
    path = tmp_path / "list.txt"
    path.write_text("".join(row.tobytes().hex() + "\n" for row in codes))
    import_bank_file(banks, "bulk", path, source="partner-x", actor="cli")
    import_bank_file(banks, "bulk", path, source="partner-x", actor="cli")  # nothing new
    stored = banks.digest("bulk")
    assert stored.entries == len(codes)
    assert (stored.digest, stored.entries) == _recomputed(db, banks, "bulk")
    imports = AuditLog(db).records(action="bank.imported")
    assert [r.details["count"] for r in imports] == [len(codes), 0]
    assert imports[0].actor == "cli" and imports[0].details["source"] == "partner-x"
    assert imports[0].details["format"] == "hex" and imports[0].details["digest"] == stored.digest


# --- bank.* audit records -----------------------------------------------------------------


def test_every_bank_change_is_audited_with_the_digest_after_it(db: Database, tmp_path: Path) -> None:
    banks = BankService(db)
    banks.create_bank("audited", domain="csam", actor="cli")
    _add(banks, "audited", [_pdq(1), _pdq(2)], source="ncmec")
    ids = [e.id for e in banks.list_entries("audited")]
    banks.set_entries_enabled("audited", ids[:1], False, actor="api_key:3")
    banks.set_entries_enabled("audited", ids[:1], False)  # no change: no record
    banks.set_entries_enabled("audited", ids[:1], True)
    banks.update_bank("audited", description="known list")
    banks.rename_bank("audited", "renamed")
    banks.remove_entries("renamed", ids[1:])
    export_bank_file(banks, "renamed", tmp_path / "out.csv", actor="cli")
    banks.delete_bank("renamed")
    records = AuditLog(db).records(action="bank.*")
    assert [r.action for r in records] == [
        "bank.created",
        "bank.entries_added",
        "bank.entries_disabled",
        "bank.entries_enabled",
        "bank.updated",
        "bank.renamed",
        "bank.entries_removed",
        "bank.exported",
        "bank.deleted",
    ]
    created, added, disabled, _, updated, renamed, removed, exported, deleted = records
    assert created.actor == "cli" and created.details == {"bank": "audited", "domain": "csam", **EMPTY.as_details()}
    assert added.details["count"] == 2 and added.details["source"] == "ncmec" and added.details["entries"] == 2
    assert disabled.actor == "api_key:3" and disabled.details["entry_ids"] == ids[:1]
    assert disabled.details["entries"] == 1 and disabled.details["digest"] != added.details["digest"]
    assert updated.details["changes"] == {"description": "known list"}
    assert renamed.subject == "bank:renamed" and renamed.details["old"] == "audited"
    assert removed.details["entries"] == 1
    assert exported.details["format"] == "csv" and exported.details["entries"] == 1 and exported.actor == "cli"
    assert deleted.details == {"bank": "renamed", "entries": 1}


def test_a_failed_change_leaves_no_record(db: Database) -> None:
    banks = BankService(db)
    banks.create_bank("strict")
    with pytest.raises(Exception, match="no entries with ids"):
        banks.remove_entries("strict", [999])
    assert AuditLog(db).count(action="bank.entries_removed") == 0


# --- vouching sources -----------------------------------------------------------------------


def test_vouchers_count_independent_active_sources(db: Database) -> None:
    banks = BankService(db)
    provenance = ProvenanceService(db)
    for name in ("a", "b", "c", "off"):
        banks.create_bank(name)
    _add(banks, "a", [_pdq(1), _pdq(2), _pdq(3)], source="NCMEC")
    _add(banks, "b", [_pdq(1)], source="partner-x")  # same hash, another owner
    _add(banks, "c", [_pdq(2)], source="ncmec ")  # same owner's list in another bank
    _add(banks, "off", [_pdq(3)], source="partner-y")
    banks.update_bank("off", enabled=False)  # a disabled bank vouches for nothing
    one, two, three = (banks.find_entries_by_value("pdq", _pdq(i))[0].id for i in (1, 2, 3))
    assert provenance.vouchers([one, two, three, 999]) == {one: 2, two: 1, three: 1, 999: 1}
    provenance.vouch(three, source="StopNCII", remote_id="r-3", tags=["ncii"])
    assert provenance.vouchers([three])[three] == 2
    provenance.vouch(three, source="stopncii")  # the same source again: still two
    assert provenance.vouchers([three])[three] == 2
    provenance.withdraw(three, source="stopncii")
    assert provenance.vouchers([three])[three] == 1
    # The implicit source withdraws too: a withdrawn row now speaks for it.
    assert provenance.withdraw(one, source="ncmec")
    assert provenance.vouchers([one])[one] == 1
    sources = {s.source: s for s in provenance.sources_of(three)}
    assert set(sources) == {"ncmec", "stopncii"} and not sources["stopncii"].active
    assert sources["stopncii"].remote_id == "r-3" and not sources["ncmec"].recorded


def test_deleting_an_entry_deletes_its_sources(db: Database) -> None:
    banks = BankService(db)
    provenance = ProvenanceService(db)
    banks.create_bank("gone")
    _add(banks, "gone", [_pdq(1)])
    entry = banks.list_entries("gone")[0].id
    provenance.vouch(entry, source="manual")
    banks.remove_entries("gone", [entry])
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM entry_sources")).scalar_one() == 0


# --- the two-source policy -------------------------------------------------------------------


def _hit(vouchers: int, domain: str = "csam") -> CaseHit:
    return CaseHit(bank="k", domain=domain, category="", signal_type="pdq", entry_id=1, distance=0, vouchers=vouchers)


def test_two_source_policy_holds_blocks_and_notices_for_review() -> None:
    rules = [Rule(name="r", actions=("block", "notify_user", "quarantine"))]
    strict = RuleEngine(rules, min_independent_sources=2)
    held = strict.evaluate([_hit(1)], account_matches=1)
    assert not held.block and held.review and held.quarantine and held.notice is None
    assert "block held for review: entry vouched by 1 of 2 required sources" in held.withheld
    assert "notify_user held for review: entry vouched by 1 of 2 required sources" in held.withheld
    passed = strict.evaluate([_hit(1), _hit(2)], account_matches=1)
    assert passed.block and passed.notice is not None and passed.withheld == ()
    # Default policy: one source is enough, as before.
    assert RuleEngine(rules).evaluate([_hit(1)], account_matches=1).block
    # Two sources on an unverified domain still do not block.
    unverified = RuleEngine(rules, {"other": DomainPolicy("other", verified=False)}, min_independent_sources=2)
    assert not unverified.evaluate([_hit(5, "other")], account_matches=1).block


def test_intake_fills_vouchers_and_the_policy_acts_on_them(db: Database) -> None:
    banks = BankService(db)
    for name in ("ours", "theirs"):
        banks.create_bank(name, domain="csam")
    _add(banks, "ours", [_pdq(1), _pdq(2)], source="ncmec")
    _add(banks, "theirs", [_pdq(1)], source="partner-x")
    double, single = (
        next(e for e in banks.find_entries_by_value("pdq", _pdq(i)) if e.bank_name == "ours") for i in (1, 2)
    )
    unused = cast(Any, None)
    intake = Intake(
        db,
        banks=banks,
        rules=unused,
        queue=unused,
        evidence=unused,
        notices=unused,
        enforcement=unused,
        webhooks=unused,
    )
    hits = intake.hits([Match("ours", double.id, "pdq", 0), Match("ours", single.id, "pdq", 3)])
    assert [h.vouchers for h in hits] == [2, 1]
    engine = RuleEngine([Rule(name="r", actions=("block",))], min_independent_sources=2)
    assert engine.evaluate(hits[:1], account_matches=1).block
    assert not engine.evaluate(hits[1:], account_matches=1).block


# --- false-positive feedback ------------------------------------------------------------------


def _case(db: Database, entry_id: int, status: str, decided: datetime, **extra: Any) -> int:
    with db.write_connection() as conn:
        return int(
            conn.execute(
                sa.insert(cases_table)
                .values(
                    entry_id=entry_id,
                    status=status,
                    decided_at=decided,
                    created_at=decided,
                    updated_at=decided,
                    **extra,
                )
                .returning(cases_table.c.id)
            ).scalar_one()
        )


def test_feedback_lists_the_sources_false_positives_with_counts_and_times(db: Database) -> None:
    banks = BankService(db)
    provenance = ProvenanceService(db)
    banks.create_bank("fp")
    _add(banks, "fp", [_pdq(1), _pdq(2), _pdq(3)], source="partner-x")
    one, two, three = (e.id for e in banks.list_entries("fp"))
    provenance.vouch(two, source="ncmec", remote_id="N-2")
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    original = _case(db, one, "false_positive", t0)
    _case(db, one, "appeal_upheld", t0 + timedelta(days=2), kind="appeal", appeal_of=original)  # the same decision
    _case(db, one, "false_positive", t0 + timedelta(days=5))
    _case(db, two, "false_positive", t0 + timedelta(days=1))
    _case(db, three, "confirmed", t0)
    partner = false_positive_feedback(db, "Partner-X")
    assert [(i.entry_id, i.false_positives) for i in partner] == [(one, 2), (two, 1)]
    assert partner[0].first_at == t0 and partner[0].last_at == t0 + timedelta(days=5)
    ncmec = false_positive_feedback(db, "ncmec")
    assert [(i.entry_id, i.remote_id, i.value) for i in ncmec] == [(two, "N-2", _pdq(2))]
    assert false_positive_feedback(db, "partner-x", since=t0 + timedelta(days=3))[0].false_positives == 1
    csv_text = render_feedback(partner, "csv").splitlines()
    assert csv_text[0].startswith("entry_id,bank,signal_type,value") and len(csv_text) == 3
    assert utcnow() > t0
