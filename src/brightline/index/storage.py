"""On-disk layout shared by the indexes: a directory of raw .npy arrays and a meta.json.

Nothing is pickled: arrays are written with ``allow_pickle=False`` and read back the
same way, memory-mapped read-only, so every process that opens the same index shares
one copy in the OS page cache. Array files carry a random token in their names and
meta.json (replaced last, atomically, after every array file is fsynced) names the set
that belongs together, so a crash at any moment leaves either the old index or the new
one, never a mix. Files a previous save left behind are deleted once the new meta.json
is in place; a process still mapping them keeps reading them (POSIX unlink semantics).

Checksums: meta.json stores a CRC-32 per 16 MiB chunk of every array. Loading checks
dtype, shape, C order and file length always (cheap), and the CRCs when asked, chunk by
chunk on a thread pool (zlib releases the GIL): about 0.1 s per GB per core, from the
page cache that the searches then use anyway.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from brightline.errors import IndexFormatError, SearchIndexError

FORMAT = "brightline-index"
META_NAME = "meta.json"
# Only names matching this are read from meta.json or deleted as stale (no path tricks).
_DATA_NAME = re.compile(r"[a-z]+-[0-9a-f]{16}\.npy")
_CRC_CHUNK = 1 << 24


def _bytes(array: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """The array's bytes as a flat uint8 view (no copy for a C-contiguous array)."""
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def _crc_chunks(array: npt.NDArray[Any]) -> list[int]:
    """CRC-32 of each _CRC_CHUNK-byte chunk of the array (chunks can be checked in parallel)."""
    flat = _bytes(array)
    return [zlib.crc32(flat[start : start + _CRC_CHUNK].data) for start in range(0, max(flat.size, 1), _CRC_CHUNK)]


def _crc32(array: npt.NDArray[Any]) -> int:
    """CRC-32 of the whole array (the form format-1 files stored), fed in chunks."""
    flat = _bytes(array)
    crc = 0
    for start in range(0, flat.size, _CRC_CHUNK):
        crc = zlib.crc32(flat[start : start + _CRC_CHUNK].data, crc)
    return crc


@dataclass(frozen=True)
class Fill:
    """An array written in place into its memory-mapped file, so a large one is never held in private memory.

    ``fill(out, written)`` gets the writable mapping and the arrays written before it (by name).
    """

    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    fill: Callable[[npt.NDArray[Any], Mapping[str, npt.NDArray[Any]]], None]


def _write_array(
    file: Path, source: npt.NDArray[Any] | Fill, written: Mapping[str, npt.NDArray[Any]]
) -> npt.NDArray[Any]:
    """Write one array to ``file`` (fsynced); returns it memory-mapped read-only from that file."""
    if isinstance(source, Fill) and int(np.prod(source.shape)) > 0:
        out = np.lib.format.open_memmap(file, mode="w+", dtype=source.dtype, shape=source.shape)
        source.fill(out, written)
        out.flush()
        del out  # the writable mapping; readers get a read-only one below
        with open(file, "rb+") as fh:
            os.fsync(fh.fileno())
    else:
        data = np.zeros(source.shape, source.dtype) if isinstance(source, Fill) else np.ascontiguousarray(source)
        with open(file, "wb") as fh:
            np.save(fh, data, allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        if data.size == 0:
            return data  # np.memmap cannot map zero bytes
    # The mapping pins the file's inode, so it stays readable even after a later save unlinks it.
    return np.asarray(np.load(file, mmap_mode="r", allow_pickle=False))


def _fsync_dir(path: Path) -> None:
    """Flush a directory entry so a rename inside it survives a power cut (best effort)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_index(
    path: Path, kind: str, version: int, fields: dict[str, Any], arrays: Mapping[str, npt.NDArray[Any] | Fill]
) -> dict[str, npt.NDArray[Any]]:
    """Write ``arrays`` (in order) and a meta.json (kind, version, fields, file names, CRCs) into directory ``path``.

    Returns the arrays as written, memory-mapped read-only, for the caller to serve from.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(8)
        files: dict[str, dict[str, Any]] = {}
        written: dict[str, npt.NDArray[Any]] = {}
        for name, source in arrays.items():
            file_name = f"{name}-{token}.npy"
            tmp = path / f"{file_name}.tmp"
            written[name] = data = _write_array(tmp, source, written)
            os.replace(tmp, path / file_name)
            files[name] = {"file": file_name, "crc32": _crc_chunks(data)}
        meta = {"format": FORMAT, "kind": kind, "version": version, **fields, "files": files}
        tmp_meta = path / f"{META_NAME}.{token}.tmp"
        with open(tmp_meta, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_meta, path / META_NAME)
        _fsync_dir(path)
    except OSError as exc:
        raise SearchIndexError(f"cannot save index to {path}: {exc}") from exc
    keep = {entry["file"] for entry in files.values()}
    for stale in path.iterdir():
        if stale.name not in keep and (_DATA_NAME.fullmatch(stale.name) or stale.name.endswith(".tmp")):
            with contextlib.suppress(OSError):  # a leftover file costs disk space, not correctness
                stale.unlink()
    return written


def read_meta(path: Path, kind: str, versions: frozenset[int]) -> dict[str, Any]:
    """The validated meta.json of the index at ``path`` (IndexFormatError if it is not ours)."""
    path = Path(path)
    if not path.is_dir():
        raise SearchIndexError(f"no index at {path}")
    try:
        meta = json.loads((path / META_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFormatError(f"{path}: unreadable {META_NAME}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise IndexFormatError(f"{path}: not a brightline index")
    if meta.get("kind") != kind:
        raise IndexFormatError(f"{path}: holds a {meta.get('kind')!r} index, expected {kind!r}")
    if meta.get("version") not in versions:
        raise IndexFormatError(f"{path}: unknown index version {meta.get('version')!r}")
    if not isinstance(meta.get("files"), dict):
        raise IndexFormatError(f"{path}: {META_NAME} lists no files")
    return meta


def meta_int(meta: dict[str, Any], key: str, path: Path) -> int:
    """A non-negative integer field of meta.json, or IndexFormatError."""
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise IndexFormatError(f"{path}: bad {key!r} in {META_NAME}: {value!r}")
    return value


def read_array(
    path: Path, meta: dict[str, Any], name: str, dtype: np.dtype[Any], shape: tuple[int, ...], verify: bool
) -> npt.NDArray[Any]:
    """Array ``name`` memory-mapped read-only, checked for dtype, shape and (if ``verify``) CRC."""
    entry = meta["files"].get(name)
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or not _DATA_NAME.fullmatch(entry["file"]):
        raise IndexFormatError(f"{path}: no valid entry for {name!r} in {META_NAME}")
    file = Path(path) / entry["file"]
    try:
        # np.memmap cannot map zero bytes, so empty arrays are read normally.
        mode: Literal["r"] | None = "r" if int(np.prod(shape)) > 0 else None
        array = np.load(file, mmap_mode=mode, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise IndexFormatError(f"{file}: unreadable: {exc}") from exc
    if not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != shape:
        got = f"{getattr(array, 'dtype', '?')} {getattr(array, 'shape', '?')}"
        raise IndexFormatError(f"{file}: expected {np.dtype(dtype)} {shape}, found {got}")
    if not array.flags.c_contiguous:
        raise IndexFormatError(f"{file}: not in C order (not written by brightline)")
    array = np.asarray(array)
    if verify:
        verify_arrays(path, meta, {name: array}, 1)
    return array


def _chunk_ok(chunk: npt.NDArray[np.uint8], crc: object) -> bool:
    """Whether a chunk of bytes has CRC-32 ``crc``."""
    return zlib.crc32(chunk.data) == crc


def _whole_ok(array: npt.NDArray[Any], crc: object) -> bool:
    """Whether the whole array has CRC-32 ``crc``."""
    return _crc32(array) == crc


def verify_arrays(path: Path, meta: dict[str, Any], arrays: Mapping[str, npt.NDArray[Any]], threads: int) -> None:
    """Check every array's CRC-32s against meta.json, chunks spread over ``threads`` threads."""
    tasks: list[tuple[str, Callable[[], bool]]] = []
    for name, array in arrays.items():
        want = meta["files"][name].get("crc32")
        if isinstance(want, list):
            flat = _bytes(array)
            if len(want) != max(1, -(-flat.size // _CRC_CHUNK)):
                raise IndexFormatError(f"{path}: wrong number of checksums for {name!r}")
            for i, crc in enumerate(want):
                chunk = flat[i * _CRC_CHUNK : (i + 1) * _CRC_CHUNK]
                tasks.append((name, functools.partial(_chunk_ok, chunk, crc)))
        else:  # format-1 files: one CRC of the whole array
            tasks.append((name, functools.partial(_whole_ok, array, want)))
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(tasks) or 1))) as pool:
        results = list(pool.map(lambda task: task[1](), tasks))
    for (name, _), ok in zip(tasks, results, strict=True):
        if not ok:
            raise IndexFormatError(f"{path / meta['files'][name]['file']}: checksum mismatch (damaged file)")
