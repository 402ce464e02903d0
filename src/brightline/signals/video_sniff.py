"""Naming video containers from their first bytes, and reading video files safely."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from brightline.errors import MediaUnreadableError
from brightline.signals.media_formats import sniff_format
from brightline.signals.video_webp import is_animated_webp

_HEAD_BYTES: Final = 64
_CHUNK: Final = 1 << 20
# Image brands of ISO media files (HEIF/AVIF stills) that must not be taken for video.
_STILL_BRANDS: Final = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"hevc", b"hevx", b"crx "}
)


@dataclass(frozen=True)
class VideoContainer:
    """What sniffing the first bytes says: a display name and how to demux it."""

    name: str
    demuxer: str  # an FFmpeg demuxer name, or "pillow-webp"


def sniff_container(handle: BinaryIO) -> VideoContainer | None:
    """The video container named by the first bytes, or None (stills and non-video)."""
    head = handle.read(_HEAD_BYTES)
    handle.seek(0)
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _STILL_BRANDS:
            return None
        name = {b"qt  ": "MOV", b"M4V ": "M4V", b"M4VH": "M4V", b"M4VP": "M4V"}.get(brand, "MP4")
        return VideoContainer(name, "mov")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return VideoContainer("WebM" if b"webm" in head else "Matroska", "matroska")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return VideoContainer("AVI", "avi")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return VideoContainer("GIF", "gif") if _gif_is_animated(handle) else None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return VideoContainer("WEBP", "pillow-webp") if is_animated_webp(head) else None
    return None


def _gif_is_animated(handle: BinaryIO) -> bool:
    """Whether a GIF has more than one image, found by walking its blocks without decoding."""
    # Pillow would decode frames to tell; skipping sub-blocks costs only reads.
    data = handle.read(13)
    try:
        if len(data) < 13:
            return False
        flags = data[10]
        if flags & 0x80:
            handle.seek(3 * (2 << (flags & 7)), io.SEEK_CUR)
        images = 0
        while True:
            kind = handle.read(1)
            if kind == b",":
                images += 1
                if images > 1:
                    return True
                descriptor = handle.read(9)
                if len(descriptor) < 9:
                    return False
                if descriptor[8] & 0x80:
                    handle.seek(3 * (2 << (descriptor[8] & 7)), io.SEEK_CUR)
                handle.read(1)  # LZW minimum code size
                _skip_sub_blocks(handle)
            elif kind == b"!":
                handle.read(1)
                _skip_sub_blocks(handle)
            else:
                return False  # trailer, end of data or garbage
    finally:
        handle.seek(0)


def _skip_sub_blocks(handle: BinaryIO) -> None:
    """Skip GIF data sub-blocks up to the zero-length terminator (or the end of the data)."""
    while True:
        size = handle.read(1)
        if not size or size[0] == 0:
            return
        handle.seek(size[0], io.SEEK_CUR)


def not_video_message(handle: BinaryIO) -> str:
    """Why sniffing refused the data, naming the format when it is known."""
    head = handle.read(1024)
    handle.seek(0)
    fmt = sniff_format(head)
    if fmt in ("GIF", "WEBP"):
        return f"a still {fmt} is an image, not a video"
    if fmt is None:
        return "unrecognised data is not a video format brightline decodes"
    return f"{fmt} data is not a video format brightline decodes (MP4/MOV/M4V, WebM/MKV, AVI, animated GIF/WebP)"


def open_file(path: Path) -> BinaryIO:
    """Open for reading, as a media error when that fails."""
    try:
        return path.open("rb")
    except OSError as exc:
        raise MediaUnreadableError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def digest_file(path: Path) -> tuple[str, str]:
    """MD5 and SHA-256 of the file, read in chunks so a long video never sits in memory."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    with open_file(path) as handle:
        try:
            while chunk := handle.read(_CHUNK):
                md5.update(chunk)
                sha256.update(chunk)
        except OSError as exc:
            raise MediaUnreadableError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return md5.hexdigest(), sha256.hexdigest()
