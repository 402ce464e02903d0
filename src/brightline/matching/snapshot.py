"""Index snapshots on disk: every signal type's index plus the entry-to-bank map, at one revision.

A snapshot is only a cache of the store: one that is damaged, foreign (another database),
newer than the database or built with another quality floor is ignored, and the Matcher
rebuilds from the store. Writers take an exclusive advisory lock (one writer at a time,
others skip); readers a shared one. snapshot.json is written last and renamed into place,
so readers see the old snapshot or the new one.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brightline.errors import BrightlineError, IndexFormatError
from brightline.index import load_index
from brightline.index.base import SignalIndex
from brightline.index.idmap import IdRowMap

SNAPSHOT_META = "snapshot.json"


@dataclass(frozen=True)
class Snapshot:
    """What read_snapshot() found: the indexes, entry map, revision and entry-map token."""

    indexes: dict[str, SignalIndex]
    entry_bank: IdRowMap
    revision: int
    token: str


def snapshot_token(folder: Path) -> str | None:
    """The entry-map token of the snapshot in ``folder``, if a readable one is there."""
    try:
        token = json.loads((folder / SNAPSHOT_META).read_text()).get("entry_map")
    except (OSError, ValueError, AttributeError):
        return None
    return token if isinstance(token, str) else None


@contextmanager
def snapshot_lock(folder: Path, *, exclusive: bool) -> Iterator[bool]:
    """An advisory lock on the snapshot folder: shared for readers, exclusive (non-blocking) for the writer."""
    with open(folder / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, (fcntl.LOCK_EX | fcntl.LOCK_NB) if exclusive else fcntl.LOCK_SH)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_snapshot(
    folder: Path, indexes: Mapping[str, SignalIndex], entry_bank: IdRowMap, revision: int, store_id: str
) -> str | None:
    """Persist ``indexes`` and ``entry_bank`` at ``revision``; the new token (None: another writer has the lock)."""
    folder.mkdir(parents=True, exist_ok=True)
    with snapshot_lock(folder, exclusive=True) as locked:
        if not locked:
            return None
        for signal_type, index in indexes.items():
            index.save(folder / signal_type)
        ids, bank_ids = entry_bank.arrays()
        token = f"{os.getpid()}-{revision}"
        np.save(folder / f"entry-ids-{token}.npy", ids)
        np.save(folder / f"entry-banks-{token}.npy", bank_ids)
        meta = {"store_id": store_id, "revision": revision, "signal_types": sorted(indexes), "entry_map": token}
        tmp = folder / f".{SNAPSHOT_META}.{os.getpid()}"
        tmp.write_text(json.dumps(meta))
        previous = snapshot_token(folder)
        tmp.replace(folder / SNAPSHOT_META)
        if previous and previous != token:
            for stale in (f"entry-ids-{previous}.npy", f"entry-banks-{previous}.npy"):
                # Readers that mapped the old files keep them alive until they unmap (POSIX).
                (folder / stale).unlink(missing_ok=True)
        return token


def read_snapshot(folder: Path, *, store_id: str, current_revision: int, min_quality: int) -> Snapshot | None:
    """The snapshot in ``folder`` if it is usable for this store and quality floor, else None."""
    if not (folder / SNAPSHOT_META).exists():
        return None
    try:
        with snapshot_lock(folder, exclusive=False):
            meta = json.loads((folder / SNAPSHOT_META).read_text())
            revision = int(meta["revision"])
            if meta["store_id"] != store_id:
                raise IndexFormatError("snapshot was built from a different database")
            if revision > current_revision:
                raise IndexFormatError("snapshot is newer than the database")
            indexes = {name: load_index(folder / name) for name in meta["signal_types"]}
            for index in indexes.values():
                floor = getattr(index, "min_quality", None)
                if floor is not None and floor != min_quality:
                    raise IndexFormatError("snapshot index was built with another quality floor")
            token = str(meta["entry_map"])
            # Copy-on-write maps: shared between workers until an entry is discarded.
            ids = np.load(folder / f"entry-ids-{token}.npy", mmap_mode="c", allow_pickle=False)
            bank_ids = np.load(folder / f"entry-banks-{token}.npy", mmap_mode="c", allow_pickle=False)
            if ids.dtype != np.int64 or bank_ids.dtype != np.int64 or ids.shape != bank_ids.shape:
                raise IndexFormatError("snapshot entry map is damaged")
            if ids.shape[0] != sum(len(index) for index in indexes.values()):
                raise IndexFormatError("snapshot entry map does not match its indexes")
            entry_bank = IdRowMap.from_sorted(ids, bank_ids)
    except (OSError, ValueError, KeyError, TypeError, BrightlineError):
        return None
    return Snapshot(indexes, entry_bank, revision, token)
