"""Apply one source batch inside the caller's write transaction: entries, provenance, withdrawals, digests, audit.

Everything here is idempotent given the same starting state: an entry already vouched for by
the source is only touched again, a withdrawal of an id the source no longer vouches for does
nothing. With the checkpoint committed in the same transaction, a batch is applied exactly once.

An entry is disabled when its last active voucher withdraws (its own ``bank_entries.source``
counts as a voucher unless a recorded row speaks for that name); a source supplying the entry
again re-enables it only if that source's own withdrawal disabled it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from brightline.banks import audit_events
from brightline.banks.digest import Delta, rows_delta
from brightline.banks.inserts import EntryInserter
from brightline.banks.types import EntryInput
from brightline.banks.validation import EntryNormaliser
from brightline.errors import BrightlineError
from brightline.sources.types import SourceBatch, SourceEntry
from brightline.store.models import banks_table, entries_table, value_key
from brightline.store.models_provenance import MAX_REMOTE_ID, entry_sources_table

_E = entries_table.c
_B = banks_table.c
_S = entry_sources_table.c
_CHUNK = 2_000
MAX_PROBLEMS = 20
# Runs of hex digits long enough to be a hash: problem texts end up in status pages and logs.
_HEXISH = re.compile(r"[0-9a-fA-F]{12,}")


def redact(text: str) -> str:
    """``text`` cut to 200 characters with anything that looks like a hash value blanked out."""
    return _HEXISH.sub("…", text)[:200]


@dataclass
class BatchOutcome:
    """What applying one batch did; ``bank_added``/``bank_removed`` count entries switched on/off per bank id."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    unknown_removals: int = 0
    malformed: int = 0
    problems: list[str] = field(default_factory=list)
    newest: datetime | None = None
    bank_added: dict[int, int] = field(default_factory=dict)
    bank_removed: dict[int, int] = field(default_factory=dict)

    def problem(self, text: str) -> None:
        """Count one malformed record and remember what was wrong (the first few)."""
        self.malformed += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(redact(text))


@dataclass(frozen=True)
class _Bank:
    id: int
    name: str
    domain: str


@dataclass(frozen=True)
class _Upsert:
    remote_id: str
    bank: _Bank
    signal_type: str
    value: str
    key: str
    category: str
    classification: str
    tags: str  # JSON list


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _tags_json(tags: Iterable[str]) -> str | None:
    clean = sorted({str(t).strip()[:64] for t in tags if str(t).strip()})
    return None if len(clean) > 64 else json.dumps(clean)


class BatchApplier:
    """Applies batches of one source to the banks, in the caller's transaction, stamped with ``revision``."""

    def __init__(
        self,
        conn: Connection,
        *,
        source: str,
        default_bank: str,
        bank_map: Mapping[str, str],
        revision: int,
        now: datetime,
    ) -> None:
        self._conn = conn
        self._source = source
        self._default = default_bank.lower()
        self._map = {k.strip().lower(): v.lower() for k, v in bank_map.items()}
        self._revision = revision
        self._now = now
        self._actor = f"source:{source}"
        self._banks = {
            row.name_key: _Bank(row.id, row.name, row.domain)
            for row in conn.execute(sa.select(_B.id, _B.name, _B.name_key, _B.domain))
        }
        self._by_id = {bank.id: bank for bank in self._banks.values()}
        self._normalise = EntryNormaliser()

    # --- upserts --------------------------------------------------------------------------

    def _target(self, entry: SourceEntry) -> str:
        if entry.bank:
            return entry.bank.lower()
        for label in (entry.category, entry.classification):
            if label and label.strip().lower() in self._map:
                return self._map[label.strip().lower()]
        return self._default

    def _prepare(self, entry: SourceEntry, out: BatchOutcome) -> _Upsert | None:
        rid = entry.remote_id if isinstance(entry.remote_id, str) else ""
        if not rid or len(rid) > MAX_REMOTE_ID:
            out.problem(f"remote id missing or longer than {MAX_REMOTE_ID} characters")
            return None
        bank = self._banks.get(self._target(entry))
        if bank is None:
            out.problem(f"{rid}: no bank named {self._target(entry)!r}")
            return None
        tags = _tags_json(entry.tags)
        if tags is None or len(entry.classification or "") > 64:
            out.problem(f"{rid}: more than 64 tags, or a classification over 64 characters")
            return None
        try:
            clean = self._normalise(EntryInput(entry.signal_type, entry.value, category=entry.category or ""))
        except BrightlineError as exc:
            out.problem(f"{rid}: {exc.message}"[:200])
            return None
        for moment in (entry.updated_at, entry.added_at):
            if moment is not None and moment.tzinfo is not None and (out.newest is None or moment > out.newest):
                out.newest = moment
        return _Upsert(
            rid,
            bank,
            clean.signal_type,
            clean.value,
            value_key(clean.value),
            clean.category,
            entry.classification,
            tags,
        )

    def upsert(self, entries: Sequence[SourceEntry], out: BatchOutcome) -> set[int]:
        """Add or refresh entries; returns entries whose vouch moved away (to check for disabling)."""
        latest: dict[str, _Upsert] = {}
        for entry in entries:
            prepared = self._prepare(entry, out)
            if prepared is not None:
                latest.pop(prepared.remote_id, None)  # the last record for an id wins
                latest[prepared.remote_id] = prepared
        by_bank: dict[int, list[_Upsert]] = {}
        for item in latest.values():
            by_bank.setdefault(item.bank.id, []).append(item)
        moved: set[int] = set()
        for bank_id, items in by_bank.items():
            moved |= self._upsert_bank(self._by_id[bank_id], items, out)
        return moved

    def _entry_ids(self, bank: _Bank, items: list[_Upsert]) -> dict[tuple[str, str], tuple[int, bool, str]]:
        found: dict[tuple[str, str], tuple[int, bool, str]] = {}
        keys = sorted({i.key for i in items})
        for chunk in _chunks(keys):
            rows = self._conn.execute(
                sa.select(_E.id, _E.signal_type, _E.value_key, _E.enabled, _E.category).where(
                    _E.bank_id == bank.id, _E.value_key.in_(chunk)
                )
            )
            for row in rows:
                found[(row.signal_type, row.value_key)] = (int(row.id), bool(row.enabled), row.category)
        return found

    def _upsert_bank(self, bank: _Bank, items: list[_Upsert], out: BatchOutcome) -> set[int]:
        conn = self._conn
        existing = self._entry_ids(bank, items)
        missing = [i for i in items if (i.signal_type, i.key) not in existing]
        if missing:
            inserter = EntryInserter(conn, bank_id=bank.id, bank_domain=bank.domain, revision=self._revision)
            for item in missing:
                inserter.add(EntryInput(item.signal_type, item.value, self._source, item.category, bank.domain))
            inserter.flush()
            existing = self._entry_ids(bank, items)
        # Two remote ids naming one value in one bank: one vouch row holds the last of them.
        by_entry: dict[int, _Upsert] = {}
        for item in items:
            entry_id = existing[(item.signal_type, item.key)][0]
            if by_entry.pop(entry_id, None) is not None:
                out.unchanged += 1
            by_entry[entry_id] = item
        items = list(by_entry.values())
        new_rows = (_E.bank_id == bank.id) & (_E.revision == self._revision) & (_E.source == self._source)
        fresh_ids = set(conn.execute(sa.select(_E.id).where(new_rows)).scalars())
        target = {i.remote_id: existing[(i.signal_type, i.key)][0] for i in items}
        ours = self._vouches(list(set(target.values())))
        moved = self._moved(target)
        inserts, updates, enable, recategorise = [], [], [], []
        for item in items:
            entry_id, enabled, category = existing[(item.signal_type, item.key)]
            row = ours.get(entry_id)
            fields = {"remote_id": item.remote_id, "classification": item.classification, "tags": item.tags}
            if row is None:
                inserts.append({"entry_id": entry_id, "source": self._source, **fields})
                out.added += 1
            else:
                updates.append({"row_id": row["id"], **fields})
                if row["withdrawn_at"] is not None:
                    out.added += 1
                    if not enabled:
                        enable.append(entry_id)  # our own withdrawal switched it off
                elif any(row[k] != v for k, v in fields.items()) or (item.category and item.category != category):
                    out.changed += 1
                else:
                    out.unchanged += 1
            if item.category and item.category != category and entry_id not in fresh_ids:
                recategorise.append({"e_id": entry_id, "category": item.category})
        now = self._now
        if inserts:
            conn.execute(
                sa.insert(entry_sources_table),
                [{**r, "first_seen_at": now, "last_seen_at": now, "withdrawn_at": None} for r in inserts],
            )
        if updates:
            conn.execute(
                sa.update(entry_sources_table)
                .where(_S.id == sa.bindparam("row_id"))
                .values(
                    remote_id=sa.bindparam("remote_id"),
                    classification=sa.bindparam("classification"),
                    tags=sa.bindparam("tags"),
                    last_seen_at=now,
                    withdrawn_at=None,
                ),
                updates,
            )
        if recategorise:
            conn.execute(
                sa.update(entries_table)
                .where(_E.id == sa.bindparam("e_id"))
                .values(category=sa.bindparam("category"), revision=self._revision, updated_at=now),
                recategorise,
            )
        if fresh_ids:
            plus = rows_delta(conn, new_rows)[0]
            audit_events.added(
                conn, bank_id=bank.id, bank=bank.name, count=len(fresh_ids), plus=plus, sources={self._source},
                actor=self._actor,
            )  # fmt: skip
            out.bank_added[bank.id] = out.bank_added.get(bank.id, 0) + len(fresh_ids)
        if enable:
            self._toggle(bank, enable, True, out)
        return moved - set(target.values())

    def _vouches(self, entry_ids: list[int]) -> dict[int, RowMapping]:
        found: dict[int, RowMapping] = {}
        for chunk in _chunks(sorted(entry_ids)):
            stmt = sa.select(entry_sources_table).where(_S.source == self._source, _S.entry_id.in_(chunk))
            for row in self._conn.execute(stmt).mappings():
                found[int(row["entry_id"])] = row
        return found

    def _moved(self, target: Mapping[str, int]) -> set[int]:
        """Withdraw our active vouches whose remote id now names another entry; returns those entries."""
        stale: list[tuple[int, int]] = []
        for chunk in _chunks(sorted(target)):
            rows = self._conn.execute(
                sa.select(_S.id, _S.entry_id, _S.remote_id).where(
                    _S.source == self._source, _S.remote_id.in_(chunk), _S.withdrawn_at.is_(None)
                )
            )
            stale.extend((int(r.id), int(r.entry_id)) for r in rows if target[r.remote_id] != r.entry_id)
        self._withdraw_rows([row_id for row_id, _ in stale])
        return {entry_id for _, entry_id in stale}

    # --- withdrawals ---------------------------------------------------------------------

    def _withdraw_rows(self, row_ids: list[int]) -> None:
        for chunk in _chunks(sorted(row_ids)):
            self._conn.execute(sa.update(entry_sources_table).where(_S.id.in_(chunk)).values(withdrawn_at=self._now))

    def remove(self, remote_ids: Sequence[str], out: BatchOutcome) -> set[int]:
        """Withdraw the source's vouch for each remote id; returns the entries it stopped vouching for."""
        wanted = sorted({r for r in remote_ids if isinstance(r, str) and r})
        active: dict[int, int] = {}
        known: set[str] = set()
        for chunk in _chunks(wanted):
            for row in self._conn.execute(
                sa.select(_S.id, _S.entry_id, _S.remote_id, _S.withdrawn_at).where(
                    _S.source == self._source, _S.remote_id.in_(chunk)
                )
            ):
                known.add(row.remote_id)
                if row.withdrawn_at is None:
                    active[int(row.id)] = int(row.entry_id)
        out.unknown_removals += len(wanted) - len(known)
        out.removed += len(active)
        self._withdraw_rows(list(active))
        return set(active.values())

    def sweep(self, since: datetime, out: BatchOutcome) -> set[int]:
        """Withdraw every vouch of the source not refreshed since ``since`` (the end of a full snapshot)."""
        rows = self._conn.execute(
            sa.select(_S.id, _S.entry_id).where(
                _S.source == self._source, _S.withdrawn_at.is_(None), _S.last_seen_at < since
            )
        ).all()
        out.removed += len(rows)
        self._withdraw_rows([int(r.id) for r in rows])
        return {int(r.entry_id) for r in rows}

    def disable_orphans(self, entry_ids: set[int], out: BatchOutcome) -> None:
        """Disable the enabled entries among ``entry_ids`` that no active source vouches for any more."""
        orphans: dict[int, list[int]] = {}
        for chunk in _chunks(sorted(entry_ids)):
            rows = self._conn.execute(
                sa.select(_E.id, _E.bank_id, _E.source).where(_E.id.in_(chunk), _E.enabled.is_(True))
            ).all()
            if not rows:
                continue
            listed: dict[int, dict[str, bool]] = {}
            for vouch in self._conn.execute(
                sa.select(_S.entry_id, _S.source, _S.withdrawn_at).where(_S.entry_id.in_([r.id for r in rows]))
            ):
                listed.setdefault(int(vouch.entry_id), {})[vouch.source] = vouch.withdrawn_at is None
            for row in rows:
                vouches = listed.get(int(row.id), {})
                implicit = (row.source or "").strip().lower()
                if any(vouches.values()) or (implicit and implicit not in vouches):
                    continue
                orphans.setdefault(int(row.bank_id), []).append(int(row.id))
        for bank_id, ids in orphans.items():
            self._toggle(self._by_id[bank_id], ids, False, out)

    def _toggle(self, bank: _Bank, ids: list[int], enabled: bool, out: BatchOutcome) -> None:
        change, changed = Delta(), list[int]()
        for chunk in _chunks(sorted(ids)):
            flipping = _E.id.in_(chunk) & (_E.enabled != enabled)
            part, part_ids, _ = rows_delta(self._conn, flipping)
            change, changed = change + part, changed + part_ids
            self._conn.execute(
                sa.update(entries_table)
                .where(flipping)
                .values(enabled=enabled, revision=self._revision, updated_at=self._now)
            )
        if not changed:
            return
        audit_events.toggled(
            self._conn, bank_id=bank.id, bank=bank.name, enabled=enabled, ids=changed, change=change, actor=self._actor
        )
        counts = out.bank_added if enabled else out.bank_removed
        counts[bank.id] = counts.get(bank.id, 0) + len(changed)


def apply_batch(applier: BatchApplier, batch: SourceBatch, *, sweep_from: datetime | None) -> BatchOutcome:
    """Upserts, removals and (at a snapshot's end) the sweep of one batch, with orphans disabled."""
    out = BatchOutcome(
        malformed=max(0, int(batch.malformed)), problems=[redact(p) for p in batch.problems[:MAX_PROBLEMS]]
    )
    touched = applier.upsert(batch.upserts, out)
    touched |= applier.remove(batch.removals, out)
    if batch.snapshot_end and sweep_from is not None:
        touched |= applier.sweep(sweep_from, out)
    applier.disable_orphans(touched, out)
    return out
