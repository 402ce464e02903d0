"""NCMEC and StopNCII through the sync engine: a sync killed mid-feed resumes with nothing lost or doubled.

Withdrawals of held entries are covered per source against a fake clock (test_sources_ncmec/stopncii);
the engine builds sources with the real clock, so here deletions precede the first sync.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from brightline.actions.keys import LocalKeyProvider
from brightline.banks.service import BankService
from brightline.sources.catalog import SourceCatalog
from brightline.sources.fakes.ncmec import FakeNcmecHashSharing
from brightline.sources.fakes.stopncii import FakeStopNcii
from brightline.sources.sync import SyncEngine
from brightline.store.db import Database
from brightline.store.models import entries_table
from brightline.store.models_provenance import entry_sources_table

# The engine builds sources with the real clock: the fakes' data sits in the last ten days.
NOW = datetime.fromtimestamp(int(time.time()), UTC)
START = (NOW - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Killer:
    """Wraps a fake's handler and raises (a crashed process) on the n-th request, once."""

    def __init__(self, handle: Any, at_request: int) -> None:
        self.handle, self.at, self.count = handle, at_request, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        if self.count == self.at:
            raise RuntimeError("killed")
        response: httpx.Response = self.handle(request)
        return response


def vouched(db: Database, source: str) -> list[tuple[str, str, str, bool]]:
    e, s = entries_table.c, entry_sources_table.c
    query = (
        sa.select(s.remote_id, e.signal_type, e.value, s.withdrawn_at.is_(None))
        .join(entries_table, e.id == s.entry_id)
        .where(s.source == source)
        .order_by(s.remote_id)
    )
    with db.engine.connect() as conn:
        return [(r[0], r[1], r[2], bool(r[3])) for r in conn.execute(query)]


def engine_for(db: Database, handler: Any) -> tuple[SourceCatalog, SyncEngine]:
    catalog = SourceCatalog(db, LocalKeyProvider(b"k" * 32), transport=httpx.MockTransport(handler))
    return catalog, SyncEngine(catalog)


def ncmec_fake() -> FakeNcmecHashSharing:
    fake = FakeNcmecHashSharing(page_size=2)
    for i in range(9):
        md5 = hashlib.md5(f"n{i}".encode()).hexdigest()
        pdq = hashlib.sha256(f"n{i}".encode()).hexdigest()
        fake.add(f"e{i}", at=NOW - timedelta(days=9 - i), fingerprints={"md5": md5, "pdq": pdq})
    fake.delete("e4", at=NOW - timedelta(hours=2))
    return fake


@pytest.mark.parametrize("kill_at", [2, 4, 7])
def test_an_ncmec_sync_killed_mid_feed_resumes_without_loss_or_duplicates(db: Database, kill_at: int) -> None:
    BankService(db).create_bank("ncmec", domain="csam")
    fake = ncmec_fake()
    killer = Killer(fake.handle, kill_at)
    catalog, engine = engine_for(db, killer)
    catalog.add(
        "ncmec-hashes",
        kind="ncmec",
        bank="ncmec",
        options={"start": START, "window_days": "3"},
        credentials={"username": fake.username, "password": fake.password},
    )
    with pytest.raises(RuntimeError, match="killed"):
        engine.sync("ncmec-hashes")
    engine.sync("ncmec-hashes")
    rows = vouched(db, "ncmec-hashes")
    # md5 and pdq of eight entries, each once; e4 was deleted before brightline ever saw it
    assert len(rows) == len({r[0] for r in rows}) == 16 and all(active for *_, active in rows)
    assert not any(r[0].startswith("image:e4:") for r in rows)
    again = engine.sync("ncmec-hashes")
    assert (again.added, again.removed) == (0, 0)


def test_a_stopncii_sync_killed_mid_feed_resumes_without_loss_or_duplicates(db: Database) -> None:
    BankService(db).create_bank("ncii", domain="ncii")
    fake = FakeStopNcii(page_size=2)
    values = [hashlib.sha256(f"s{i}".encode()).hexdigest() for i in range(7)]
    for i, value in enumerate(values):
        fake.add("PDQ", value, at=NOW - timedelta(days=8 - i))
    fake.withdraw("PDQ", values[1], at=NOW - timedelta(hours=3))
    catalog, engine = engine_for(db, Killer(fake.handle, 3))
    catalog.add(
        "stopncii",
        kind="stopncii",
        bank="ncii",
        options={"start": START},
        credentials={"subscription_key": fake.subscription_key},
    )
    with pytest.raises(RuntimeError, match="killed"):
        engine.sync("stopncii")
    engine.sync("stopncii")
    rows = vouched(db, "stopncii")
    assert [r[0] for r in rows] == sorted(f"pdq:{v}" for i, v in enumerate(values) if i != 1)
    assert all(active for *_, active in rows)
