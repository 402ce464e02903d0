"""The audit log's append primitive: hash-chained records of every security-relevant event.

Each record's hash is SHA-256 over a canonical JSON encoding of its id, time, actor, action,
subject, details and the previous record's hash, so changing, deleting, inserting or reordering
a row breaks the chain (``brightline.privacy.audit.verify`` walks it). Appends lock the one-row
``audit_head`` table, so concurrent writers queue up instead of forking the chain; the record's
id is its position (head id + 1), so a deleted row also leaves a gap.

Call :func:`append_audit` inside the caller's own write transaction: the event and the change
it describes then commit, or roll back, together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.orm import Session

from brightline.errors import AuditError
from brightline.store.db import Database
from brightline.store.models import utcnow
from brightline.store.models_audit import AUDIT_HEAD_ID, GENESIS_HASH, audit_head_table, audit_table

__all__ = [
    "GENESIS_HASH",
    "MAX_DETAILS_BYTES",
    "AuditLog",
    "AuditRecord",
    "append_audit",
    "canonical_json",
    "iso_utc",
    "lock_head",
    "record_hash",
]

# Details are ids, names and counts; anything this big is a bug (or media smuggled in).
MAX_DETAILS_BYTES = 64 * 1024
# Field names that would mean a secret or media is being written to the log.
_FORBIDDEN_KEYS = frozenset(
    {"password", "passphrase", "secret", "api_key_secret", "token", "evidence_key", "key_material", "media_bytes"}
)


def canonical_json(value: Any) -> str:
    """Sorted-key, compact, ASCII JSON: the one encoding every hash is computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def iso_utc(moment: datetime) -> str:
    """``moment`` as ISO-8601 UTC with microseconds (the form hashed and exported)."""
    if moment.tzinfo is None:
        raise AuditError("naive datetime given for an audit record")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def record_hash(
    *, id: int, created_at: datetime, actor: str, action: str, subject: str, details: Any, prev_hash: str
) -> str:
    """The SHA-256 hex digest chaining one record to the one before it."""
    payload = {
        "id": id,
        "created_at": iso_utc(created_at),
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(payload).encode("ascii")).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    """One link of the audit chain."""

    id: int
    created_at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    hash: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the export line format)."""
        return {
            "id": self.id,
            "created_at": iso_utc(self.created_at),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_row(cls, row: RowMapping) -> AuditRecord:
        """The record stored in one ``audit_log`` row (details parsed; AuditError if unreadable)."""
        try:
            details = json.loads(row["details"])
        except ValueError:
            raise AuditError(f"audit record {row['id']}: details are not valid JSON") from None
        if not isinstance(details, dict):
            raise AuditError(f"audit record {row['id']}: details are not a JSON object")
        return cls(
            id=int(row["id"]),
            created_at=row["created_at"],
            actor=row["actor"],
            action=row["action"],
            subject=row["subject"],
            details=details,
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )


def _check_details(value: Any, path: str = "details") -> None:
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise AuditError(f"audit {path} holds raw bytes; log ids and counts, never media")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditError(f"audit {path} has a non-string key {key!r}")
            if key.lower() in _FORBIDDEN_KEYS:
                raise AuditError(f"audit {path} must not hold {key!r}")
            _check_details(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_details(item, f"{path}[{index}]")


def _encode_details(details: Mapping[str, Any] | None) -> tuple[dict[str, Any], str]:
    plain = dict(details or {})
    _check_details(plain)
    try:
        text = canonical_json(plain)
    except (TypeError, ValueError) as exc:
        raise AuditError(f"audit details are not JSON-able: {exc}") from None
    if len(text) > MAX_DETAILS_BYTES:
        raise AuditError(f"audit details too large ({len(text)} bytes, at most {MAX_DETAILS_BYTES})")
    # Round-trip so the record holds exactly what a reader of the row will see (tuples become lists).
    return json.loads(text), text


def lock_head(conn: Connection) -> RowMapping:
    """Lock the chain head for this transaction (creating it at genesis) and return it.

    Appending takes this lock itself; call it first to read the log and then append without a
    concurrent writer appending in between (e.g. "append only if the last record differs").
    """
    query = sa.select(audit_head_table).where(audit_head_table.c.id == AUDIT_HEAD_ID)
    if conn.dialect.name == "postgresql":
        # Row lock: a second appender waits here and then reads the head the first one wrote.
        query = query.with_for_update()
    row = conn.execute(query).mappings().one_or_none()
    if row is not None:
        return row
    values = {"id": AUDIT_HEAD_ID, "last_id": 0, "last_hash": GENESIS_HASH, "updated_at": utcnow()}
    insert = (
        postgresql.insert(audit_head_table) if conn.dialect.name == "postgresql" else sqlite.insert(audit_head_table)
    )
    conn.execute(insert.values(**values).on_conflict_do_nothing(index_elements=["id"]))
    return conn.execute(query).mappings().one()


def append_audit(
    conn: Connection | Session,
    *,
    actor: str,
    action: str,
    subject: str = "",
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditRecord:
    """Append one event to the chain inside the caller's write transaction and return it."""
    if not actor or not action:
        raise AuditError("an audit record needs an actor and an action")
    connection = conn.connection() if isinstance(conn, Session) else conn
    plain, text = _encode_details(details)
    if at is not None and at.tzinfo is None:
        raise AuditError("naive datetime given for an audit record")
    moment = (at or utcnow()).astimezone(UTC)
    head = lock_head(connection)
    record_id = int(head["last_id"]) + 1
    prev_hash = str(head["last_hash"])
    digest = record_hash(
        id=record_id,
        created_at=moment,
        actor=actor,
        action=action,
        subject=subject,
        details=plain,
        prev_hash=prev_hash,
    )
    connection.execute(
        audit_table.insert().values(
            id=record_id,
            created_at=moment,
            actor=actor,
            action=action,
            subject=subject,
            details=text,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    connection.execute(
        audit_head_table.update()
        .where(audit_head_table.c.id == AUDIT_HEAD_ID)
        .values(last_id=record_id, last_hash=digest, updated_at=moment)
    )
    return AuditRecord(record_id, moment, actor, action, subject, plain, prev_hash, digest)


def _filtered(
    query: sa.Select[Any], *, action: str | None, since: datetime | None, until: datetime | None
) -> sa.Select[Any]:
    if action is not None:
        # "case.*" counts every case event; anything else is an exact action name.
        if action.endswith(".*"):
            query = query.where(audit_table.c.action.startswith(action[:-1], autoescape=True))
        else:
            query = query.where(audit_table.c.action == action)
    if since is not None:
        query = query.where(audit_table.c.created_at >= since)
    if until is not None:
        query = query.where(audit_table.c.created_at < until)
    return query


class AuditLog:
    """Reading and appending the audit log of one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def append(
        self, *, actor: str, action: str, subject: str = "", details: Mapping[str, Any] | None = None
    ) -> AuditRecord:
        """Append one event in a transaction of its own (for events with no other change to commit)."""
        with self._db.write_connection() as conn:
            return append_audit(conn, actor=actor, action=action, subject=subject, details=details)

    def records(
        self,
        *,
        since_id: int = 0,
        limit: int = 1000,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditRecord]:
        """Records after ``since_id`` in chain order; ``action`` is exact or ``"prefix.*"``; since <= time < until."""
        query = sa.select(audit_table).where(audit_table.c.id > since_id).order_by(audit_table.c.id).limit(limit)
        query = _filtered(query, action=action, since=since, until=until)
        with self._db.engine.connect() as conn:
            return [AuditRecord.from_row(row) for row in conn.execute(query).mappings()]

    def head(self) -> tuple[int, str]:
        """The last record's id and hash ((0, 64 zeros) for an empty log)."""
        query = sa.select(audit_head_table.c.last_id, audit_head_table.c.last_hash).where(
            audit_head_table.c.id == AUDIT_HEAD_ID
        )
        with self._db.engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))

    def count(self, action: str | None = None, since: datetime | None = None, until: datetime | None = None) -> int:
        """How many records match (same filters as :meth:`records`)."""
        query = _filtered(sa.select(sa.func.count()).select_from(audit_table), action=action, since=since, until=until)
        with self._db.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
