"""decode_image and read_media_bytes: formats, failures, colour modes, the fast path."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brightline.errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaTooLargeError,
    MediaUnreadableError,
    UnsupportedMediaError,
)
from brightline.signals.media import DEFAULT_FAST_MIN_SIDE, DecodedImage, decode_image, read_media_bytes
from brightline.signals.media_formats import sniff_format
from brightline.signals.pdq import pdq_hash_pixels

# Fast path vs full decode, the bound the fast path is tuned to.
FAST_MAX_DISTANCE = 6
# Re-encoding a photo (lossy codecs, GIF's 256-colour palette) moves PDQ a few bits at most.
REENCODE_MAX_DISTANCE = 8


def _distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _pdq(decoded: DecodedImage) -> str:
    return pdq_hash_pixels(decoded.pixels).value


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_claiming(width: int, height: int, colour_type: int = 2) -> bytes:
    """A tiny PNG whose header claims width x height pixels; its image data is one empty deflate stream."""
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def photo(shared_dir: Path) -> Image.Image:
    with Image.open(shared_dir / "corpus" / "kodak24" / "kodim23.png") as image:
        return image.convert("RGB")


@pytest.fixture(scope="module")
def photo_pdq(photo: Image.Image) -> str:
    return pdq_hash_pixels(np.asarray(photo)).value


@pytest.fixture(scope="module")
def wallpaper(shared_dir: Path) -> Path:
    # 3000x2250: its short side allows a 1/2-scale fast decode at the default fast_min_side.
    return shared_dir / "corpus" / "wallpapers" / "lomiri-wallpapers-16.04__Dragonfly_by_Bolly.jpg"


def _heif_bytes(image: Image.Image) -> bytes:
    pillow_heif = pytest.importorskip("pillow_heif")
    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=90)
    return buffer.getvalue()


ENCODERS: dict[str, Callable[[Image.Image], bytes]] = {
    "JPEG": lambda im: _encode(im, "JPEG", quality=90),
    "PNG": lambda im: _encode(im, "PNG"),
    "GIF": lambda im: _encode(im, "GIF"),
    "WEBP": lambda im: _encode(im, "WEBP", quality=90),
    "BMP": lambda im: _encode(im, "BMP"),
    "TIFF": lambda im: _encode(im, "TIFF"),
    "HEIF": _heif_bytes,
    "AVIF": lambda im: _encode(im, "AVIF", quality=90),
}


# --- formats ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(ENCODERS))
def test_each_format_decodes_close_to_the_original(fmt: str, photo: Image.Image, photo_pdq: str) -> None:
    decoded = decode_image(ENCODERS[fmt](photo), jpeg_luma=False)
    assert decoded.format == fmt
    assert (decoded.width, decoded.height) == photo.size
    assert decoded.pixels.shape == (photo.height, photo.width, 3)
    assert decoded.pixels.dtype == np.uint8
    assert not decoded.is_grey
    assert _distance(_pdq(decoded), photo_pdq) <= REENCODE_MAX_DISTANCE


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF"])
def test_lossless_formats_give_identical_pixels(fmt: str, photo: Image.Image) -> None:
    decoded = decode_image(ENCODERS[fmt](photo))
    assert np.array_equal(decoded.pixels, np.asarray(photo))


def test_path_and_bytes_give_the_same_result(tmp_path: Path, photo: Image.Image) -> None:
    data = ENCODERS["JPEG"](photo)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    assert np.array_equal(decode_image(path).pixels, decode_image(data).pixels)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_uses_the_first_frame(fmt: str, photo: Image.Image, photo_pdq: str) -> None:
    other = photo.transpose(Image.Transpose.ROTATE_180)
    data = _encode(photo, fmt, save_all=True, append_images=[other], duration=100, loop=0)
    with Image.open(io.BytesIO(data)) as check:
        assert getattr(check, "n_frames", 1) == 2
    digest = _pdq(decode_image(data))
    assert _distance(digest, photo_pdq) <= REENCODE_MAX_DISTANCE
    assert _distance(digest, pdq_hash_pixels(np.asarray(other)).value) > 64


def test_multi_picture_jpeg_is_reported_as_jpeg(photo: Image.Image, photo_pdq: str) -> None:
    # Phones write MPO (a JPEG with extra pictures); Pillow names it MPO.
    data = _encode(photo, "MPO", save_all=True, append_images=[photo.rotate(90)], quality=90)
    decoded = decode_image(data)
    assert decoded.format == "JPEG"
    assert _distance(_pdq(decoded), photo_pdq) <= REENCODE_MAX_DISTANCE


def test_exif_orientation_is_not_applied(photo: Image.Image) -> None:
    wide = photo.crop((0, 0, 400, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    decoded = decode_image(_encode(wide, "JPEG", quality=90, exif=exif))
    assert decoded.pixels.shape[:2] == (200, 400)


def test_heif_plugin_is_registered_lazily() -> None:
    code = "import sys, brightline.signals.media, brightline.signals.pdq; sys.exit('pillow_heif' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- unreadable, empty, too big -----------------------------------------------------


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(MediaUnreadableError, match="no such file"):
        decode_image(tmp_path / "nope.jpg")
    with pytest.raises(MediaUnreadableError):
        read_media_bytes(tmp_path / "nope.jpg", max_bytes=100)


def test_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(MediaUnreadableError, match="directory"):
        decode_image(tmp_path)
    with pytest.raises(MediaUnreadableError, match="directory"):
        read_media_bytes(tmp_path, max_bytes=100)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(MediaUnreadableError, match="regular file"):
        read_media_bytes(fifo, max_bytes=100)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_permissions(tmp_path: Path, photo: Image.Image) -> None:
    path = tmp_path / "secret.jpg"
    path.write_bytes(ENCODERS["JPEG"](photo))
    path.chmod(0)
    with pytest.raises(MediaUnreadableError):
        read_media_bytes(path, max_bytes=10**9)
    with pytest.raises(MediaUnreadableError):
        decode_image(path)


def test_permission_error_while_reading_is_unreadable(
    tmp_path: Path, photo: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Same failure as above, for runs as root (which may read any file).
    path = tmp_path / "secret.jpg"
    path.write_bytes(ENCODERS["JPEG"](photo))

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(MediaUnreadableError, match="Permission denied"):
        read_media_bytes(path, max_bytes=10**9)
    with pytest.raises(MediaUnreadableError, match="Permission denied"):
        decode_image(path)


def test_zero_bytes_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(EmptyMediaError):
        read_media_bytes(path, max_bytes=100)
    with pytest.raises(EmptyMediaError):
        decode_image(path)
    with pytest.raises(EmptyMediaError):
        decode_image(b"")


def test_over_max_bytes_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"\0" * 1001)
    with pytest.raises(MediaTooLargeError, match="1000-byte"):
        read_media_bytes(path, max_bytes=1000)
    assert read_media_bytes(path, max_bytes=1001) == b"\0" * 1001


# --- damaged and unsupported data --------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "HEIF", "AVIF"])
def test_truncated_file_is_corrupt(fmt: str, photo: Image.Image) -> None:
    data = ENCODERS[fmt](photo)
    with pytest.raises(CorruptMediaError):
        decode_image(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("magic", "name"),
    [(b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF89a", "GIF"), (b"\0\0\0\x18ftypheic", "HEIF")],
)
def test_damaged_header_is_corrupt_not_unsupported(magic: bytes, name: str) -> None:
    with pytest.raises(CorruptMediaError, match=name):
        decode_image(magic + b"\x00garbage" * 20)


def test_random_bytes_are_unsupported() -> None:
    data = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(UnsupportedMediaError, match="unrecognised"):
        decode_image(data)


def test_text_file_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("these are not the pixels you are looking for\n" * 20)
    with pytest.raises(UnsupportedMediaError, match="text"):
        decode_image(path)


def test_pdf_is_unsupported_and_named() -> None:
    with pytest.raises(UnsupportedMediaError, match="PDF"):
        decode_image(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")


@pytest.mark.parametrize(("fmt", "name"), [("ICO", "ICO"), ("PPM", "PNM"), ("PSD", "PSD")])
def test_formats_pillow_reads_but_brightline_refuses(fmt: str, name: str, photo: Image.Image) -> None:
    if fmt == "PSD":
        data = b"8BPS\x00\x01" + b"\x00" * 40  # Pillow cannot write PSD; a header is enough
    else:
        data = _encode(photo.resize((64, 64)), fmt)
        Image.open(io.BytesIO(data)).load()  # Pillow itself would decode it
    with pytest.raises(UnsupportedMediaError, match=name):
        decode_image(data)


def test_sniffing_names_video_and_archives() -> None:
    assert sniff_format(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00") == "MP4 video"
    assert sniff_format(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00") == "HEIF"
    assert sniff_format(b"PK\x03\x04rest") == "ZIP"
    assert sniff_format(b"BMnot really a bitmap, just text") == "text"


# --- decompression bombs -------------------------------------------------------------


def test_huge_declared_size_is_refused_before_decoding() -> None:
    # 100000 x 100000 declared, a few dozen bytes of data: Pillow's own guard fires at open.
    with pytest.raises(MediaTooLargeError):
        decode_image(_png_claiming(100_000, 100_000), max_pixels=10**12)


def test_pixel_limit_is_checked_on_the_header() -> None:
    # The pixel data is empty, so reaching the decoder would raise CorruptMediaError instead.
    with pytest.raises(MediaTooLargeError, match="2000x2000"):
        decode_image(_png_claiming(2000, 2000), max_pixels=1_000_000)


def test_pillow_bomb_warning_does_not_leak() -> None:
    # 10000 x 9000 is over Pillow's warning threshold (~89.5 MP); tests run with -W error,
    # so a leaked DecompressionBombWarning would surface as that exception instead.
    with pytest.raises(MediaTooLargeError, match="10000x9000"):
        decode_image(_png_claiming(10_000, 9_000, colour_type=0), max_pixels=50_000_000)


def test_image_at_the_limit_is_accepted(photo: Image.Image) -> None:
    data = ENCODERS["PNG"](photo)
    assert decode_image(data, max_pixels=photo.width * photo.height).pixels.shape[:2] == (500, 500)


# --- colour modes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("CMYK", "JPEG"),
        ("CMYK", "TIFF"),
        ("P", "PNG"),
        ("P", "GIF"),
        ("P", "BMP"),
        ("LA", "PNG"),
        ("RGBA", "PNG"),
        ("RGBA", "WEBP"),
        ("I;16", "PNG"),
        ("I", "TIFF"),
        ("F", "TIFF"),
        ("YCbCr", "TIFF"),
        ("LAB", "TIFF"),
    ],
)
def test_colour_modes_convert_like_pillow(mode: str, fmt: str, photo: Image.Image) -> None:
    source = photo.convert("L").convert(mode) if mode in ("I;16", "I", "F") else photo.convert(mode)
    options: dict[str, object] = {"lossless": True} if fmt == "WEBP" else {}
    data = _encode(source, fmt, **options)
    with Image.open(io.BytesIO(data)) as reference:
        opened_mode = reference.mode
        expected = np.asarray(reference.convert("RGB"))
    decoded = decode_image(data, exact=True)
    assert decoded.mode == opened_mode
    assert not decoded.is_grey
    assert np.array_equal(decoded.pixels, expected)


@pytest.mark.parametrize("mode", ["L", "1"])
def test_grey_modes_use_the_grey_path(mode: str, photo: Image.Image) -> None:
    source = photo.convert(mode)
    decoded = decode_image(_encode(source, "PNG"))
    assert decoded.is_grey
    assert decoded.mode == mode
    assert decoded.pixels.shape == (photo.height, photo.width)
    assert np.array_equal(decoded.pixels, np.asarray(source.convert("L")))


def test_grey_jpeg_fast_path_stays_grey(wallpaper: Path) -> None:
    with Image.open(wallpaper) as image:
        grey = _encode(image.convert("L"), "JPEG", quality=90)
    fast, exact = decode_image(grey), decode_image(grey, exact=True)
    assert fast.is_grey
    assert exact.is_grey
    assert fast.scale == 2
    assert _distance(_pdq(fast), _pdq(exact)) <= FAST_MAX_DISTANCE


# --- fast path -----------------------------------------------------------------------


def _fast_and_exact(source: bytes | Path) -> tuple[DecodedImage, DecodedImage]:
    return decode_image(source), decode_image(source, exact=True)


def test_fast_path_decodes_large_jpeg_at_reduced_scale(wallpaper: Path) -> None:
    fast, exact = _fast_and_exact(wallpaper)
    assert (exact.width, exact.height, exact.scale) == (3000, 2250, 1)
    assert exact.pixels.shape == (2250, 3000, 3)
    assert (fast.width, fast.height, fast.scale) == (3000, 2250, 2)
    assert fast.pixels.shape == (1125, 1500)  # decoded straight to the JPEG's Y channel
    assert fast.is_grey
    assert min(fast.pixels.shape[:2]) >= DEFAULT_FAST_MIN_SIDE
    assert _distance(_pdq(fast), _pdq(exact)) <= FAST_MAX_DISTANCE


def test_fast_path_decodes_colour_jpeg_as_luma(photo: Image.Image) -> None:
    data = ENCODERS["JPEG"](photo)
    fast, exact = _fast_and_exact(data)
    colour = decode_image(data, jpeg_luma=False)
    assert fast.is_grey and fast.scale == 1 and fast.mode == "RGB"
    assert not exact.is_grey and not colour.is_grey
    assert np.array_equal(colour.pixels, exact.pixels)
    # Y against the float32 luma of the decoded RGB: rounding and clamping only.
    luma = exact.pixels.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    assert float(np.abs(fast.pixels - luma).mean()) < 1.0
    assert _distance(_pdq(fast), _pdq(exact)) <= FAST_MAX_DISTANCE


def test_luma_fast_path_leaves_other_jpeg_modes_alone(photo: Image.Image) -> None:
    cmyk = decode_image(_encode(photo.convert("CMYK"), "JPEG", quality=90))
    assert not cmyk.is_grey and cmyk.mode == "CMYK"
    assert decode_image(ENCODERS["PNG"](photo)).pixels.shape == (photo.height, photo.width, 3)


def test_fast_path_reduces_other_formats(wallpaper: Path) -> None:
    with Image.open(wallpaper) as image:
        data = _encode(image, "PNG", compress_level=1)
    fast, exact = _fast_and_exact(data)
    assert (fast.format, fast.scale) == ("PNG", 2)
    assert fast.pixels.shape == (1125, 1500, 3)
    assert _distance(_pdq(fast), _pdq(exact)) <= FAST_MAX_DISTANCE


def test_fast_path_on_phone_photo(shared_dir: Path) -> None:
    fast, exact = _fast_and_exact(shared_dir / "vectors" / "pdq" / "files" / "exif-rotn__exif-rotn-6.jpg")
    assert fast.scale > 1
    assert _distance(_pdq(fast), _pdq(exact)) <= FAST_MAX_DISTANCE


def test_fast_min_side_sets_the_scale(photo: Image.Image) -> None:
    data = ENCODERS["JPEG"](photo)
    assert decode_image(data).scale == 1  # 500 px is under the default short side
    fast = decode_image(data, fast_min_side=64)
    assert fast.scale == 4  # 500 // 8 < 64; at 1/4 PDQ's filter window still spans the same pixels
    assert fast.pixels.shape == (125, 125)
    assert (fast.width, fast.height) == (500, 500)


def test_fast_min_side_must_be_positive(photo: Image.Image) -> None:
    with pytest.raises(ValueError, match="fast_min_side"):
        decode_image(ENCODERS["PNG"](photo), fast_min_side=0)
