"""Store what a scan found, and only that.

The privacy promise: a scan that matched nothing leaves no trace of the content. It only
increments an aggregate counter (day, content type, API key). A scan that matched stores
its caller metadata, its hashes and one match event per hit, all in one transaction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from brightline.errors import ScanRecordNotFoundError, StoreError, ValidationError
from brightline.matching import Match
from brightline.records.counters import NO_KEY, CounterBuffer, CounterKey, bump_counter, write_counts
from brightline.records.types import MatchEvent, ScanMetadata, ScanRecord
from brightline.signals.hashing import MediaHashes
from brightline.store.audit import append_audit
from brightline.store.db import Database
from brightline.store.models import (
    MAX_IDENTIFIER,
    banks_table,
    match_events_table,
    scan_counters_table,
    scan_records_table,
    utcnow,
)

log = logging.getLogger(__name__)
MAX_PAGE = 1000
# The closest hits of one scan that its match.recorded audit record lists (keeps the record small).
MAX_AUDITED_HITS = 100
_CONTENT_TYPE_RE = re.compile(r"[a-z][a-z0-9_.+/-]{0,31}")
# First key of the PostgreSQL advisory lock serialising keyless idempotent writes (see record_scan).
_IDEMPOTENCY_LOCK_KEY = 0x6272_6964  # "brid"

_S = scan_records_table.c
_M = match_events_table.c
_C = scan_counters_table.c
_B = banks_table.c
_EVENT_COLUMNS = (
    _M.id,
    _M.scan_id,
    _M.created_at,
    _M.bank_name,
    _M.entry_id,
    _M.signal_type,
    _M.distance,
    _M.variant,
    _M.account_id,
    _S.content_id,
)


def _positive_int(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{name} must be a positive whole number, got {value!r}")
    return value


def _idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_IDENTIFIER:
        raise ValidationError(f"idempotency key must be 1 to {MAX_IDENTIFIER} characters")
    return value


def _content_type(value: str) -> str:
    if not isinstance(value, str) or _CONTENT_TYPE_RE.fullmatch(value) is None:
        raise ValidationError(f"content type must be a short lower-case name such as 'image', got {value!r}")
    return value


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value


def _event(row: Sequence[Any]) -> MatchEvent:
    (event_id, scan_id, created_at, bank, entry_id, signal_type, distance, variant, account_id, content_id) = row
    return MatchEvent(
        id=event_id,
        scan_id=scan_id,
        created_at=created_at,
        bank=bank,
        entry_id=entry_id,
        signal_type=signal_type,
        distance=distance,
        variant=variant,
        account_id=account_id,
        content_id=content_id,
    )


class RecordService:
    """Scan records, match events and scan counters; each public method is one transaction.

    With ``counter_flush_seconds`` > 0, non-matching scans are counted in memory and written
    at most that often (see ``brightline.records.counters``); call ``flush_counters`` at exit.
    """

    def __init__(self, db: Database, *, counter_flush_seconds: float = 0.0) -> None:
        self._db = db
        self._buffer = CounterBuffer(counter_flush_seconds) if counter_flush_seconds > 0 else None

    def flush_counters(self) -> int:
        """Write the buffered non-matching scan counts now; returns how many scans were written."""
        with self._pending_counts() as counts:
            if counts:
                with self._db.session(write=True) as session:
                    write_counts(session.connection(), counts)
        return sum(counts.values())

    def flush_counters_if_due(self) -> int:
        """``flush_counters`` when the interval has passed; never raises (a busy database retries later)."""
        if self._buffer is None or not self._buffer.due():
            return 0
        try:
            return self.flush_counters()
        except StoreError as exc:
            log.warning("could not write scan counters (kept for the next flush): %s", exc)
            return 0

    @contextmanager
    def _pending_counts(self) -> Iterator[dict[CounterKey, int]]:
        """The buffered counts, handed back to the buffer if the block that writes them fails."""
        counts = dict(self._buffer.take()) if self._buffer is not None else {}
        try:
            yield counts
        except BaseException:
            if self._buffer is not None and counts:
                self._buffer.restore(counts)
            raise

    def record_scan(
        self,
        *,
        api_key_id: int | None,
        idempotency_key: str | None,
        metadata: ScanMetadata,
        hashes: MediaHashes,
        content_type: str,
        matches: Sequence[Match],
    ) -> ScanRecord | None:
        """Count the scan; if it matched, also store it and return the record (None = nothing but the count).

        With an idempotency key, a repeat of an already recorded scan returns the first record with
        ``replayed=True`` and counts nothing. Non-matching scans store nothing to replay, so their
        repeats are counted again.
        """
        api_key_id = _positive_int("api key id", api_key_id)
        idempotency_key = _idempotency_key(idempotency_key)
        content_type = _content_type(content_type)
        if not isinstance(metadata, ScanMetadata):
            raise ValidationError("metadata must be a ScanMetadata")
        found = tuple(matches)
        if not all(isinstance(m, Match) for m in found):
            raise ValidationError("matches must be Match objects")
        now = utcnow()
        key: CounterKey = (now.date(), content_type, NO_KEY if api_key_id is None else api_key_id)
        if not found:
            if self._buffer is None:
                with self._db.session(write=True) as session:
                    bump_counter(session.connection(), key)
            elif self._buffer.add(key):
                self.flush_counters_if_due()
            return None
        try:
            # A match writes anyway: the buffered counts ride along in its transaction.
            with self._pending_counts() as pending, self._db.session(write=True) as session:
                conn = session.connection()
                write_counts(conn, pending)
                if idempotency_key is not None:
                    if api_key_id is None and conn.dialect.name == "postgresql":
                        # NULLs never clash in a UNIQUE constraint, so keyless retries are serialised by a
                        # lock instead (SQLite's BEGIN IMMEDIATE already serialises every writer).
                        conn.execute(
                            sa.text("SELECT pg_advisory_xact_lock(CAST(:key AS integer), hashtext(:idem))"),
                            {"key": _IDEMPOTENCY_LOCK_KEY, "idem": idempotency_key},
                        )
                    existing = self._find(conn, api_key_id, idempotency_key)
                    if existing is not None:
                        return existing
                return self._insert(conn, now, api_key_id, idempotency_key, metadata, hashes, content_type, found)
        except IntegrityError as exc:
            # A concurrent request with the same idempotency key committed first: answer with its record.
            if idempotency_key is not None:
                try:
                    return self.lookup_idempotent(api_key_id, idempotency_key)
                except ScanRecordNotFoundError:
                    pass
            raise StoreError(f"could not record the scan: {str(exc.orig).strip().splitlines()[0]}") from exc

    def lookup_idempotent(self, api_key_id: int | None, idempotency_key: str) -> ScanRecord:
        """The record stored under this key's idempotency key (replayed=True), or ScanRecordNotFoundError."""
        api_key_id = _positive_int("api key id", api_key_id)
        idempotency_key_checked = _idempotency_key(idempotency_key)
        if idempotency_key_checked is None:
            raise ValidationError("idempotency key must be given")
        with self._db.session() as session:
            record = self._find(session.connection(), api_key_id, idempotency_key_checked)
        if record is None:
            raise ScanRecordNotFoundError("no scan recorded under that idempotency key")
        return record

    def list_matches(
        self,
        *,
        bank: str | None = None,
        account_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        cursor: int | None = None,
    ) -> tuple[list[MatchEvent], int | None]:
        """Match events, newest first, filtered; returns (page, cursor for the next page or None).

        ``bank`` is the bank's name when the match was recorded; ``since`` is inclusive and
        ``until`` exclusive; ``cursor`` is the last id of the previous page.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"limit must be between 1 and {MAX_PAGE}, got {limit!r}")
        cursor = _positive_int("cursor", cursor)
        stmt = sa.select(*_EVENT_COLUMNS).join_from(match_events_table, scan_records_table, _M.scan_id == _S.id)
        if bank is not None:
            stmt = stmt.where(_M.bank_name == str(bank))
        if account_id is not None:
            stmt = stmt.where(_M.account_id == str(account_id))
        if (start := _aware("since", since)) is not None:
            stmt = stmt.where(_M.created_at >= start)
        if (end := _aware("until", until)) is not None:
            stmt = stmt.where(_M.created_at < end)
        if cursor is not None:
            stmt = stmt.where(_M.id < cursor)
        # One row more than asked tells whether another page exists without a count query.
        stmt = stmt.order_by(_M.id.desc()).limit(limit + 1)
        with self._db.session() as session:
            rows = session.execute(stmt).all()
        events = [_event(row) for row in rows[:limit]]
        return events, (events[-1].id if len(rows) > limit else None)

    def counters(self, since: date | None = None, until: date | None = None) -> list[dict[str, Any]]:
        """Scan and match counts per UTC day, content type and API key (None = no key); both dates inclusive."""
        stmt = sa.select(_C.day, _C.content_type, _C.api_key_id, _C.scans, _C.matched)
        for name, value in (("since", since), ("until", until)):
            if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
                raise ValidationError(f"{name} must be a date, got {value!r}")
        if since is not None:
            stmt = stmt.where(_C.day >= since)
        if until is not None:
            stmt = stmt.where(_C.day <= until)
        self.flush_counters()  # this process's buffered counts first, so the answer is complete
        with self._db.session() as session:
            rows = session.execute(stmt.order_by(_C.day, _C.content_type, _C.api_key_id)).all()
        return [
            {
                "day": row.day.isoformat(),
                "content_type": row.content_type,
                "api_key_id": None if row.api_key_id == NO_KEY else row.api_key_id,
                "scans": int(row.scans),
                "matched": int(row.matched),
            }
            for row in rows
        ]

    # --- internals ---------------------------------------------------------------------

    def _find(self, conn: Connection, api_key_id: int | None, idempotency_key: str) -> ScanRecord | None:
        key_clause = _S.api_key_id.is_(None) if api_key_id is None else _S.api_key_id == api_key_id
        scan = conn.execute(
            sa.select(scan_records_table).where(key_clause, _S.idempotency_key == idempotency_key)
        ).first()
        return None if scan is None else self._record(conn, scan, replayed=True)

    def _record(self, conn: Connection, scan: Row[Any], *, replayed: bool) -> ScanRecord:
        rows = conn.execute(
            sa.select(*_EVENT_COLUMNS)
            .join_from(match_events_table, scan_records_table, _M.scan_id == _S.id)
            .where(_M.scan_id == scan.id)
            .order_by(_M.id)
        ).all()
        return ScanRecord(
            id=scan.id,
            created_at=scan.created_at,
            matches=tuple(_event(row) for row in rows),
            replayed=replayed,
            content_type=scan.content_type,
            content_id=scan.content_id,
            account_id=scan.account_id,
            source=scan.source,
        )

    def _insert(
        self,
        conn: Connection,
        now: datetime,
        api_key_id: int | None,
        idempotency_key: str | None,
        metadata: ScanMetadata,
        hashes: MediaHashes,
        content_type: str,
        matches: tuple[Match, ...],
    ) -> ScanRecord:
        scan_id = conn.execute(
            sa.insert(scan_records_table)
            .values(
                created_at=now,
                api_key_id=api_key_id,
                idempotency_key=idempotency_key,
                content_id=metadata.content_id,
                account_id=metadata.account_id,
                source=metadata.source,
                context=metadata.context_json(),
                content_type=content_type,
                pdq=hashes.pdq or None,
                pdq_quality=hashes.quality if hashes.pdq else None,
                md5=hashes.md5 or None,
                sha256=hashes.sha256 or None,
            )
            .returning(_S.id)
        ).scalar_one()
        names = {m.bank.lower() for m in matches}
        banks = {
            name_key: (bank_id, domain)
            for name_key, bank_id, domain in conn.execute(
                sa.select(_B.name_key, _B.id, _B.domain).where(_B.name_key.in_(names))
            )
        }
        bank_ids: dict[str, int] = {name_key: bank_id for name_key, (bank_id, _) in banks.items()}
        conn.execute(
            sa.insert(match_events_table),
            [
                {
                    "scan_id": scan_id,
                    "created_at": now,
                    "bank_id": bank_ids.get(m.bank.lower()),
                    "bank_name": m.bank,
                    "entry_id": m.entry_id,
                    "signal_type": m.signal_type,
                    "distance": m.distance,
                    "variant": m.variant,
                    "account_id": metadata.account_id,
                }
                for m in matches
            ],
        )
        bump_counter(conn, (now.date(), content_type, NO_KEY if api_key_id is None else api_key_id), matched=1)
        hits = [
            {
                "bank": m.bank,
                "domain": banks.get(m.bank.lower(), (0, ""))[1],
                "signal_type": m.signal_type,
                "distance": m.distance,
            }
            for m in sorted(matches, key=lambda m: m.distance)[:MAX_AUDITED_HITS]
        ]
        append_audit(
            conn,
            actor="system" if api_key_id is None else f"api_key:{api_key_id}",
            action="match.recorded",
            subject=f"scan:{scan_id}",
            details={"scan_id": scan_id, "content_type": content_type, "hits": hits},
            at=now,
        )
        scan = conn.execute(sa.select(scan_records_table).where(_S.id == scan_id)).one()
        return self._record(conn, scan, replayed=False)
