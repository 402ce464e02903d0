"""Aggregate scan counters: the only trace a non-matching scan leaves, written singly or in batches.

A write transaction per scan is what limits a busy service on SQLite (every writer queues for
one lock), so the service counts non-matching scans in memory and writes the sums every
``flush_seconds``. A process killed without warning loses at most that window of counts;
matches are never buffered (they are committed before the scan answers).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import date

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from brightline.store.models import scan_counters_table

NO_KEY = 0  # scan_counters.api_key_id for scans made without an API key (part of the primary key)
_C = scan_counters_table.c

# (UTC day, content type, API key id or NO_KEY)
CounterKey = tuple[date, str, int]


def bump_counter(conn: Connection, key: CounterKey, *, scans: int = 1, matched: int = 0) -> None:
    """Add scans (and matches) to one day's counter row, creating the row if needed."""
    day, content_type, api_key_id = key
    values = {"day": day, "content_type": content_type, "api_key_id": api_key_id, "scans": scans, "matched": matched}
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(scan_counters_table).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[_C.day, _C.content_type, _C.api_key_id],
            set_={"scans": _C.scans + scans, "matched": _C.matched + matched},
        )
    )


def write_counts(conn: Connection, counts: Mapping[CounterKey, int]) -> None:
    """Add buffered non-matching scan counts in the caller's transaction."""
    for key in sorted(counts):  # one order everywhere, so concurrent PostgreSQL flushes cannot deadlock
        bump_counter(conn, key, scans=counts[key])


class CounterBuffer:
    """Non-matching scan counts held in memory until the next flush; thread-safe."""

    def __init__(self, flush_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if flush_seconds <= 0:
            raise ValueError("flush_seconds must be positive (0 means no buffer: write each scan)")
        self.flush_seconds = float(flush_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: Counter[CounterKey] = Counter()
        self._last_flush = clock()

    def add(self, key: CounterKey) -> bool:
        """Count one scan; True when a flush is due (the caller then flushes)."""
        with self._lock:
            self._pending[key] += 1
            return self._clock() - self._last_flush >= self.flush_seconds

    def due(self) -> bool:
        """Whether counts are waiting and the flush interval has passed."""
        with self._lock:
            return bool(self._pending) and self._clock() - self._last_flush >= self.flush_seconds

    def take(self) -> Counter[CounterKey]:
        """Everything pending, removed from the buffer (hand it back with ``restore`` if the write fails)."""
        with self._lock:
            taken, self._pending = self._pending, Counter()
            self._last_flush = self._clock()
            return taken

    def restore(self, counts: Mapping[CounterKey, int]) -> None:
        """Put counts back after a failed write, so the next flush retries them."""
        with self._lock:
            self._pending.update(counts)

    def __len__(self) -> int:
        with self._lock:
            return sum(self._pending.values())
