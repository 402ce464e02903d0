"""Banks and their entries: create, change and query hash lists, and feed index syncs."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from brightline.banks import audit_events, revisions
from brightline.banks.digest import Delta, packed_delta, rows_delta
from brightline.banks.fast_insert import insert_hashes
from brightline.banks.inserts import EntryInserter
from brightline.banks.reads import BankReads
from brightline.banks.types import AddResult, BankInfo, EntryInput
from brightline.banks.validation import (
    DEFAULT_DOMAIN,
    MAX_SOURCE_CHARS,
    EntryNormaliser,
    bounded_text,
    normalise_domain,
    plain_hex_bits,
    validate_bank_name,
    validate_threshold,
)
from brightline.errors import BankExistsError, EntryNotFoundError, ValidationError
from brightline.signals.registry import get_signal_type
from brightline.store.models import banks_table, entries_table, tombstones_table, utcnow

# Ids per IN (...) list: well under SQLite's 32766 and PostgreSQL's 65535 parameter limits.
_ID_CHUNK = 5_000


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET

_B = banks_table.c
_E = entries_table.c


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _ID_CHUNK):
        yield ids[start : start + _ID_CHUNK]


def _entry_ids(ids: Iterable[int]) -> list[int]:
    unique = set()
    for entry_id in ids:
        if isinstance(entry_id, bool) or not isinstance(entry_id, int):
            raise ValidationError(f"entry ids must be whole numbers, got {entry_id!r}")
        unique.add(entry_id)
    return sorted(unique)


class BankService(BankReads):
    """Every bank and entry operation; each public method is one transaction."""

    # --- banks ------------------------------------------------------------------------

    def create_bank(
        self,
        name: str,
        *,
        domain: str = DEFAULT_DOMAIN,
        threshold: int | None = None,
        description: str = "",
        actor: str = "system",
    ) -> BankInfo:
        """Create an empty, enabled bank; BankExistsError if the name (ignoring case) is taken."""
        validate_bank_name(name)
        values = {
            "name": name,
            "name_key": name.lower(),
            "domain": normalise_domain(domain),
            "threshold": validate_threshold(threshold),
            "description": str(description),
        }
        try:
            with self._db.session(write=True) as session:
                conn = session.connection()
                if conn.execute(sa.select(_B.id).where(_B.name_key == name.lower())).first() is not None:
                    raise BankExistsError(f"a bank named {name!r} already exists")
                now = utcnow()
                conn.execute(sa.insert(banks_table).values(**values, enabled=True, created_at=now, updated_at=now))
                bank = self._bank_row(conn, name)
                audit_events.created(conn, bank_id=bank.id, bank=bank.name, domain=bank.domain, actor=actor)
                return self._bank_info(conn, bank)
        except IntegrityError:
            # Another writer created the same name between our check and our insert.
            raise BankExistsError(f"a bank named {name!r} already exists") from None

    def rename_bank(self, old: str, new: str, *, actor: str = "system") -> BankInfo:
        """Give a bank a new name (a change of case only is allowed)."""
        validate_bank_name(new)
        try:
            with self._db.session(write=True) as session:
                conn = session.connection()
                revision = revisions.bump_revision(conn)
                bank = self._bank_row(conn, old)
                clash = conn.execute(sa.select(_B.id).where(_B.name_key == new.lower(), _B.id != bank.id)).first()
                if clash is not None:
                    raise BankExistsError(f"a bank named {new!r} already exists")
                conn.execute(
                    sa.update(banks_table)
                    .where(_B.id == bank.id)
                    .values(name=new, name_key=new.lower(), revision=revision, updated_at=utcnow())
                )
                audit_events.renamed(conn, bank_id=bank.id, old=bank.name, new=new, actor=actor)
                return self._bank_info(conn, self._bank_row(conn, new))
        except IntegrityError:
            raise BankExistsError(f"a bank named {new!r} already exists") from None

    def update_bank(
        self,
        name: str,
        *,
        threshold: int | _Unset | None = UNSET,
        domain: str | _Unset = UNSET,
        description: str | _Unset = UNSET,
        enabled: bool | _Unset = UNSET,
        actor: str = "system",
    ) -> BankInfo:
        """Change the given settings of a bank; threshold None means the signal type's default."""
        values: dict[str, Any] = {}
        if not isinstance(threshold, _Unset):
            values["threshold"] = validate_threshold(threshold)
        if not isinstance(domain, _Unset):
            values["domain"] = normalise_domain(domain)
        if not isinstance(description, _Unset):
            values["description"] = str(description)
        if not isinstance(enabled, _Unset):
            if not isinstance(enabled, bool):
                raise ValidationError(f"enabled must be true or false, got {enabled!r}")
            values["enabled"] = enabled
        with self._db.session(write=True) as session:
            conn = session.connection()
            # Only what an index sees (switch, threshold) needs a new revision.
            seen_by_index = "threshold" in values or "enabled" in values
            revision = revisions.bump_revision(conn) if seen_by_index else None
            bank = self._bank_row(conn, name)
            if values:
                changes = {k: v for k, v in values.items() if bank._mapping[k] != v}
                if revision is not None:
                    values["revision"] = revision
                conn.execute(sa.update(banks_table).where(_B.id == bank.id).values(**values, updated_at=utcnow()))
                if changes:
                    audit_events.updated(conn, bank_id=bank.id, bank=bank.name, changes=changes, actor=actor)
            return self._bank_info(conn, self._bank_row(conn, name))

    def delete_bank(self, name: str, *, actor: str = "system") -> int:
        """Delete a bank and all its entries (leaving tombstones); returns how many entries went."""
        with self._db.session(write=True) as session:
            conn = session.connection()
            revision = revisions.bump_revision(conn)
            bank = self._bank_row(conn, name)
            doomed = sa.select(_E.id, sa.literal(revision, sa.BigInteger())).where(_E.bank_id == bank.id)
            conn.execute(sa.insert(tombstones_table).from_select(["entry_id", "revision"], doomed))
            removed = conn.execute(sa.delete(entries_table).where(_E.bank_id == bank.id)).rowcount
            conn.execute(sa.delete(banks_table).where(_B.id == bank.id))
            audit_events.deleted(conn, bank=bank.name, entries=int(removed), actor=actor)
            return int(removed)

    # --- entries ----------------------------------------------------------------------

    def add_entries(self, bank_name: str, entries: Iterable[EntryInput], *, actor: str = "system") -> AddResult:
        """Add entries atomically: every value is validated, and values already in the bank are left as they are.

        ``entries`` is consumed lazily in batches, so it may be a generator over a huge file;
        any exception it raises rolls the whole add back. New ids follow input order, except
        within batches of 10,000 or more, which are written in hash order for speed.
        """
        normalise = EntryNormaliser()
        with self._db.session(write=True) as session:
            conn = session.connection()
            revision = revisions.bump_revision(conn)
            bank = self._bank_row(conn, bank_name)
            inserter = EntryInserter(conn, bank_id=bank.id, bank_domain=bank.domain, revision=revision)
            for entry in entries:
                inserter.add(normalise(entry))
            inserter.flush()
            new_rows = (_E.revision == revision) & (_E.bank_id == bank.id)
            plus = rows_delta(conn, new_rows & _E.enabled.is_(True))[0]
            added = int(conn.execute(sa.select(sa.func.count()).where(new_rows)).scalar_one())
            sources = set(conn.execute(sa.select(_E.source).where(new_rows).distinct()).scalars()) if added else set()
            audit_events.added(
                conn, bank_id=bank.id, bank=bank.name, count=added, plus=plus, sources=sources, actor=actor
            )
            return AddResult(added=added, unchanged=inserter.count - added)

    def add_hashes(
        self,
        bank_name: str,
        signal_type: str,
        codes: npt.NDArray[np.uint8],
        *,
        total: int,
        source: str = "",
        actor: str = "system",
    ) -> AddResult:
        """Add packed hex hashes (distinct rows, sorted) as enabled entries at once; ``total`` counts duplicates too."""
        kind = get_signal_type(signal_type)
        bits = plain_hex_bits(kind)
        if bits is None or codes.ndim != 2 or codes.dtype != np.uint8 or codes.shape[1] * 8 != bits:
            raise ValidationError(f"packed values do not fit signal type {kind.name!r}")
        clean_source = bounded_text(source, MAX_SOURCE_CHARS, "source").strip()
        # The digest of the values (a hash per value, ~1.6 s per million) is worked out on a second
        # core while the database inserts them; it is used when every value turns out to be new.
        with ThreadPoolExecutor(1, thread_name_prefix="bank-digest") as digests:
            pending = digests.submit(packed_delta, kind.name, codes)
            try:
                return self._add_hashes(bank_name, kind.name, codes, total, clean_source, actor, pending)
            finally:
                pending.cancel()

    def _add_hashes(
        self,
        bank_name: str,
        signal_type: str,
        codes: npt.NDArray[np.uint8],
        total: int,
        clean_source: str,
        actor: str,
        pending: Future[Delta | None],
    ) -> AddResult:
        with self._db.session(write=True) as session:
            conn = session.connection()
            revision = revisions.bump_revision(conn)
            bank = self._bank_row(conn, bank_name)
            added = insert_hashes(
                conn,
                bank_id=bank.id,
                bank_domain=bank.domain,
                revision=revision,
                signal_type=signal_type,
                codes=codes,
                source=clean_source,
            )
            # Every value new (the usual bulk import): the digest comes from the values, without a read back.
            plus = pending.result() if added == codes.shape[0] else None
            if plus is None:
                plus = rows_delta(conn, (_E.revision == revision) & (_E.bank_id == bank.id))[0]
            audit_events.added(
                conn, bank_id=bank.id, bank=bank.name, count=added, plus=plus, sources={clean_source}, actor=actor
            )
            return AddResult(added=added, unchanged=total - added)

    def _existing_ids(self, conn: Connection, bank_id: int, bank_name: str, ids: list[int]) -> None:
        missing: list[int] = []
        for chunk in _chunks(ids):
            found = set(conn.execute(sa.select(_E.id).where(_E.bank_id == bank_id, _E.id.in_(chunk))).scalars())
            missing.extend(i for i in chunk if i not in found)
        if missing:
            shown = ", ".join(str(i) for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise EntryNotFoundError(f"bank {bank_name!r} has no entries with ids {shown}")

    def remove_entries(self, bank_name: str, ids: Iterable[int], *, actor: str = "system") -> int:
        """Remove entries by id (all must be in the bank, or nothing is removed); returns how many."""
        wanted = _entry_ids(ids)
        with self._db.session(write=True) as session:
            conn = session.connection()
            revision = revisions.bump_revision(conn)
            bank = self._bank_row(conn, bank_name)
            self._existing_ids(conn, bank.id, bank.name, wanted)
            minus = Delta()
            for chunk in _chunks(wanted):
                minus = minus + rows_delta(conn, _E.id.in_(chunk) & _E.enabled.is_(True))[0]
                conn.execute(sa.insert(tombstones_table), [{"entry_id": i, "revision": revision} for i in chunk])
                conn.execute(sa.delete(entries_table).where(_E.id.in_(chunk)))
            audit_events.removed(conn, bank_id=bank.id, bank=bank.name, count=len(wanted), minus=minus, actor=actor)
            return len(wanted)

    def set_entries_enabled(self, bank_name: str, ids: Iterable[int], enabled: bool, *, actor: str = "system") -> int:
        """Enable or disable entries by id (all must be in the bank); returns how many changed."""
        if not isinstance(enabled, bool):
            raise ValidationError(f"enabled must be true or false, got {enabled!r}")
        wanted = _entry_ids(ids)
        with self._db.session(write=True) as session:
            conn = session.connection()
            revision = revisions.bump_revision(conn)
            bank = self._bank_row(conn, bank_name)
            self._existing_ids(conn, bank.id, bank.name, wanted)
            change, changed_ids = Delta(), list[int]()
            now = utcnow()
            for chunk in _chunks(wanted):
                flipping = _E.id.in_(chunk) & (_E.enabled != enabled)
                part, part_ids, _ = rows_delta(conn, flipping)
                change, changed_ids = change + part, changed_ids + part_ids
                conn.execute(
                    sa.update(entries_table).where(flipping).values(enabled=enabled, revision=revision, updated_at=now)
                )
            if changed_ids:
                audit_events.toggled(
                    conn, bank_id=bank.id, bank=bank.name, enabled=enabled, ids=changed_ids, change=change, actor=actor
                )
            return len(changed_ids)
