"""Which sources vouch for an entry, and how many *independent* sources stand behind each one.

An entry's sources are the rows of ``entry_sources`` (written by hand or by feed sync) plus, as an
implicit source, its own ``bank_entries.source`` when that is not empty and has no row of its own
(a row, even a withdrawn one, speaks for that source). Source names are compared trimmed and
lower-cased.

``vouchers`` counts, for an entry E, the distinct names among the *active* sources of E and of
every other enabled entry, in an enabled bank, holding the same signal type and value: the
same hash on two lists from two owners counts twice, the same owner's list imported into two banks
once. An entry with no named source at all counts as one (its bank). Bulk imports write no
``entry_sources`` rows: their source lives in ``bank_entries.source`` only, which counts as above.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from brightline.errors import EntryNotFoundError, ValidationError
from brightline.store.db import Database
from brightline.store.models import banks_table, entries_table, utcnow
from brightline.store.models_provenance import MAX_REMOTE_ID, MAX_SOURCE_NAME, entry_sources_table

_E = entries_table.c
_B = banks_table.c
_S = entry_sources_table.c
_ID_CHUNK = 5_000
_MAX_TAGS = 64


def source_name(source: str) -> str:
    """A source name as stored and compared: trimmed, lower-case, 1 to 128 characters."""
    if not isinstance(source, str) or not source.strip() or len(source.strip()) > MAX_SOURCE_NAME:
        raise ValidationError(f"a source name must be 1 to {MAX_SOURCE_NAME} characters, got {source!r}")
    return source.strip().lower()


@dataclass(frozen=True)
class EntrySource:
    """One source vouching (or having vouched) for an entry; ``recorded`` is False for the implicit one."""

    entry_id: int
    source: str
    remote_id: str | None
    classification: str
    tags: tuple[str, ...]
    first_seen_at: datetime
    last_seen_at: datetime
    withdrawn_at: datetime | None = None
    recorded: bool = True

    @property
    def active(self) -> bool:
        """Whether the source still vouches for the entry."""
        return self.withdrawn_at is None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = dict(self.__dict__)
        out["tags"] = list(self.tags)
        for key in ("first_seen_at", "last_seen_at", "withdrawn_at"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        out["active"] = self.active
        return out


def _tags(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        raise ValidationError("tags must be a list of strings, not one string")
    out = sorted({str(t).strip() for t in tags if str(t).strip()})
    if len(out) > _MAX_TAGS or any(len(t) > 64 for t in out):
        raise ValidationError(f"at most {_MAX_TAGS} tags of at most 64 characters each")
    return out


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _ID_CHUNK):
        yield ids[start : start + _ID_CHUNK]


class ProvenanceService:
    """Sources vouching for bank entries: record, withdraw, list and count them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def vouch(
        self,
        entry_id: int,
        *,
        source: str,
        remote_id: str | None = None,
        classification: str = "",
        tags: Iterable[str] = (),
        at: datetime | None = None,
    ) -> EntrySource:
        """Record that ``source`` vouches for the entry (again): upserts its row and clears any withdrawal."""
        name = source_name(source)
        if remote_id is not None and (not isinstance(remote_id, str) or len(remote_id) > MAX_REMOTE_ID):
            raise ValidationError(f"remote_id must be text of at most {MAX_REMOTE_ID} characters")
        if not isinstance(classification, str) or len(classification) > 64:
            raise ValidationError("classification must be text of at most 64 characters")
        tag_text = json.dumps(_tags(tags))
        moment = at or utcnow()
        if moment.tzinfo is None:
            raise ValidationError("at must be timezone-aware")
        try:
            return self._vouch(entry_id, name, remote_id, classification, tag_text, moment)
        except IntegrityError:
            # Another writer inserted the same (entry, source) first: now it is an update.
            return self._vouch(entry_id, name, remote_id, classification, tag_text, moment)

    def _vouch(
        self, entry_id: int, name: str, remote_id: str | None, classification: str, tags: str, at: datetime
    ) -> EntrySource:
        with self._db.write_connection() as conn:
            if conn.execute(sa.select(_E.id).where(_E.id == entry_id)).first() is None:
                raise EntryNotFoundError(f"no entry with id {entry_id!r}")
            row = conn.execute(
                sa.select(_S.id, _S.first_seen_at, _S.remote_id).where(_S.entry_id == entry_id, _S.source == name)
            ).first()
            if row is None:
                conn.execute(
                    sa.insert(entry_sources_table).values(
                        entry_id=entry_id,
                        source=name,
                        remote_id=remote_id,
                        classification=classification,
                        tags=tags,
                        first_seen_at=at,
                        last_seen_at=at,
                        withdrawn_at=None,
                    )
                )
            else:
                conn.execute(
                    sa.update(entry_sources_table)
                    .where(_S.id == row.id)
                    .values(
                        remote_id=remote_id if remote_id is not None else row.remote_id,
                        classification=classification,
                        tags=tags,
                        first_seen_at=min(row.first_seen_at, at),
                        last_seen_at=at,
                        withdrawn_at=None,
                    )
                )
            return self._recorded(conn, entry_id, name)

    def withdraw(self, entry_id: int, *, source: str, at: datetime | None = None) -> bool:
        """Record that ``source`` no longer vouches for the entry; False if it was not vouching."""
        name = source_name(source)
        moment = at or utcnow()
        with self._db.write_connection() as conn:
            entry = conn.execute(sa.select(_E.source, _E.added_at).where(_E.id == entry_id)).first()
            if entry is None:
                raise EntryNotFoundError(f"no entry with id {entry_id!r}")
            updated = conn.execute(
                sa.update(entry_sources_table)
                .where(_S.entry_id == entry_id, _S.source == name, _S.withdrawn_at.is_(None))
                .values(withdrawn_at=moment)
            ).rowcount
            if updated:
                return True
            listed = conn.execute(sa.select(_S.id).where(_S.entry_id == entry_id, _S.source == name)).first()
            if listed is None and (entry.source or "").strip().lower() == name:
                # The implicit source withdraws: a withdrawn row now speaks for it.
                conn.execute(
                    sa.insert(entry_sources_table).values(
                        entry_id=entry_id,
                        source=name,
                        first_seen_at=entry.added_at,
                        last_seen_at=entry.added_at,
                        withdrawn_at=moment,
                    )
                )
                return True
            return False

    def _recorded(self, conn: Connection, entry_id: int, name: str) -> EntrySource:
        row = conn.execute(sa.select(entry_sources_table).where(_S.entry_id == entry_id, _S.source == name)).one()
        return _source_of(row._mapping)

    def sources_of(self, entry_id: int) -> list[EntrySource]:
        """Every source of an entry, recorded or implicit, active or withdrawn, by name."""
        with self._db.session(snapshot=True) as session:
            conn = session.connection()
            entry = conn.execute(sa.select(_E.source, _E.added_at).where(_E.id == entry_id)).first()
            if entry is None:
                raise EntryNotFoundError(f"no entry with id {entry_id!r}")
            rows = conn.execute(sa.select(entry_sources_table).where(_S.entry_id == entry_id)).mappings().all()
        found = [_source_of(row) for row in rows]
        implicit = (entry.source or "").strip().lower()[:MAX_SOURCE_NAME]
        if implicit and implicit not in {s.source for s in found}:
            found.append(EntrySource(entry_id, implicit, None, "", (), entry.added_at, entry.added_at, recorded=False))
        return sorted(found, key=lambda s: s.source)

    def vouchers(self, entry_ids: Sequence[int]) -> dict[int, int]:
        """Independent active sources per entry (see the module docstring); entries not found count 1."""
        wanted = sorted(set(entry_ids))
        counts = dict.fromkeys(wanted, 1)
        if not wanted:
            return counts
        with self._db.session(snapshot=True) as session:
            conn = session.connection()
            own: dict[int, tuple[str, str]] = {}
            implicit: dict[int, str] = {}
            for chunk in _chunks(wanted):
                for entry_id, signal_type, key, source in conn.execute(
                    sa.select(_E.id, _E.signal_type, _E.value_key, _E.source).where(_E.id.in_(chunk))
                ):
                    own[entry_id] = (signal_type, key)
                    implicit[entry_id] = (source or "").strip().lower()
            peers = _peers(conn, set(own.values()), implicit)
            listed = _listed(conn, sorted(set(implicit)))
        for entry_id, pair in own.items():
            holders = {entry_id} | peers.get(pair, set())
            names: set[str] = set()
            for holder in holders:
                active, seen = listed.get(holder, (set(), set()))
                names |= active
                name = implicit.get(holder, "")
                if name and name not in seen:
                    names.add(name)
            counts[entry_id] = max(1, len(names))
        return counts


def _peers(conn: Connection, pairs: set[tuple[str, str]], implicit: dict[int, str]) -> dict[tuple[str, str], set[int]]:
    """Enabled entries in enabled banks holding each (signal type, value key); fills ``implicit`` for them."""
    by_type: dict[str, list[str]] = {}
    for signal_type, key in pairs:
        by_type.setdefault(signal_type, []).append(key)
    found: dict[tuple[str, str], set[int]] = {}
    for signal_type, keys in by_type.items():
        for start in range(0, len(keys), _ID_CHUNK):
            stmt = (
                sa.select(_E.id, _E.value_key, _E.source)
                .join_from(entries_table, banks_table)
                .where(
                    _E.signal_type == signal_type,
                    _E.value_key.in_(keys[start : start + _ID_CHUNK]),
                    _E.enabled.is_(True),
                    _B.enabled.is_(True),
                )
            )
            for entry_id, key, source in conn.execute(stmt):
                found.setdefault((signal_type, key), set()).add(entry_id)
                implicit.setdefault(entry_id, (source or "").strip().lower())
    return found


def _listed(conn: Connection, entry_ids: list[int]) -> dict[int, tuple[set[str], set[str]]]:
    """Per entry: its active recorded sources, and every recorded source (active or withdrawn)."""
    out: dict[int, tuple[set[str], set[str]]] = {}
    for chunk in _chunks(entry_ids):
        for entry_id, source, withdrawn in conn.execute(
            sa.select(_S.entry_id, _S.source, _S.withdrawn_at).where(_S.entry_id.in_(chunk))
        ):
            active, seen = out.setdefault(entry_id, (set(), set()))
            seen.add(source)
            if withdrawn is None:
                active.add(source)
    return out


def _source_of(row: Any) -> EntrySource:
    return EntrySource(
        entry_id=int(row["entry_id"]),
        source=row["source"],
        remote_id=row["remote_id"],
        classification=row["classification"],
        tags=tuple(json.loads(row["tags"] or "[]")),
        first_seen_at=row["first_seen_at"],
        last_seen_at=row["last_seen_at"],
        withdrawn_at=row["withdrawn_at"],
    )
