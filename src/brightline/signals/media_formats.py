"""Which image formats brightline decodes, and naming a file's format from its first bytes."""

from __future__ import annotations

from typing import Final

# Pillow format ids, in the order Pillow tries them. Restricting Image.open to these keeps
# the dozens of other Pillow plugins (EPS runs Ghostscript, ICO, PSD...) away from
# untrusted bytes. AVIF goes before HEIF because both accept the generic "mif1" brand
# and Pillow's AVIF plugin steps aside cleanly for HEVC content.
SUPPORTED_FORMATS: Final = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF", "HEIF")
# File name endings that folder scans pick up (a file named directly is always tried).
MEDIA_SUFFIXES: Final = frozenset(
    [
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".gif",
        ".webp",
        ".bmp",
        ".dib",
        ".tif",
        ".tiff",
        ".heic",
        ".heif",
        ".avif",
    ]
)

_HEIF_BRANDS: Final = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
)
# Sizes of the BMP info-header variants; "BM" alone is too weak (plain text can start with it).
_BMP_HEADER_SIZES: Final = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})
# Containers seen in the wild where images are expected; named so the error can say what it got.
_OTHER_SIGNATURES: Final = (
    (0, b"%PDF-", "PDF"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (0, b"\x00\x00\x02\x00", "CUR"),
    (0, b"8BPS", "PSD"),
    (0, b"PK\x03\x04", "ZIP"),
    (0, b"\x1f\x8b", "GZIP"),
    (0, b"7z\xbc\xaf\x27\x1c", "7Z"),
    (0, b"Rar!", "RAR"),
    (0, b"\x1aE\xdf\xa3", "Matroska/WebM video"),
    (0, b"OggS", "Ogg"),
    (0, b"ID3", "MP3"),
    (0, b"fLaC", "FLAC"),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (0, b"\xff\x4f\xff\x51", "JPEG 2000"),
    (0, b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (0, b"\xff\x0a", "JPEG XL"),
    (0, b"II\xbc", "JPEG XR"),
    (0, b"qoif", "QOI"),
    (0, b"DDS ", "DDS"),
    (0, b"gimp xcf", "XCF"),
    (0, b"\x76\x2f\x31\x01", "OpenEXR"),
    (0, b"#?RADIANCE", "Radiance HDR"),
    (0, b"\x59\xa6\x6a\x95", "Sun raster"),
    (0, b"FWS", "SWF"),
    (0, b"CWS", "SWF"),
    (0, b"\x7fELF", "ELF executable"),
    (0, b"MZ", "Windows executable"),
)


def sniff_format(data: bytes) -> str | None:
    """The format named by the file's magic bytes (a Pillow id when supported), or None."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(b"BM") and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return "BMP"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "TIFF"
    if head[4:8] == b"ftyp":
        return _sniff_iso_media(head[8:12])
    if head[:4] == b"RIFF":
        return {b"AVI ": "AVI video", b"WAVE": "WAV audio"}.get(head[8:12], "RIFF")
    for offset, magic, name in _OTHER_SIGNATURES:
        if head[offset:].startswith(magic):
            return name
    if len(head) >= 2 and head[0:1] == b"P" and head[1:2] in b"1234567":
        return "PNM"
    return _sniff_text(data[:1024])


def _sniff_iso_media(brand: bytes) -> str:
    """Name an ISO base media file (HEIF, AVIF, MP4, QuickTime...) by its major brand."""
    if brand in _HEIF_BRANDS:
        return "HEIF"
    if brand in _AVIF_BRANDS:
        return "AVIF"
    if brand == b"qt  ":
        return "QuickTime video"
    if brand.startswith(b"3g"):
        return "3GP video"
    if brand in (b"crx ",):
        return "Canon CR3 raw"
    return "MP4 video"


def _sniff_text(head: bytes) -> str | None:
    """Name text-like content (SVG, HTML, XML, plain text), or None for unknown binary."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not stripped:
        return None
    if b"<svg" in stripped:
        return "SVG"
    if stripped.startswith((b"<!doctype html", b"<html")):
        return "HTML"
    if stripped.startswith(b"<?xml"):
        return "XML"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multibyte character cut at the end of the window is still text.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return None
    if text and all(ch.isprintable() or ch in "\t\r\n\f" for ch in text):
        return "text"
    return None


def describe_unidentified(data: bytes, sniffed: str | None) -> str:
    """Why bytes that no supported decoder accepted are refused, naming their format if known."""
    if sniffed is None:
        return f"unrecognised data ({len(data)} bytes) is not an image format brightline decodes"
    if sniffed == "text":
        return "the data is text, not an image"
    supported = ", ".join(SUPPORTED_FORMATS)
    return f"{sniffed} files are not supported (supported: {supported})"
