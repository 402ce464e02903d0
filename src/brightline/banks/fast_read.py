"""Columnar reads of fixed-width hex entries for index builds: arrays, not one Python object per row.

The database concatenates each chunk of rows into a few strings (the values back to back,
the ids and bank ids as comma lists), so ten million entries cross into Python as a few
dozen strings that numpy decodes. Only signal types whose unique key is the value itself
(plain hex of at most 72 digits, such as PDQ) are read this way: a full read then walks
the (signal_type, value_key, bank_id) unique index alone, which holds everything but the
enabled flag, and the few disabled entries are looked up separately.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from brightline.banks.types import HashColumns
from brightline.errors import StoreError
from brightline.store.models import entries_table

# Rows per query: about 70 MB of text for 256-bit values (SQLite and PostgreSQL refuse strings over 1 GB).
CHUNK_ROWS = 1_000_000
_E = entries_table.c
_Ints = npt.NDArray[np.int64]


def _aggregate(conn: Connection, column: sa.ColumnElement[Any], sep: str) -> Any:
    """The column's values of a chunk joined by ``sep``.

    Every aggregate of one query sees the rows in one order, so the lists line up; no ORDER BY
    inside the aggregate (PostgreSQL would sort the chunk again for each list).
    """
    if conn.dialect.name == "sqlite":
        return sa.func.group_concat(column, sep)
    if conn.dialect.name == "postgresql":
        return sa.func.string_agg(sa.cast(column, sa.Text()), sep)
    raise StoreError(f"columnar reads are not supported on {conn.dialect.name!r}")


def _last_key(codes: npt.NDArray[np.uint64], bank_ids: _Ints) -> tuple[str, int]:
    """The greatest (value, bank id) of a chunk, where the next page starts (whatever order rows came in)."""
    rows = np.arange(codes.shape[0])
    for word in range(codes.shape[1]):
        column = codes[rows, word]
        rows = rows[column == column.max()]
    return codes[rows[:1]].astype(">u8").tobytes().hex(), int(bank_ids[rows].max())


def _ints(text: str | None, count: int) -> _Ints:
    values = np.fromstring(text or "", dtype=np.int64, sep=",") if count else np.zeros(0, np.int64)
    if values.shape[0] != count:
        raise StoreError("unexpected id list from the database")
    return values


def _codes(text: str | None, count: int, words: int) -> npt.NDArray[np.uint64]:
    raw = text or ""
    try:
        packed = bytes.fromhex(raw)
    except ValueError:
        raise StoreError("a stored hash is not hex") from None
    if len(raw) != count * words * 16 or len(packed) != count * words * 8:
        raise StoreError("a stored hash has the wrong length for its signal type")
    return np.frombuffer(packed, dtype=">u8").reshape(count, words).astype(np.uint64)


def _read_chunk(
    conn: Connection, where: sa.ColumnElement[bool], order: list[Any], words: int
) -> tuple[_Ints, _Ints, npt.NDArray[np.uint64], npt.NDArray[np.bool_] | None]:
    """(ids, bank ids, codes, enabled or None when ``enabled`` is not read) of one chunk."""
    columns: list[Any] = [_E.id, _E.bank_id, _E.value_key]
    with_flag = order[0] is _E.id  # an id-ordered read walks the table anyway: take the flag too
    if with_flag:
        columns.append(sa.case((_E.enabled, 1), else_=0).label("flag"))
    sub = sa.select(*columns).where(where).order_by(*order).limit(CHUNK_ROWS).subquery()
    aggregates = [
        sa.func.count(),
        _aggregate(conn, sub.c.value_key, ""),
        _aggregate(conn, sub.c.id, ","),
        _aggregate(conn, sub.c.bank_id, ","),
    ]
    if with_flag:
        aggregates.append(_aggregate(conn, sub.c.flag, ","))
    row = conn.execute(sa.select(*aggregates).select_from(sub)).one()
    count = int(row[0])
    flags = _ints(row[4], count).astype(np.bool_) if with_flag else None
    return _ints(row[2], count), _ints(row[3], count), _codes(row[1], count, words), flags


def read_hash_columns(
    conn: Connection,
    signal_type: str,
    bits: int,
    where: sa.ColumnElement[bool] | None,
    bank_enabled: Mapping[int, bool],
) -> HashColumns:
    """Entries of ``signal_type`` (all, or those matching ``where``) as arrays sorted by id.

    ``enabled`` is true only where the entry and its bank (per ``bank_enabled``) both are.
    Only for types whose values are their own unique key (value_key == value).
    """
    words = bits // 64
    ids: list[_Ints] = []
    banks: list[_Ints] = []
    codes: list[npt.NDArray[np.uint64]] = []
    flags: list[npt.NDArray[np.bool_]] = []
    mine = _E.signal_type == signal_type
    # A full read pages through the unique index by (value_key, bank_id); a filtered one by id.
    order: list[Any] = [_E.value_key, _E.bank_id] if where is None else [_E.id]
    page: sa.ColumnElement[bool] = sa.true()
    while True:
        chunk_ids, chunk_banks, chunk_codes, chunk_flags = _read_chunk(
            conn, sa.and_(mine, page) if where is None else sa.and_(mine, where, page), order, words
        )
        ids.append(chunk_ids)
        banks.append(chunk_banks)
        codes.append(chunk_codes)
        if chunk_flags is not None:
            flags.append(chunk_flags)
        if chunk_ids.shape[0] < CHUNK_ROWS:
            break
        if where is None:
            last, bank = _last_key(chunk_codes, chunk_banks)
            page = sa.tuple_(_E.value_key, _E.bank_id) > sa.tuple_(sa.literal(last), sa.literal(bank))
        else:
            page = _E.id > int(chunk_ids.max())
    all_ids, all_banks, all_codes = np.concatenate(ids), np.concatenate(banks), np.concatenate(codes)
    order_by_id = np.argsort(all_ids, kind="stable")
    all_ids, all_banks, all_codes = all_ids[order_by_id], all_banks[order_by_id], all_codes[order_by_id]
    if where is None:
        enabled = ~np.isin(all_ids, _disabled_ids(conn, signal_type, list(bank_enabled)))
    else:
        enabled = np.concatenate(flags)[order_by_id]
    off = np.asarray([bank for bank, on in bank_enabled.items() if not on], dtype=np.int64)
    if off.size:
        enabled &= ~np.isin(all_banks, off)
    return HashColumns(all_ids, all_banks, enabled, all_codes)


def _disabled_ids(conn: Connection, signal_type: str, bank_ids: list[int]) -> _Ints:
    """Ids of disabled entries of ``signal_type`` (found through the (bank_id, enabled) index)."""
    if not bank_ids:
        return np.zeros(0, dtype=np.int64)
    stmt = sa.select(_E.id).where(_E.bank_id.in_(bank_ids), _E.enabled == sa.false(), _E.signal_type == signal_type)
    return np.asarray(conn.execute(stmt).scalars().all(), dtype=np.int64)
