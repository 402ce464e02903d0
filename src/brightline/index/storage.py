"""On-disk layout shared by the indexes: a directory of raw .npy arrays and a meta.json.

Nothing is pickled: arrays are written with ``allow_pickle=False`` and read back the
same way, memory-mapped. Array files carry a random token in their names and meta.json
(replaced last, atomically) names the set that belongs together, so a crash at any
moment leaves either the old index or the new one, never a mix. Files a previous save
left behind are deleted once the new meta.json is in place.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import zlib
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


def _crc32(array: npt.NDArray[Any]) -> int:
    """CRC-32 of the array's bytes, fed in chunks so a memory-mapped array is not copied."""
    flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    crc = 0
    for start in range(0, flat.size, _CRC_CHUNK):
        crc = zlib.crc32(flat[start : start + _CRC_CHUNK].data, crc)
    return crc


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
    path: Path, kind: str, version: int, fields: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]
) -> None:
    """Write ``arrays`` and a meta.json (kind, version, fields, file names, CRCs) into directory ``path``."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(8)
        files: dict[str, dict[str, Any]] = {}
        for name, array in arrays.items():
            data = np.ascontiguousarray(array)
            file_name = f"{name}-{token}.npy"
            tmp = path / f"{file_name}.tmp"
            with open(tmp, "wb") as fh:
                np.save(fh, data, allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path / file_name)
            files[name] = {"file": file_name, "crc32": _crc32(data)}
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
    if verify and _crc32(array) != entry.get("crc32"):
        raise IndexFormatError(f"{file}: checksum mismatch (damaged file)")
    return np.asarray(array)
