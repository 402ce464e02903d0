"""The snapshot feeds against their fakes: http_feed, file and brightline (peer), alone and through the engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sources_support import all_rows, bank_state, make_catalog, make_engine, md5, vouch_rows

from brightline.banks import BankService
from brightline.errors import SourceAuthError, SourceError, ValidationError
from brightline.sources.catalog import SourceCatalog
from brightline.sources.fakes.feeds import FakeFeed, FakePeer, export_line
from brightline.sources.files import FileSource
from brightline.sources.http_feed import HttpFeedSource
from brightline.sources.peer import PeerSource
from brightline.sources.snapshot import SnapshotCheckpoint
from brightline.sources.types import SourceBatch, SourceConfig
from brightline.store.db import Database

URL = "https://lists.example.org/list.csv"
COLUMNS = ("id", "signal_type", "value", "category", "tags")


def _rows(numbers: range | list[int]) -> list[dict[str, Any]]:
    return [{"id": f"p-{n}", "signal_type": "md5", "value": md5(n), "category": "A1", "tags": "a;b"} for n in numbers]


def _feed(numbers: range | list[int], **kw: Any) -> FakeFeed:
    fake = FakeFeed(**kw)
    fake.set_csv(_rows(numbers), COLUMNS)
    return fake


def _source(fake: FakeFeed, **options: Any) -> HttpFeedSource:
    config = SourceConfig("partner", "http_feed", "feed", {"url": URL, **options}, {"token": fake.token})
    source = HttpFeedSource.from_config(config, transport=httpx.MockTransport(fake.handle))
    source.sleep = lambda seconds: None
    return source


def _upserts(batches: list[SourceBatch]) -> list[str]:
    return [e.remote_id for b in batches for e in b.upserts]


# --- http_feed alone ----------------------------------------------------------------------------


def test_http_feed_reads_the_list_then_skips_it_on_304() -> None:
    fake = _feed(range(5), token="feed-token")
    source = _source(fake, batch_size=2)
    batches = list(source.fetch(None))
    assert sorted(_upserts(batches)) == [f"p-{n}" for n in range(5)]
    assert [b.snapshot_begin for b in batches] == [True, False, False] and batches[-1].snapshot_end
    assert batches[0].upserts[0].tags == ("a", "b")
    assert fake.requests[0].headers["Authorization"] == "Bearer feed-token"
    assert list(source.fetch(batches[-1].checkpoint)) == []
    assert fake.requests[-1].headers["If-None-Match"] == fake.etag
    assert "If-Modified-Since" in fake.requests[-1].headers


def test_http_feed_resumes_inside_a_snapshot_and_restarts_a_changed_one() -> None:
    fake = _feed(range(6))
    source = _source(fake, batch_size=2)
    first = next(iter(source.fetch(None)))
    resumed = list(source.fetch(first.checkpoint))
    assert "If-None-Match" not in fake.requests[-1].headers  # half a snapshot must be read again
    assert len(_upserts(resumed)) == 4 and not resumed[0].snapshot_begin
    fake.set_csv(_rows(range(3, 9)), COLUMNS)
    restarted = list(source.fetch(first.checkpoint))
    assert restarted[0].snapshot_begin and len(_upserts(restarted)) == 6


def test_http_feed_retries_429_with_retry_after_and_5xx() -> None:
    fake = _feed(range(2))
    fake.fail_next(429, retry_after="7")
    fake.fail_next(503)
    source = _source(fake)
    slept: list[float] = []
    source.sleep = slept.append
    assert len(_upserts(list(source.fetch(None)))) == 2
    assert slept[0] == 7.0 and len(slept) == 2


def test_http_feed_gives_up_after_repeated_failures_and_on_refused_tokens() -> None:
    fake = _feed(range(2), token="t")
    fake.fail_next(500, times=5)
    with pytest.raises(SourceError, match="5 attempts"):
        list(_source(fake).fetch(None))
    fake.expire_token()
    with pytest.raises(SourceAuthError):
        list(_source(fake).fetch(None))


def test_http_feed_counts_malformed_records() -> None:
    fake = FakeFeed(path="/list.jsonl")
    fake.set_body(b'{"id": "1", "type": "md5", "hash": "%s"}\nnot json\n[1]\n{"id": "3"}\n' % md5(1).encode())
    config = SourceConfig("p", "http_feed", "feed", {"url": "https://lists.example.org/list.jsonl"})
    [batch] = list(HttpFeedSource.from_config(config, transport=httpx.MockTransport(fake.handle)).fetch(None))
    assert _upserts([batch]) == ["1"] and batch.malformed == 3 and len(batch.problems) == 3


# --- through the engine -----------------------------------------------------------------------


@pytest.fixture
def banks(db: Database) -> BankService:
    service = BankService(db)
    service.create_bank("feed")
    return service


def _catalog(db: Database, fake: Any) -> SourceCatalog:
    return make_catalog(db, transport=httpx.MockTransport(fake.handle))


def test_http_feed_sync_withdraws_what_a_new_list_leaves_out(db: Database, banks: BankService) -> None:
    fake = _feed(range(6))
    catalog = _catalog(db, fake)
    catalog.add("partner", kind="http_feed", bank="feed", options={"url": URL, "batch_size": 2})
    engine = make_engine(catalog)
    assert engine.sync("partner").added == 6
    assert engine.sync("partner").batches == 0  # 304
    fake.set_csv(_rows([0, 1, 2, 3, 10]), COLUMNS)
    result = engine.sync("partner")
    assert (result.added, result.removed) == (1, 2)
    assert bank_state(db) == {("md5", md5(n), n in (0, 1, 2, 3, 10)) for n in (0, 1, 2, 3, 4, 5, 10)}


class _Crashing:
    """Wraps a source so its fetch dies after ``after`` batches (a killed process, in one test)."""

    def __init__(self, inner: Any, after: int) -> None:
        self._inner, self._after = inner, after

    def fetch(self, checkpoint: str | None) -> Iterator[SourceBatch]:
        for count, batch in enumerate(self._inner.fetch(checkpoint), start=1):
            yield batch
            if count >= self._after:
                raise RuntimeError("killed")


def test_http_feed_sync_killed_mid_snapshot_resumes_without_loss(
    db: Database, banks: BankService, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _feed(range(4))
    catalog = _catalog(db, fake)
    catalog.add("partner", kind="http_feed", bank="feed", options={"url": URL, "batch_size": 3})
    make_engine(catalog).sync("partner")
    fake.set_csv(_rows(range(2, 12)), COLUMNS)  # 10 records: 4 batches; 0 and 1 are gone
    build = catalog.build
    monkeypatch.setattr(catalog, "build", lambda name: _Crashing(build(name), after=2))
    with pytest.raises(RuntimeError):
        make_engine(catalog).sync("partner")
    assert bank_state(db) >= {("md5", md5(0), True)}  # the sweep waits for the snapshot's end
    monkeypatch.setattr(catalog, "build", build)
    make_engine(catalog).sync("partner")
    assert bank_state(db) == {("md5", md5(n), n >= 2) for n in range(12)}
    assert all_rows(db) == 12 and len(vouch_rows(db)) == 12


def test_http_feed_rate_limit_and_outage_then_recovery(
    db: Database, banks: BankService, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _feed(range(3))
    fake.fail_next(503, times=5)
    catalog = _catalog(db, fake)
    catalog.add("partner", kind="http_feed", bank="feed", options={"url": URL})
    build = catalog.build
    monkeypatch.setattr(catalog, "build", lambda name: _quick(build(name)))
    engine = make_engine(catalog)
    assert engine.sync("partner").status == "failed"
    assert "503" in catalog.get("partner").last_error
    fake.fail_next(429, retry_after="0")
    assert engine.sync("partner").added == 3


def _quick(source: Any) -> Any:
    source.sleep = lambda seconds: None
    return source


# --- files --------------------------------------------------------------------------------------


def test_file_source_watches_a_folder(db: Database, banks: BankService, tmp_path: Path) -> None:
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "a.txt").write_text("".join(md5(n) + "\n" for n in range(3)) + "not-a-hash\n")
    (folder / "b.csv").write_text(f"signal_type,value,category\nmd5,{md5(7)},B1\n")
    catalog = make_catalog(db)
    options = {"path": str(folder), "signal_type": "md5", "batch_size": 2}
    catalog.add("drop", kind="file", bank="feed", options=options)
    engine = make_engine(catalog)
    first = engine.sync("drop")
    assert (first.added, first.malformed) == (4, 1)
    assert catalog.get("drop").problems == ["a.txt:4: md5: expected 32 hex digits, got 10 ('not-a-hash')"]
    assert engine.sync("drop").batches == 0  # unchanged files are not even read
    stamp = os.stat(folder / "b.csv").st_mtime_ns + 10**9
    os.utime(folder / "b.csv", ns=(stamp, stamp))
    touched = engine.sync("drop")
    assert (touched.batches, touched.added, touched.removed) == (1, 0, 0)  # same records: only the checkpoint
    (folder / "a.txt").write_text(md5(1) + "\n")
    changed = engine.sync("drop")
    assert (changed.removed, changed.added) == (2, 0)
    assert {v for _, v, on in bank_state(db) if on} == {md5(1), md5(7)}


def test_file_source_reports_a_missing_path_as_a_failed_sync(db: Database, banks: BankService, tmp_path: Path) -> None:
    catalog = make_catalog(db)
    catalog.add("drop", kind="file", bank="feed", options={"path": str(tmp_path / "nowhere.csv")})
    assert make_engine(catalog).sync("drop").status == "failed"
    assert "does not exist" in catalog.get("drop").last_error


def test_file_source_resumes_from_a_partial_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("".join(md5(n) + "\n" for n in range(5)))
    source = FileSource.from_config(
        SourceConfig("drop", "file", "feed", {"path": str(path), "signal_type": "md5", "batch_size": 2})
    )
    first = next(iter(source.fetch(None)))
    assert SnapshotCheckpoint.loads(first.checkpoint) is not None
    rest = list(source.fetch(first.checkpoint))
    assert len(_upserts([first, *rest])) == len(set(_upserts([first, *rest]))) == 5


# --- another brightline ---------------------------------------------------------------------------


def test_peer_source_syncs_another_brightlines_export(db: Database, banks: BankService) -> None:
    peer = FakePeer(banks={"shared": [export_line("md5", md5(n), category="A1") for n in range(4)]})
    catalog = _catalog(db, peer)
    catalog.add(
        "partner-bl",
        kind="brightline",
        bank="feed",
        options={"url": "https://bl.partner.example", "remote_bank": "shared"},
        credentials={"token": peer.token},
    )
    engine = make_engine(catalog)
    assert engine.sync("partner-bl").added == 4
    assert peer.requests[0].url.path == "/v1/banks/shared/export"
    assert peer.requests[0].headers["Authorization"] == f"Bearer {peer.token}"
    peer.banks["shared"][0] = export_line("md5", md5(0), enabled=False)  # disabled there: withdrawn here
    del peer.banks["shared"][1]
    assert engine.sync("partner-bl").removed == 2
    assert {v for _, v, on in bank_state(db) if on} == {md5(2), md5(3)}


def test_peer_source_needs_a_token_and_pauses_when_it_is_refused(db: Database, banks: BankService) -> None:
    peer = FakePeer(banks={"feed": []})
    catalog = _catalog(db, peer)
    with pytest.raises(ValidationError, match="token"):
        catalog.add("p", kind="brightline", bank="feed", options={"url": "https://bl.partner.example"})
    catalog.add(
        "p", kind="brightline", bank="feed", options={"url": "https://bl.x.example"}, credentials={"token": "old"}
    )
    assert make_engine(catalog).sync("p").status == "paused"


def test_peer_source_refuses_plain_http_to_other_hosts() -> None:
    config = SourceConfig("p", "brightline", "feed", {"url": "http://bl.partner.example"}, {"token": "t"})
    with pytest.raises(ValidationError, match="https"):
        PeerSource.from_config(config)


def test_peer_sync_killed_mid_export_resumes_without_loss(
    db: Database, banks: BankService, monkeypatch: pytest.MonkeyPatch
) -> None:
    peer = FakePeer(banks={"feed": [export_line("md5", md5(n)) for n in range(9)]})
    catalog = _catalog(db, peer)
    options = {"url": "https://bl.partner.example", "batch_size": 2}
    catalog.add("peer", kind="brightline", bank="feed", options=options, credentials={"token": peer.token})
    build = catalog.build
    monkeypatch.setattr(catalog, "build", lambda name: _Crashing(build(name), after=3))
    with pytest.raises(RuntimeError):
        make_engine(catalog).sync("peer")
    assert all_rows(db) == 6
    monkeypatch.setattr(catalog, "build", build)
    assert make_engine(catalog).sync("peer").added == 3
    assert bank_state(db) == {("md5", md5(n), True) for n in range(9)} and len(vouch_rows(db)) == 9
