"""A real `brightline source sync` killed with SIGKILL mid-run: the rerun loses nothing and adds nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from sources_support import all_rows, bank_state, make_catalog, make_engine, md5, vouch_rows

from brightline.banks import BankService
from brightline.store.db import Database
from brightline.store.models_sources import sources_table

LINES = 600
BATCH = 4


def _batches(db: Database) -> int:
    with db.engine.connect() as conn:
        stmt = sa.select(sources_table.c.batches).where(sources_table.c.name == "drop")
        return int(conn.execute(stmt).scalar_one())


def test_sigkill_mid_sync_then_rerun_equals_an_uninterrupted_run(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    banks = BankService(db)
    banks.create_bank("feed")
    banks.create_bank("control")
    listing = tmp_path / "list.txt"
    listing.write_text("".join(md5(n) + "\n" for n in range(LINES)))
    catalog = make_catalog(db)
    for name, bank, size in (("drop", "feed", BATCH), ("control", "control", LINES)):
        options = {"path": str(listing), "signal_type": "md5", "batch_size": size}
        catalog.add(name, kind="file", bank=bank, options=options)
    env = {
        **os.environ,
        "BRIGHTLINE_DATABASE_URL": database_url,
        "BRIGHTLINE_DATA_DIR": str(tmp_path / "data"),
        "BRIGHTLINE_ENVIRONMENT": "test",
    }
    child = subprocess.Popen(
        [str(Path(sys.executable).with_name("brightline")), "source", "sync", "drop", "--once"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while _batches(db) < 3:
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the sync never committed a batch"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    done = _batches(db)
    assert 3 <= done < LINES // BATCH
    # The rerun (another process: this one) takes over the dead run's lock or lease at once.
    engine = make_engine(catalog)
    rerun = engine.sync("drop")
    assert rerun.status == "ok" and rerun.batches == LINES // BATCH - done
    engine.sync("control")
    assert bank_state(db, banks.get_bank("feed").id) == bank_state(db, banks.get_bank("control").id)
    assert all_rows(db) == 2 * LINES
    drop_rows = [r for r in vouch_rows(db) if r[1] == "drop"]
    assert len(drop_rows) == len({r[0] for r in drop_rows}) == LINES
    assert all(active for *_, active in drop_rows)
