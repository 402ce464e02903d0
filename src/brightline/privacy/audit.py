"""Checking the audit chain, exporting it as JSON Lines and taking anchors of its head.

``verify`` walks the chain in id order and names the first record that breaks it: a changed row
(its hash no longer matches its contents), a deleted one (an id gap, or a head that names a
record the table no longer has), an inserted one (two records claiming the same predecessor, or
a record beyond the head) and reordered ones (a record whose hash or link fits another position).
A rewrite that recomputes every later hash and the head is caught only by comparing with an
anchor kept outside the database, which is what ``anchor`` is for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

import sqlalchemy as sa

from brightline.actions.keys import derive_key
from brightline.errors import AuditError
from brightline.settings import Settings
from brightline.store.audit import GENESIS_HASH, AuditLog, AuditRecord, canonical_json, iso_utc, record_hash
from brightline.store.db import Database
from brightline.store.models import utcnow
from brightline.store.models_audit import AUDIT_HEAD_ID, audit_head_table, audit_table

__all__ = [
    "VerifyResult",
    "anchor",
    "anchor_key_from_settings",
    "check_anchor_signatures",
    "export_jsonl",
    "read_anchors",
    "read_jsonl",
    "verify",
    "verify_records",
]

CHUNK = 1000
# HKDF context of the anchor-signing key: fixed forever, or old anchors stop verifying.
ANCHOR_CONTEXT = b"brightline audit anchor v1"


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking the chain: ok, how many records were checked, and the first broken one."""

    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str = ""
    head_id: int = 0
    head_hash: str = GENESIS_HASH

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_broken_id": self.first_broken_id,
            "reason": self.reason,
            "head_id": self.head_id,
            "head_hash": self.head_hash,
        }


@dataclass(frozen=True)
class _Link:
    """One stored row as read, before trusting any of it."""

    id: int
    created_at: datetime
    actor: str
    action: str
    subject: str
    details: str  # the stored JSON text
    prev_hash: str
    hash: str


class _BreakError(Exception):
    def __init__(self, record_id: int, reason: str) -> None:
        super().__init__(reason)
        self.record_id = record_id
        self.reason = reason


class _Walker:
    """Checks links one at a time, remembering only the record before (so any chain length streams)."""

    def __init__(self, anchors: Sequence[Mapping[str, Any]]) -> None:
        self.checked = 0
        self.last: _Link | None = None
        self._anchors = {int(a["id"]): str(a["hash"]) for a in anchors}

    def feed(self, link: _Link) -> None:
        before = self.last
        expected = 1 if before is None else before.id + 1
        if link.id != expected:
            raise _BreakError(expected, f"record {expected} is missing (the next record is {link.id})")
        try:
            details = json.loads(link.details)
        except ValueError:
            raise _BreakError(link.id, f"record {link.id}: details are not valid JSON") from None
        actual = record_hash(
            id=link.id,
            created_at=link.created_at,
            actor=link.actor,
            action=link.action,
            subject=link.subject,
            details=details,
            prev_hash=link.prev_hash,
        )
        if before is not None and link.prev_hash != before.hash and link.prev_hash == before.prev_hash:
            # Both claim the same predecessor: the earlier of the two was slipped in between.
            raise _BreakError(
                before.id, f"record {before.id} was inserted (record {link.id} follows the one before it)"
            )
        if actual != link.hash:
            raise _BreakError(link.id, f"record {link.id} was changed or moved (its hash does not match its contents)")
        expected_prev = GENESIS_HASH if before is None else before.hash
        if link.prev_hash != expected_prev:
            raise _BreakError(link.id, f"record {link.id} does not follow record {link.id - 1} (prev_hash differs)")
        anchored = self._anchors.get(link.id)
        if anchored is not None and anchored != link.hash:
            raise _BreakError(
                link.id, f"record {link.id} differs from the anchor taken of it (the chain was rewritten)"
            )
        self.checked += 1
        self.last = link

    def finish(self, head: tuple[int, str] | None) -> None:
        last_id = 0 if self.last is None else self.last.id
        last_hash = GENESIS_HASH if self.last is None else self.last.hash
        if head is not None:
            head_id, head_hash = head
            if head_id > last_id:
                raise _BreakError(last_id + 1, f"record {last_id + 1} is missing (the head names record {head_id})")
            if head_id < last_id:
                raise _BreakError(
                    head_id + 1, f"record {head_id + 1} is beyond the head (inserted after record {head_id})"
                )
            if head_hash != last_hash:
                raise _BreakError(last_id, f"record {last_id} does not match the head's hash")
        for anchor_id in sorted(self._anchors):
            if anchor_id > last_id:
                raise _BreakError(anchor_id, f"record {anchor_id} is anchored but the chain ends at record {last_id}")


def _links(conn: sa.Connection) -> Iterator[_Link]:
    after = 0
    columns = [audit_table.c[name] for name in _Link.__dataclass_fields__]
    while True:
        query = sa.select(*columns).where(audit_table.c.id > after).order_by(audit_table.c.id).limit(CHUNK)
        rows = conn.execute(query).all()
        for row in rows:
            yield _Link(*row)
        if len(rows) < CHUNK:
            return
        after = rows[-1][0]


def _run(walker: _Walker, links: Iterable[_Link], head: Any) -> VerifyResult:
    try:
        for link in links:
            walker.feed(link)
        walker.finish(head() if callable(head) else head)
    except _BreakError as broken:
        return VerifyResult(False, walker.checked, broken.record_id, broken.reason, *_tip(walker))
    return VerifyResult(True, walker.checked, None, "", *_tip(walker))


def _tip(walker: _Walker) -> tuple[int, str]:
    return (0, GENESIS_HASH) if walker.last is None else (walker.last.id, walker.last.hash)


def verify(db: Database, *, anchors: Sequence[Mapping[str, Any]] = (), key: bytes | None = None) -> VerifyResult:
    """Walk the whole chain (in one consistent snapshot) and report the first broken record, if any."""
    check_anchor_signatures(anchors, key)
    walker = _Walker(anchors)
    with db.session(snapshot=True) as session:
        conn = session.connection()

        def head() -> tuple[int, str] | None:
            query = sa.select(audit_head_table.c.last_id, audit_head_table.c.last_hash).where(
                audit_head_table.c.id == AUDIT_HEAD_ID
            )
            row = conn.execute(query).one_or_none()
            if row is None:
                if walker.last is not None:
                    raise _BreakError(1, "the audit head is missing")
                return None
            return int(row[0]), str(row[1])

        return _run(walker, _links(conn), head)


def verify_records(
    records: Iterable[AuditRecord], *, anchors: Sequence[Mapping[str, Any]] = (), key: bytes | None = None
) -> VerifyResult:
    """Check an exported chain (from its first record; there is no head to compare with)."""
    check_anchor_signatures(anchors, key)
    links = (
        _Link(r.id, r.created_at, r.actor, r.action, r.subject, canonical_json(r.details), r.prev_hash, r.hash)
        for r in records
    )
    return _run(_Walker(anchors), links, None)


def export_jsonl(db: Database, out: TextIO, *, since_id: int = 0) -> int:
    """Write the records after ``since_id`` to ``out``, one JSON object a line; returns how many."""
    log = AuditLog(db)
    written = 0
    while True:
        chunk = log.records(since_id=since_id, limit=CHUNK)
        for record in chunk:
            out.write(json.dumps(record.as_dict(), sort_keys=True) + "\n")
        written += len(chunk)
        if len(chunk) < CHUNK:
            return written
        since_id = chunk[-1].id


def read_jsonl(lines: Iterable[str]) -> Iterator[AuditRecord]:
    """Records back from an export (AuditError naming the line if one is malformed)."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            yield AuditRecord(
                id=int(data["id"]),
                created_at=datetime.fromisoformat(data["created_at"]),
                actor=str(data["actor"]),
                action=str(data["action"]),
                subject=str(data["subject"]),
                details=dict(data["details"]),
                prev_hash=str(data["prev_hash"]),
                hash=str(data["hash"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditError(f"line {number}: not an audit record ({exc})") from None


def anchor_key_from_settings(settings: Settings) -> bytes:
    """The key anchors are signed with, derived from the application secret."""
    return derive_key(settings.secret_key, ANCHOR_CONTEXT)


def _signature(anchor_fields: Mapping[str, Any], key: bytes) -> str:
    body = {name: anchor_fields[name] for name in ("id", "hash", "created_at", "count")}
    return hmac.new(key, canonical_json(body).encode("ascii"), hashlib.sha256).hexdigest()


def anchor(db: Database, *, key: bytes | None = None) -> dict[str, Any]:
    """The chain head's digest to keep outside the database: id, hash, when taken, record count (and an HMAC)."""
    with db.session(snapshot=True) as session:
        conn = session.connection()
        last = conn.execute(
            sa.select(audit_table.c.id, audit_table.c.hash).order_by(audit_table.c.id.desc()).limit(1)
        ).one_or_none()
        count = int(conn.execute(sa.select(sa.func.count()).select_from(audit_table)).scalar_one())
    result: dict[str, Any] = {
        "id": 0 if last is None else int(last[0]),
        "hash": GENESIS_HASH if last is None else str(last[1]),
        "created_at": iso_utc(utcnow()),
        "count": count,
    }
    if key is not None:
        result["hmac"] = _signature(result, key)
    return result


def check_anchor_signatures(anchors: Sequence[Mapping[str, Any]], key: bytes | None) -> None:
    """Refuse anchors that are malformed or, when a key is given, whose HMAC is missing or wrong."""
    for item in anchors:
        if not isinstance(item, Mapping) or not {"id", "hash", "created_at", "count"} <= set(item):
            raise AuditError("an anchor needs id, hash, created_at and count")
        if key is None:
            continue
        given = item.get("hmac")
        if not isinstance(given, str) or not hmac.compare_digest(given, _signature(item, key)):
            raise AuditError(f"anchor of record {item['id']} has a missing or wrong signature")


def read_anchors(text: str) -> list[dict[str, Any]]:
    """Anchors from a file's text: one JSON object, a JSON list, or one object a line."""
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise AuditError(f"anchor file is not JSON: {exc}") from None
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(item, dict) for item in items):
        raise AuditError("an anchor file holds JSON objects")
    check_anchor_signatures(items, None)
    return items
