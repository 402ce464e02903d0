"""One sync per source across the cluster: a PostgreSQL advisory lock, or a lease row on SQLite.

PostgreSQL: a session-level ``pg_try_advisory_lock`` on a connection held for the whole run; a
crashed or killed process loses its connection and with it the lock. SQLite (one host): the
source row's lease, renewed with every batch; a lease whose holder is a dead process on this
host is taken over at once rather than waiting for it to expire.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from brightline.store.db import Database
from brightline.store.models import utcnow
from brightline.store.models_sources import sources_table

_S = sources_table.c
# First key of the advisory lock pair; the second is the source's id.
_LOCK_KEY = 0x6272_7363  # "brsc"
LEASE_SECONDS = 600.0


def lease_owner() -> str:
    """This process's lease name: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _dead_here(owner: str) -> bool:
    """Whether ``owner`` names a process on this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname()[:64] or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def renew_lease(conn: Connection, source_id: int, owner: str, seconds: float = LEASE_SECONDS) -> None:
    """Push the lease on, inside the caller's transaction (no-op where someone else holds it)."""
    conn.execute(
        sa.update(sources_table)
        .where(_S.id == source_id, _S.lease_owner == owner)
        .values(lease_until=utcnow() + timedelta(seconds=seconds))
    )


def _take_lease(db: Database, source_id: int, owner: str, seconds: float) -> bool:
    now = utcnow()
    with db.write_connection() as conn:
        row = conn.execute(sa.select(_S.lease_owner, _S.lease_until).where(_S.id == source_id)).first()
        if row is None:
            return False
        free = not row.lease_owner or row.lease_until is None or row.lease_until < now or row.lease_owner == owner
        if not free and not _dead_here(row.lease_owner):
            return False
        conn.execute(
            sa.update(sources_table)
            .where(_S.id == source_id)
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=seconds))
        )
        return True


def _drop_lease(db: Database, source_id: int, owner: str) -> None:
    with db.write_connection() as conn:
        conn.execute(
            sa.update(sources_table)
            .where(_S.id == source_id, _S.lease_owner == owner)
            .values(lease_owner="", lease_until=None)
        )


@contextlib.contextmanager
def sync_lock(db: Database, source_id: int, owner: str, seconds: float = LEASE_SECONDS) -> Iterator[bool]:
    """Yields True while this process alone syncs ``source_id``, False if another holds it."""
    if db.dialect_name == "postgresql":
        with db.engine.connect() as conn:
            got = bool(
                conn.execute(
                    sa.text("SELECT pg_try_advisory_lock(CAST(:k AS integer), CAST(:s AS integer))"),
                    {"k": _LOCK_KEY, "s": source_id},
                ).scalar()
            )
            conn.commit()  # a session lock outlives the transaction; do not sit idle in one
            try:
                yield got
            finally:
                if got:
                    conn.execute(
                        sa.text("SELECT pg_advisory_unlock(CAST(:k AS integer), CAST(:s AS integer))"),
                        {"k": _LOCK_KEY, "s": source_id},
                    )
                    conn.commit()
        return
    got = _take_lease(db, source_id, owner, seconds)
    try:
        yield got
    finally:
        if got:
            _drop_lease(db, source_id, owner)
