"""Checks on media files before reading them, shared by image and video decoding."""

from __future__ import annotations

import stat
from pathlib import Path

from brightline.errors import EmptyMediaError, MediaTooLargeError, MediaUnreadableError


def check_regular_file(path: Path) -> int:
    """The size of a readable, non-empty regular file, or MediaUnreadableError/EmptyMediaError."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise MediaUnreadableError(f"{path}: no such file") from None
    except OSError as exc:
        raise MediaUnreadableError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise MediaUnreadableError(f"{path}: is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        # Devices and FIFOs could block or never end.
        raise MediaUnreadableError(f"{path}: is not a regular file")
    if info.st_size == 0:
        raise EmptyMediaError(f"{path}: the file is empty")
    return info.st_size


def check_payload(data: bytes, max_bytes: int, label: str) -> bytes:
    """``data`` if it is non-empty and within ``max_bytes``, else EmptyMediaError/MediaTooLargeError."""
    if not data:
        raise EmptyMediaError(f"{label}: the file is empty")
    if len(data) > max_bytes:
        raise MediaTooLargeError(f"{label}: over the {max_bytes}-byte limit")
    return data
