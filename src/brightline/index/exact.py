"""Exact-match index for digests (MD5, SHA-256): a value -> ids dictionary.

Values are compared as given, so callers pass canonical values (SignalType.validate).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt

from brightline.errors import IndexFormatError, InvalidSignalValueError, ValidationError
from brightline.index import storage
from brightline.index.base import IdArray, IndexHit, SignalIndex, as_id_array, check_radius

FORMAT_VERSION = 1


def _check_value(value: object) -> str:
    """``value`` if it is a non-empty string without NULs (numpy's U dtype drops trailing NULs)."""
    if not isinstance(value, str) or not value or "\x00" in value:
        raise InvalidSignalValueError(f"expected a non-empty string value, got {value!r}")
    return value


class ExactIndex(SignalIndex):
    """Entry id -> value; search() finds entries whose value is identical (distance 0)."""

    kind: ClassVar[str] = "exact"

    def __init__(self) -> None:
        self._ids_by_value: dict[str, set[int]] = {}
        self._value_by_id: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._value_by_id)

    def __contains__(self, entry_id: object) -> bool:
        if isinstance(entry_id, bool) or not isinstance(entry_id, int | np.integer):
            return False
        return int(entry_id) in self._value_by_id

    def ids(self) -> IdArray:
        """The live entry ids, sorted ascending."""
        return np.array(sorted(self._value_by_id), dtype=np.int64)

    def add(self, ids: Sequence[int] | npt.NDArray[np.integer], values: Sequence[str]) -> None:
        """Insert entries; an id already present (or repeated in ``ids``) keeps its last value."""
        if isinstance(values, str):
            raise InvalidSignalValueError("expected a sequence of values, got a single string")
        id_list = as_id_array(ids).tolist()
        value_list = [_check_value(v) for v in values]
        if len(id_list) != len(value_list):
            raise ValidationError(f"got {len(id_list)} ids but {len(value_list)} values")
        for entry_id, value in zip(id_list, value_list, strict=True):
            self._discard(entry_id)
            self._value_by_id[entry_id] = value
            self._ids_by_value.setdefault(value, set()).add(entry_id)

    def remove(self, ids: Sequence[int] | npt.NDArray[np.integer]) -> int:
        """Delete entries by id; unknown ids are ignored. Returns how many were removed."""
        return sum(self._discard(entry_id) for entry_id in set(as_id_array(ids).tolist()))

    def _discard(self, entry_id: int) -> bool:
        """Forget one id; whether it was present."""
        value = self._value_by_id.pop(entry_id, None)
        if value is None:
            return False
        holders = self._ids_by_value[value]
        holders.discard(entry_id)
        if not holders:
            del self._ids_by_value[value]
        return True

    def search(self, value: str, radius: int) -> list[IndexHit]:
        """Entries whose value equals ``value``, sorted by id; any radius >= 0 means equality."""
        check_radius(radius)
        holders = self._ids_by_value.get(_check_value(value), ())
        return [IndexHit(entry_id, 0) for entry_id in sorted(holders)]

    def search_many(self, values: Sequence[str], radius: int) -> list[list[IndexHit]]:
        """search() for each value, in order."""
        check_radius(radius)
        return [self.search(value, radius) for value in values]

    def save(self, path: Path) -> None:
        """Write the entries to directory ``path``: ids-*.npy, values-*.npy and meta.json naming them."""
        ids = np.array(sorted(self._value_by_id), dtype=np.int64)
        values = [self._value_by_id[i] for i in ids.tolist()]
        width = max((len(v) for v in values), default=1)
        array = np.array(values, dtype=f"<U{width}").reshape(ids.size)
        fields = {"count": int(ids.size), "width": width}
        storage.write_index(path, self.kind, FORMAT_VERSION, fields, {"ids": ids, "values": array})

    @classmethod
    def load(cls, path: Path, *, verify: bool = True) -> Self:
        """Read an index written by save(), or IndexFormatError."""
        path = Path(path)
        meta = storage.read_meta(path, cls.kind, frozenset({FORMAT_VERSION}))
        count = storage.meta_int(meta, "count", path)
        width = storage.meta_int(meta, "width", path)
        if width == 0:
            raise IndexFormatError(f"{path}: bad value width 0")
        ids = storage.read_array(path, meta, "ids", np.dtype(np.int64), (count,), verify)
        values = storage.read_array(path, meta, "values", np.dtype(f"<U{width}"), (count,), verify)
        index = cls()
        id_list = ids.tolist()
        value_list = values.tolist()
        if len(set(id_list)) != count:
            raise IndexFormatError(f"{path}: duplicate entry ids (damaged index)")
        for entry_id, value in zip(id_list, value_list, strict=True):
            if not value:
                raise IndexFormatError(f"{path}: empty value for entry {entry_id}")
            index._value_by_id[entry_id] = value
            index._ids_by_value.setdefault(value, set()).add(entry_id)
        return index
