"""What a backlog scan works through: the files under local paths and object-store URIs, in partitions.

Local paths are walked exactly as ``brightline scan`` walks them, so both engines name files alike.
URIs (``s3://bucket/prefix``, ``gs://…``, ``file:///…``) are listed through pyarrow's filesystems.
The sorted listing is cut into fixed-size partitions; each partition is named by its position and
a digest of its files (name, size, modification time), which is what the checkpoint records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from brightline.errors import BrightlineError, MediaTooLargeError, ScaleOutError
from brightline.matching.parallel import HashOutcome, hash_for_scan
from brightline.signals.files import check_payload
from brightline.signals.hashing import HashOptions, hash_bytes
from brightline.signals.media_formats import MEDIA_SUFFIXES

DEFAULT_PARTITION_SIZE = 1000


@dataclass(frozen=True)
class FileItem:
    """One file of the backlog: its name as scan output shows it, size in bytes and mtime in ns."""

    file: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Partition:
    """A run of consecutive files of the sorted listing; ``name`` is its checkpoint's file name."""

    index: int
    digest: str
    items: tuple[FileItem, ...]

    @property
    def name(self) -> str:
        """The partition's output file name, e.g. ``part-000003-1a2b3c4d5e6f.parquet``."""
        return f"part-{self.index:06d}-{self.digest}.parquet"


def is_uri(value: str) -> bool:
    """Whether ``value`` names an object-store or file URI rather than a local path."""
    return "://" in value


def import_pyarrow_fs() -> Any:
    """pyarrow.fs, or a ScaleOutError saying which extra to install."""
    try:
        import pyarrow.fs as pafs
    except ImportError:
        raise ScaleOutError("listing URIs and writing Parquet need pyarrow: pip install 'brightline[ray]'") from None
    return pafs


@lru_cache(maxsize=16)
def _filesystem(uri: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path inside it) for a URI; filesystems are cached per process."""
    pafs = import_pyarrow_fs()
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
        return fs, str(path)
    except (ValueError, OSError) as exc:
        raise ScaleOutError(f"{uri}: cannot open its filesystem: {exc}") from None


def filesystem_for(uri: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path) for a URI or a local path (local paths on the local filesystem)."""
    if is_uri(uri):
        return _filesystem(uri)
    pafs = import_pyarrow_fs()
    return pafs.LocalFileSystem(), str(Path(uri).resolve())


def _local_items(path: Path) -> list[FileItem]:
    # The same walk as the CLI's expand_paths: folders recursively (media suffixes, sorted), files as given.
    if path.is_dir():
        children = sorted(c for c in path.rglob("*") if c.is_file() and c.suffix.lower() in MEDIA_SUFFIXES)
    else:
        children = [path]
    items = []
    for child in children:
        try:
            stat = child.stat()
            items.append(FileItem(str(child), stat.st_size, stat.st_mtime_ns))
        except OSError:
            items.append(FileItem(str(child), -1, 0))  # hashing reports why it is unreadable
    return items


def _uri_items(uri: str) -> list[FileItem]:
    pafs = import_pyarrow_fs()
    fs, root = _filesystem(uri)
    scheme = uri.split("://", 1)[0]
    try:
        info = fs.get_file_info(root)
        if info.type == pafs.FileType.File:
            found = [info]
        elif info.type == pafs.FileType.Directory:
            found = fs.get_file_info(pafs.FileSelector(root, recursive=True))
        else:
            raise ScaleOutError(f"{uri}: no such file or folder")
    except OSError as exc:
        raise ScaleOutError(f"{uri}: cannot list: {exc}") from None
    items = []
    for entry in found:
        if entry.type != pafs.FileType.File:
            continue
        if entry.path != root and Path(entry.base_name).suffix.lower() not in MEDIA_SUFFIXES:
            continue
        items.append(FileItem(f"{scheme}://{entry.path}", int(entry.size or 0), int(entry.mtime_ns or 0)))
    return sorted(items, key=lambda item: item.file)


def list_inputs(inputs: Iterable[str]) -> list[FileItem]:
    """Every file under ``inputs`` in order: each input's files sorted, inputs in the order given."""
    items: list[FileItem] = []
    for value in inputs:
        items.extend(_uri_items(value) if is_uri(value) else _local_items(Path(value)))
    # A file named twice (overlapping inputs) is scanned once, where it first appears.
    return list({item.file: item for item in items}.values())


def partition(items: Sequence[FileItem], size: int = DEFAULT_PARTITION_SIZE) -> list[Partition]:
    """Cut the listing into partitions of ``size`` files, each named by a digest of what it holds."""
    if size < 1:
        raise ScaleOutError(f"partition size must be at least 1, got {size}")
    parts = []
    for index, start in enumerate(range(0, len(items), size)):
        chunk = tuple(items[start : start + size])
        digest = hashlib.sha256()
        for item in chunk:
            digest.update(f"{item.file}\0{item.size}\0{item.mtime_ns}\n".encode())
        parts.append(Partition(index, digest.hexdigest()[:12], chunk))
    return parts


def hash_item(file: str, options: HashOptions) -> HashOutcome:
    """Hash one listed file: local paths exactly as the local engine does, URIs read whole through pyarrow."""
    if not is_uri(file):
        return hash_for_scan(Path(file), options)
    try:
        fs, path = _filesystem(file)
        with fs.open_input_stream(path) as stream:
            data = stream.read(options.max_bytes + 1)
        return hash_bytes(check_payload(data, options.max_bytes, file), options)
    except MediaTooLargeError as exc:
        return str(exc)
    except BrightlineError as exc:
        message = str(exc)
        return message if message.startswith(file) else f"{file}: {message}"
    except OSError as exc:
        return f"{file}: cannot read: {exc}"
