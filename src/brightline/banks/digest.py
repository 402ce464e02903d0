"""Bank version digests: an order-independent running digest per bank, kept in step with every change.

Each entry has a *leaf*: SHA-256 of ``"brightline-entry" NUL signal_type NUL value_key`` (value_key
is the lower-case value itself for hashes up to 72 hex digits). A bank's digest is the sum of the
leaves of its enabled entries modulo 2**256, with the count of those entries. A sum does not
depend on order, so adding, removing, enabling or disabling entries updates it from the changed
rows alone, in the same transaction, however large the bank; ``compute`` recomputes it from
every row to check the stored one. ``compute(..., sorted_digest=True)`` also gives SHA-256 over
the sorted leaves, a collision-resistant commitment a list owner can recompute from their own list.

The running sum detects any change made outside brightline's write paths; it is not meant to
withstand someone who may write the database *and* searches for entries whose leaves cancel out
(a generalised-birthday search): the hash-chained audit log, which records each change with the
digest after it, is what makes history tamper-evident.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from brightline.store.models import VALUE_KEY_MAX, entries_table, utcnow
from brightline.store.models_provenance import bank_digests_table

LEAF_TAG = b"brightline-entry\x00"
MODULUS = 1 << 256
# Leaves are summed as 16 lanes of 16 bits in uint64 (exact for up to 2**48 entries), then carried once.
_LANES = 16
_READ_BATCH = 50_000
_E = entries_table.c
_G = bank_digests_table.c


@dataclass(frozen=True, slots=True)
class BankDigest:
    """A bank version: the digest of its enabled entries and how many there are."""

    digest: str
    entries: int

    def as_details(self) -> dict[str, object]:
        """The form bank.* audit records carry."""
        return {"digest": self.digest, "entries": self.entries}


@dataclass(frozen=True, slots=True)
class Delta:
    """The sum of some entries' leaves (mod 2**256) and how many entries it covers."""

    total: int = 0
    count: int = 0

    def __add__(self, other: Delta) -> Delta:
        return Delta((self.total + other.total) % MODULUS, self.count + other.count)


EMPTY = BankDigest("0" * 64, 0)


def leaf(signal_type: str, key: str) -> bytes:
    """The 32-byte leaf of one entry, from its signal type and value key."""
    return hashlib.sha256(LEAF_TAG + signal_type.encode() + b"\x00" + key.encode()).digest()


def fold(leaves: bytes) -> int:
    """Sum of concatenated 32-byte leaves as big-endian integers, mod 2**256."""
    if not leaves:
        return 0
    lanes = np.frombuffer(leaves, dtype=">u2").reshape(-1, _LANES)
    sums = np.add.reduce(lanes, axis=0, dtype=np.uint64)
    total = 0
    for lane in sums.tolist():
        total = (total << 16) + int(lane)
    return total % MODULUS


def delta_of(pairs: Iterable[tuple[str, str]]) -> Delta:
    """The Delta of entries given as (signal_type, value_key) pairs."""
    sha = hashlib.sha256
    count = 0
    parts: list[bytes] = []
    prefixes: dict[str, bytes] = {}
    for signal_type, key in pairs:
        prefix = prefixes.get(signal_type)
        if prefix is None:
            prefix = prefixes[signal_type] = LEAF_TAG + signal_type.encode() + b"\x00"
        parts.append(sha(prefix + key.encode()).digest())
        count += 1
    return Delta(fold(b"".join(parts)), count)


def packed_delta(signal_type: str, codes: npt.NDArray[np.uint8]) -> Delta | None:
    """The Delta of packed fixed-width hex values (no database read); None if their key is not their hex."""
    width = codes.shape[1] * 2
    if width > VALUE_KEY_MAX:
        return None
    text = codes.tobytes().hex().encode("ascii")
    prefix = LEAF_TAG + signal_type.encode() + b"\x00"
    sha = hashlib.sha256
    leaves = b"".join([sha(prefix + text[i : i + width]).digest() for i in range(0, len(text), width)])
    return Delta(fold(leaves), int(codes.shape[0]))


def rows_delta(conn: Connection, where: sa.ColumnElement[bool]) -> tuple[Delta, list[int], set[str]]:
    """Delta, ids and sources of the entries matching ``where`` (read in batches)."""
    stmt = sa.select(_E.id, _E.signal_type, _E.value_key, _E.source).where(where)
    total = Delta()
    ids: list[int] = []
    sources: set[str] = set()
    # Per statement: Connection.execution_options would stream every later statement of the transaction too.
    with conn.execute(stmt.execution_options(yield_per=_READ_BATCH)) as result:
        for rows in result.partitions():
            total = total + delta_of((row[1], row[2]) for row in rows)
            ids.extend(int(row[0]) for row in rows)
            sources.update(row[3] for row in rows)
    return total, ids, sources


def _as_digest(total: int, count: int) -> BankDigest:
    return BankDigest(f"{total % MODULUS:064x}", count)


@dataclass(frozen=True, slots=True)
class FullDigest:
    """A digest recomputed from every row, with the sorted-leaf SHA-256 when asked for."""

    digest: BankDigest
    sorted_digest: str | None = None


def compute(conn: Connection, bank_id: int, *, sorted_digest: bool = False) -> FullDigest:
    """Recompute a bank's digest from its rows (and optionally SHA-256 over its sorted leaves)."""
    stmt = sa.select(_E.signal_type, _E.value_key).where(_E.bank_id == bank_id, _E.enabled.is_(True))
    total, count = 0, 0
    kept: list[npt.NDArray[np.uint8]] = []
    sha = hashlib.sha256
    with conn.execute(stmt.order_by(_E.id).execution_options(yield_per=_READ_BATCH)) as result:
        for rows in result.partitions():
            prefixes: dict[str, bytes] = {}
            parts: list[bytes] = []
            for signal_type, key in rows:
                prefix = prefixes.get(signal_type)
                if prefix is None:
                    prefix = prefixes[signal_type] = LEAF_TAG + signal_type.encode() + b"\x00"
                parts.append(sha(prefix + key.encode()).digest())
            chunk = b"".join(parts)
            total = (total + fold(chunk)) % MODULUS
            count += len(parts)
            if sorted_digest:
                kept.append(np.frombuffer(chunk, dtype=np.uint8).reshape(-1, 32))
    commitment = None
    if sorted_digest:
        leaves = np.concatenate(kept) if kept else np.empty((0, 32), dtype=np.uint8)
        # Rows sorted as 32-byte strings: big-endian order of the leaves.
        ordered = np.sort(leaves.view("S32").ravel()) if len(leaves) else leaves
        commitment = hashlib.sha256(ordered.tobytes()).hexdigest()
    return FullDigest(_as_digest(total, count), commitment)


def stored(conn: Connection, bank_id: int) -> BankDigest | None:
    """The bank's stored running digest, or None when it has none yet."""
    row = conn.execute(sa.select(_G.digest, _G.entries).where(_G.bank_id == bank_id)).first()
    return None if row is None else BankDigest(str(row[0]), int(row[1]))


def init(conn: Connection, bank_id: int) -> BankDigest:
    """Store the digest of a new, empty bank."""
    conn.execute(
        sa.insert(bank_digests_table).values(bank_id=bank_id, digest=EMPTY.digest, entries=0, updated_at=utcnow())
    )
    return EMPTY


def apply(conn: Connection, bank_id: int, *, plus: Delta = Delta(), minus: Delta = Delta()) -> BankDigest:
    """Update the stored digest after a change already written in this transaction.

    A bank without a stored digest (made before digests existed) gets one recomputed in full
    from its rows as they are now, which already include the change.
    """
    current = stored(conn, bank_id)
    if current is None:
        fresh = compute(conn, bank_id).digest
        values: dict[str, Any] = {"digest": fresh.digest, "entries": fresh.entries, "updated_at": utcnow()}
        conn.execute(sa.insert(bank_digests_table).values(bank_id=bank_id, **values))
        return fresh
    total = (int(current.digest, 16) + plus.total - minus.total) % MODULUS
    updated = _as_digest(total, current.entries + plus.count - minus.count)
    conn.execute(
        sa.update(bank_digests_table)
        .where(_G.bank_id == bank_id)
        .values(digest=updated.digest, entries=updated.entries, updated_at=utcnow())
    )
    return updated


def current(conn: Connection, bank_id: int) -> BankDigest:
    """The stored digest, computing it from the rows when the bank has none yet (without storing it)."""
    found = stored(conn, bank_id)
    return found if found is not None else compute(conn, bank_id).digest
