"""The bank service: banks, entries and the revision feed, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from brightline.banks import BankService, EntryInput, EntryRow
from brightline.errors import (
    BankExistsError,
    BankNotFoundError,
    EntryNotFoundError,
    InvalidSignalValueError,
    UnknownSignalTypeError,
    ValidationError,
)
from brightline.store import Database

PDQ_A = "f" * 64
PDQ_B = "0" * 64
PDQ_C = "a5" * 32
MD5_A = "d41d8cd98f00b204e9800998ecf8427e"


@pytest.fixture
def service(database_url: str) -> Iterator[BankService]:
    db = Database(database_url)
    db.upgrade()
    try:
        yield BankService(db)
    finally:
        db.dispose()


def _values(service: BankService, bank: str) -> list[str]:
    return [e.value for e in service.list_entries(bank, limit=1000)]


# --- banks --------------------------------------------------------------------------------


def test_create_and_get_bank(service: BankService) -> None:
    info = service.create_bank("Known-Bad.v1", domain="CSAM", threshold=20, description="test list")
    assert (info.name, info.domain, info.threshold, info.description) == ("Known-Bad.v1", "csam", 20, "test list")
    assert info.enabled
    assert info.entry_count == 0
    assert info.enabled_count == 0
    assert info.created_at.tzinfo is not None
    assert service.get_bank("Known-Bad.v1") == info
    assert service.get_bank("known-bad.V1") == info  # lookups ignore case


def test_create_bank_defaults(service: BankService) -> None:
    info = service.create_bank("plain")
    assert (info.domain, info.threshold, info.description, info.enabled) == ("other", None, "", True)


def test_duplicate_bank_names_are_refused_ignoring_case(service: BankService) -> None:
    service.create_bank("dupe")
    with pytest.raises(BankExistsError):
        service.create_bank("dupe")
    with pytest.raises(BankExistsError):
        service.create_bank("DUPE")


@pytest.mark.parametrize("name", ["", "has space", "slash/name", "x" * 65, "-leading-dash", ".hidden", "ünï"])
def test_invalid_bank_names_are_refused(service: BankService, name: str) -> None:
    with pytest.raises(ValidationError):
        service.create_bank(name)


@pytest.mark.parametrize("threshold", [-1, 129, True])
def test_threshold_out_of_range_is_refused(service: BankService, threshold: int) -> None:
    with pytest.raises(ValidationError):
        service.create_bank("b", threshold=threshold)


@pytest.mark.parametrize("domain", ["", "has space", "x" * 40])
def test_bad_domains_are_refused(service: BankService, domain: str) -> None:
    with pytest.raises(ValidationError):
        service.create_bank("b", domain=domain)


def test_list_banks_counts_entries(service: BankService) -> None:
    service.create_bank("b2")
    service.create_bank("a1")
    service.add_entries("b2", [EntryInput("pdq", PDQ_A), EntryInput("pdq", PDQ_B, enabled=False)])
    banks = service.list_banks()
    assert [b.name for b in banks] == ["a1", "b2"]
    assert [(b.entry_count, b.enabled_count) for b in banks] == [(0, 0), (2, 1)]


def test_get_missing_bank(service: BankService) -> None:
    with pytest.raises(BankNotFoundError):
        service.get_bank("nope")


def test_rename_bank(service: BankService) -> None:
    service.create_bank("old")
    service.add_entries("old", [EntryInput("pdq", PDQ_A)])
    info = service.rename_bank("old", "new")
    assert info.name == "new"
    assert info.entry_count == 1
    with pytest.raises(BankNotFoundError):
        service.get_bank("old")
    assert service.rename_bank("new", "NEW").name == "NEW"  # a change of case only


def test_rename_onto_an_existing_name_is_refused(service: BankService) -> None:
    service.create_bank("one")
    service.create_bank("two")
    with pytest.raises(BankExistsError):
        service.rename_bank("one", "Two")
    with pytest.raises(ValidationError):
        service.rename_bank("one", "bad name")
    with pytest.raises(BankNotFoundError):
        service.rename_bank("missing", "three")


def test_update_bank_changes_only_what_is_given(service: BankService) -> None:
    service.create_bank("b", domain="ncii", threshold=10, description="d")
    info = service.update_bank("b", threshold=None)
    assert (info.threshold, info.domain, info.description) == (None, "ncii", "d")
    info = service.update_bank("b", domain="csam", description="new", enabled=False)
    assert (info.threshold, info.domain, info.description, info.enabled) == (None, "csam", "new", False)
    with pytest.raises(ValidationError):
        service.update_bank("b", threshold=500)
    with pytest.raises(BankNotFoundError):
        service.update_bank("missing", enabled=True)


def test_delete_bank_removes_its_entries(service: BankService) -> None:
    service.create_bank("doomed")
    service.create_bank("kept")
    service.add_entries("doomed", [EntryInput("pdq", PDQ_A), EntryInput("md5", MD5_A)])
    service.add_entries("kept", [EntryInput("pdq", PDQ_A)])
    assert service.delete_bank("doomed") == 2
    assert [b.name for b in service.list_banks()] == ["kept"]
    assert [e.bank_name for e in service.find_entries_by_value("pdq", PDQ_A)] == ["kept"]
    with pytest.raises(BankNotFoundError):
        service.delete_bank("doomed")


# --- entries ------------------------------------------------------------------------------


def test_add_entries_validates_and_canonicalises(service: BankService) -> None:
    service.create_bank("b", domain="csam")
    result = service.add_entries(
        "b",
        [
            EntryInput("PDQ", "  " + PDQ_C.upper() + " ", source=" feed ", category="b2", note="n"),
            EntryInput("md5", MD5_A, category="Adult content", domain="NCII", enabled=False),
        ],
    )
    assert (result.added, result.unchanged) == (2, 0)
    pdq, md5 = service.list_entries("b")
    assert (pdq.signal_type, pdq.value, pdq.source, pdq.category, pdq.domain, pdq.note) == (
        "pdq",
        PDQ_C,
        "feed",
        "B2",
        "csam",
        "n",
    )
    assert (md5.category, md5.domain, md5.enabled) == ("Adult content", "ncii", False)
    assert pdq.added_at.tzinfo is not None


def test_readding_is_idempotent(service: BankService) -> None:
    service.create_bank("b")
    assert service.add_entries("b", [EntryInput("pdq", PDQ_A), EntryInput("pdq", PDQ_A)]).added == 1
    result = service.add_entries("b", [EntryInput("pdq", PDQ_A.upper()), EntryInput("pdq", PDQ_B)])
    assert (result.added, result.unchanged) == (1, 1)
    assert sorted(_values(service, "b")) == sorted([PDQ_A, PDQ_B])


def test_same_value_may_live_in_two_banks(service: BankService) -> None:
    service.create_bank("x")
    service.create_bank("y")
    service.add_entries("x", [EntryInput("pdq", PDQ_A)])
    service.add_entries("y", [EntryInput("pdq", PDQ_A)])
    assert sorted(e.bank_name for e in service.find_entries_by_value("pdq", PDQ_A.upper())) == ["x", "y"]


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        (EntryInput("pdq", "f" * 63), InvalidSignalValueError),
        (EntryInput("pdq", "g" * 64), InvalidSignalValueError),
        (EntryInput("md5", PDQ_A), InvalidSignalValueError),
        (EntryInput("nosuchhash", PDQ_A), UnknownSignalTypeError),
        (EntryInput("pdq", PDQ_A, category="c" * 65), ValidationError),
        (EntryInput("pdq", PDQ_A, domain="not a domain"), ValidationError),
    ],
)
def test_one_bad_entry_adds_nothing(service: BankService, entry: EntryInput, error: type[Exception]) -> None:
    service.create_bank("b")
    revision = service.current_revision()
    with pytest.raises(error):
        service.add_entries("b", [EntryInput("pdq", PDQ_B), entry, EntryInput("pdq", PDQ_C)])
    assert _values(service, "b") == []
    assert service.current_revision() == revision


def test_add_to_missing_bank(service: BankService) -> None:
    with pytest.raises(BankNotFoundError):
        service.add_entries("nope", [EntryInput("pdq", PDQ_A)])


def test_remove_entries(service: BankService) -> None:
    service.create_bank("b")
    service.add_entries("b", [EntryInput("pdq", v) for v in (PDQ_A, PDQ_B, PDQ_C)])
    a, b, c = service.list_entries("b")
    assert service.remove_entries("b", [a.id, c.id, a.id]) == 2
    assert _values(service, "b") == [PDQ_B]
    with pytest.raises(EntryNotFoundError):
        service.get_entry(a.id)
    assert service.get_entry(b.id).value == PDQ_B


def test_remove_with_an_unknown_id_removes_nothing(service: BankService) -> None:
    service.create_bank("b")
    service.create_bank("other")
    service.add_entries("b", [EntryInput("pdq", PDQ_A)])
    service.add_entries("other", [EntryInput("pdq", PDQ_B)])
    mine = service.list_entries("b")[0].id
    theirs = service.list_entries("other")[0].id
    with pytest.raises(EntryNotFoundError, match=str(theirs)):
        service.remove_entries("b", [mine, theirs])
    assert _values(service, "b") == [PDQ_A]
    assert _values(service, "other") == [PDQ_B]


def test_disable_and_enable_entries(service: BankService) -> None:
    service.create_bank("b")
    service.add_entries("b", [EntryInput("pdq", PDQ_A), EntryInput("pdq", PDQ_B)])
    a, b = service.list_entries("b")
    assert service.set_entries_enabled("b", [a.id], False) == 1
    assert service.set_entries_enabled("b", [a.id, b.id], False) == 1  # only b changed
    assert [e.enabled for e in service.list_entries("b")] == [False, False]
    assert service.get_bank("b").enabled_count == 0
    assert service.set_entries_enabled("b", [a.id], True) == 1
    assert service.get_entry(a.id).enabled
    with pytest.raises(EntryNotFoundError):
        service.set_entries_enabled("b", [999_999], True)


def test_list_entries_pages(service: BankService) -> None:
    service.create_bank("b")
    service.add_entries("b", [EntryInput("md5", f"{i:032x}") for i in range(25)])
    pages = [service.list_entries("b", limit=10, offset=o) for o in (0, 10, 20)]
    assert [len(p) for p in pages] == [10, 10, 5]
    ids = [e.id for p in pages for e in p]
    assert ids == sorted(ids)
    assert len(set(ids)) == 25
    with pytest.raises(ValidationError):
        service.list_entries("b", limit=0)


def test_get_entry_missing(service: BankService) -> None:
    with pytest.raises(EntryNotFoundError):
        service.get_entry(12345)


def test_find_entries_by_value_validates(service: BankService) -> None:
    with pytest.raises(InvalidSignalValueError):
        service.find_entries_by_value("pdq", "xyz")
    assert service.find_entries_by_value("pdq", PDQ_A) == []


# --- revisions and change sets ------------------------------------------------------------


def _row(service: BankService, bank: str, value: str) -> EntryRow:
    matches = [r for r in service.changes_since(0).upserts if r.bank_name == bank and r.value == value]
    assert len(matches) == 1
    return matches[0]


def test_empty_store_is_at_revision_zero(service: BankService) -> None:
    assert service.current_revision() == 0
    changes = service.changes_since(0)
    assert (changes.upserts, changes.removed_ids, changes.revision, changes.full) == ([], [], 0, True)


def test_full_build_returns_every_entry(service: BankService) -> None:
    service.create_bank("b", threshold=12)
    service.add_entries("b", [EntryInput("pdq", PDQ_A), EntryInput("md5", MD5_A, enabled=False)])
    changes = service.changes_since(0)
    assert changes.full
    assert changes.revision == service.current_revision() > 0
    assert [(r.signal_type, r.value, r.enabled, r.threshold, r.bank_name) for r in changes.upserts] == [
        ("pdq", PDQ_A, True, 12, "b"),
        ("md5", MD5_A, False, 12, "b"),
    ]


def test_add_is_an_upsert(service: BankService) -> None:
    service.create_bank("b")
    service.add_entries("b", [EntryInput("pdq", PDQ_B)])
    start = service.current_revision()
    service.add_entries("b", [EntryInput("pdq", PDQ_A)])
    changes = service.changes_since(start)
    assert not changes.full
    assert [r.value for r in changes.upserts] == [PDQ_A]
    assert changes.removed_ids == []
    assert changes.revision == service.current_revision() == start + 1
    assert service.changes_since(changes.revision).upserts == []


def test_readding_changes_nothing(service: BankService) -> None:
    service.create_bank("b")
    service.add_entries("b", [EntryInput("pdq", PDQ_A)])
    start = service.current_revision()
    service.add_entries("b", [EntryInput("pdq", PDQ_A)])
    assert service.changes_since(start).upserts == []


def test_disable_is_an_upsert_with_enabled_false(service: BankService) -> None:
    service.create_bank("b")
    service.add_entries("b", [EntryInput("pdq", PDQ_A), EntryInput("pdq", PDQ_B)])
    entry = _row(service, "b", PDQ_A)
    start = service.current_revision()
    service.set_entries_enabled("b", [entry.id], False)
    changes = service.changes_since(start)
    assert [(r.id, r.enabled) for r in changes.upserts] == [(entry.id, False)]


def test_remove_gives_removed_ids(service: BankService) -> None:
    service.create_bank("b")
    service.add_entries("b", [EntryInput("pdq", PDQ_A), EntryInput("pdq", PDQ_B)])
    entry = _row(service, "b", PDQ_A)
    start = service.current_revision()
    service.remove_entries("b", [entry.id])
    changes = service.changes_since(start)
    assert changes.upserts == []
    assert changes.removed_ids == [entry.id]


def test_bank_delete_gives_removed_ids_of_its_entries(service: BankService) -> None:
    service.create_bank("doomed")
    service.create_bank("kept")
    service.add_entries("doomed", [EntryInput("pdq", PDQ_A), EntryInput("md5", MD5_A)])
    service.add_entries("kept", [EntryInput("pdq", PDQ_B)])
    doomed_ids = sorted(r.id for r in service.changes_since(0).upserts if r.bank_name == "doomed")
    start = service.current_revision()
    service.delete_bank("doomed")
    changes = service.changes_since(start)
    assert changes.removed_ids == doomed_ids
    assert changes.upserts == []


def test_bank_disable_and_enable_are_upserts(service: BankService) -> None:
    service.create_bank("b")
    service.create_bank("quiet")
    service.add_entries("b", [EntryInput("pdq", PDQ_A), EntryInput("pdq", PDQ_B, enabled=False)])
    service.add_entries("quiet", [EntryInput("pdq", PDQ_C)])
    start = service.current_revision()
    service.update_bank("b", enabled=False)
    changes = service.changes_since(start)
    assert [(r.value, r.enabled) for r in changes.upserts] == [(PDQ_A, False), (PDQ_B, False)]
    middle = changes.revision
    service.update_bank("b", enabled=True)
    assert [(r.value, r.enabled) for r in service.changes_since(middle).upserts] == [(PDQ_A, True), (PDQ_B, False)]


def test_threshold_and_rename_are_upserts(service: BankService) -> None:
    service.create_bank("b")
    service.add_entries("b", [EntryInput("pdq", PDQ_A)])
    start = service.current_revision()
    service.update_bank("b", threshold=7)
    assert [(r.value, r.threshold) for r in service.changes_since(start).upserts] == [(PDQ_A, 7)]
    start = service.current_revision()
    service.rename_bank("b", "renamed")
    assert [r.bank_name for r in service.changes_since(start).upserts] == ["renamed"]


def test_description_change_needs_no_sync(service: BankService) -> None:
    service.create_bank("b")
    service.add_entries("b", [EntryInput("pdq", PDQ_A)])
    start = service.current_revision()
    service.update_bank("b", description="words", domain="ncii")
    assert service.current_revision() == start
    assert service.changes_since(start).upserts == []


def test_change_sets_combine_bank_and_entry_changes(service: BankService) -> None:
    service.create_bank("b")
    service.create_bank("c")
    service.add_entries("b", [EntryInput("pdq", PDQ_A)])
    start = service.current_revision()
    service.add_entries("c", [EntryInput("pdq", PDQ_B)])
    service.update_bank("b", threshold=3)
    changes = service.changes_since(start)
    assert [(r.bank_name, r.value, r.threshold) for r in changes.upserts] == [("b", PDQ_A, 3), ("c", PDQ_B, None)]


def test_ids_are_not_reused_after_removal(service: BankService) -> None:
    service.create_bank("b")
    service.add_entries("b", [EntryInput("pdq", PDQ_A)])
    first = _row(service, "b", PDQ_A).id
    start = service.current_revision()
    service.remove_entries("b", [first])
    service.add_entries("b", [EntryInput("pdq", PDQ_A)])
    changes = service.changes_since(start)
    assert changes.removed_ids == [first]
    assert [r.id for r in changes.upserts] != [first]
    assert not set(changes.removed_ids) & {r.id for r in changes.upserts}


def test_revision_ahead_of_the_store_forces_a_full_build(service: BankService) -> None:
    service.create_bank("b")
    service.add_entries("b", [EntryInput("pdq", PDQ_A)])
    changes = service.changes_since(service.current_revision() + 100)
    assert changes.full
    assert [r.value for r in changes.upserts] == [PDQ_A]


def test_pruned_tombstones_force_a_full_build_for_old_readers(service: BankService) -> None:
    service.create_bank("b")
    service.add_entries("b", [EntryInput("pdq", PDQ_A), EntryInput("pdq", PDQ_B)])
    old = service.current_revision()
    service.remove_entries("b", [_row(service, "b", PDQ_A).id])
    recent = service.current_revision()
    assert service.prune_tombstones(recent) == 1
    assert service.changes_since(old).full
    assert not service.changes_since(recent).full
    with pytest.raises(ValidationError):
        service.prune_tombstones(recent + 1)


@pytest.mark.parametrize("revision", [-1, True, "3"])
def test_bad_revisions_are_refused(service: BankService, revision: object) -> None:
    with pytest.raises(ValidationError):
        service.changes_since(revision)  # type: ignore[arg-type]


def test_concurrent_writers_get_distinct_revisions(service: BankService) -> None:
    for i in range(4):
        service.create_bank(f"bank{i}")
    start = service.current_revision()

    def work(i: int) -> None:
        for j in range(5):
            service.add_entries(f"bank{i}", [EntryInput("md5", f"{i:016x}{j:016x}")])

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, range(4)))
    assert service.current_revision() == start + 20
    stamps = [e.revision for i in range(4) for e in service.list_entries(f"bank{i}")]
    assert sorted(stamps) == list(range(start + 1, start + 21))
    assert len(service.changes_since(start).upserts) == 20


def test_long_values_are_unique_through_a_digest_key(database_url: str) -> None:
    """A whole video's vPDQ value is far longer than PostgreSQL lets an index row be."""
    from brightline.banks import BankService, EntryInput
    from brightline.store import Database

    db = Database(database_url)
    db.upgrade()
    service = BankService(db)
    service.create_bank("videos")
    frames = ";".join(f"{n},100,{n:064x},{n:.3f}" for n in range(600))  # ~50 kB, 10 min at 1 s
    first = service.add_entries("videos", [EntryInput("vpdq", frames)])
    again = service.add_entries("videos", [EntryInput("vpdq", frames)])
    assert (first.added, again.added, again.unchanged) == (1, 0, 1)
    (found,) = service.find_entries_by_value("vpdq", frames)
    assert found.value == frames
    db.dispose()
