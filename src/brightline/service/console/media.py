"""What the console shows of a case's media: a blurred greyscale thumbnail by default, clear only after reveal.

The blur happens on the server: the blurred view is rendered from a tiny greyscale copy, so the
browser never receives clear pixels before a reviewer chooses to see them. Videos become a grid
of frames spread over their length. Everything is re-encoded, which also drops metadata (EXIF).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator

from PIL import Image, ImageDraw, ImageFilter, ImageOps

from brightline.errors import BrightlineError, CorruptMediaError, UnsupportedMediaError
from brightline.signals.video_sniff import sniff_container
from brightline.signals.video_source import FrameSource, open_av, open_webp

# The blurred view is made from at most this many pixels a side, then blurred and enlarged:
# detail lost at this size cannot come back, whatever a browser does with the image.
BLUR_SOURCE_SIDE = 24
BLUR_RADIUS = 6
VIEW_SIDE = 480
CLEAR_MAX_SIDE = 1600
GRID_COLUMNS = 3
GRID_FRAMES = 9
GRID_TILE = 240
MAX_PIXELS = 100_000_000


def is_video(data: bytes) -> bool:
    """Whether the bytes are a video (or animated GIF/WebP) rather than a still image."""
    return sniff_container(io.BytesIO(data)) is not None


def _open_image(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise UnsupportedMediaError("the image is too large to show")
            image.load()
        except (OSError, ValueError, SyntaxError) as exc:
            raise CorruptMediaError(f"the media cannot be shown: {exc}") from None
    return ImageOps.exif_transpose(image).convert("RGB")


def _video_source(data: bytes) -> FrameSource:
    handle = io.BytesIO(data)
    container = sniff_container(handle)
    if container is None:
        raise UnsupportedMediaError("not a video")
    if container.demuxer == "pillow-webp":
        return open_webp(handle, MAX_PIXELS)
    return open_av(handle, container, MAX_PIXELS, sparse=False)


def _frames(data: bytes, count: int) -> Iterator[Image.Image]:
    """Up to ``count`` frames spread over the video (every n-th frame, n from its length)."""
    with _video_source(data) as source:
        total = int(source.duration * source.fps) if source.duration > 0 and source.fps > 0 else count
        step = max(1, total // count)
        taken = 0
        for number, frame in source.frames(1, None):
            if number % step:
                continue
            yield Image.fromarray(frame.to_ndarray(format="rgb24"))
            taken += 1
            if taken >= count:
                return


def keyframe_grid(data: bytes) -> Image.Image:
    """A grid of frames from the video, left to right, top to bottom in time order."""
    tiles = []
    for frame in _frames(data, GRID_FRAMES):
        frame.thumbnail((GRID_TILE, GRID_TILE))
        tiles.append(frame)
    if not tiles:
        raise CorruptMediaError("the video has no frames to show")
    columns = min(GRID_COLUMNS, len(tiles))
    rows = -(-len(tiles) // columns)
    grid = Image.new("RGB", (columns * GRID_TILE, rows * GRID_TILE), (24, 24, 24))
    for index, tile in enumerate(tiles):
        x = (index % columns) * GRID_TILE + (GRID_TILE - tile.width) // 2
        y = (index // columns) * GRID_TILE + (GRID_TILE - tile.height) // 2
        grid.paste(tile, (x, y))
    return grid


def picture(data: bytes) -> Image.Image:
    """The image itself, or the keyframe grid of a video."""
    return keyframe_grid(data) if is_video(data) else _open_image(data)


def blurred(image: Image.Image) -> Image.Image:
    """A heavily blurred greyscale rendering: shapes and layout stay, no detail does."""
    grey = image.convert("L")
    grey.thumbnail((BLUR_SOURCE_SIDE, BLUR_SOURCE_SIDE), Image.Resampling.BOX)
    scale = VIEW_SIDE / max(grey.width, grey.height)
    size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
    return grey.resize(size, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(BLUR_RADIUS))


def clear(image: Image.Image) -> Image.Image:
    """The image at a size a screen needs (never larger than CLEAR_MAX_SIDE)."""
    shown = image.copy()
    shown.thumbnail((CLEAR_MAX_SIDE, CLEAR_MAX_SIDE))
    return shown


def placeholder(message: str) -> Image.Image:
    """A plain grey tile saying why there is nothing to show."""
    tile = Image.new("L", (VIEW_SIDE, VIEW_SIDE // 2), 90)
    ImageDraw.Draw(tile).text((16, VIEW_SIDE // 4 - 6), message[:70], fill=230)
    return tile


def encode_jpeg(image: Image.Image) -> bytes:
    """JPEG bytes of the image (no metadata)."""
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def render(data: bytes, *, revealed: bool) -> bytes:
    """JPEG of the media as the console shows it: blurred greyscale unless ``revealed``."""
    try:
        image = picture(data)
    except BrightlineError as exc:
        return encode_jpeg(placeholder(f"cannot show this media: {exc.code}"))
    return encode_jpeg(clear(image) if revealed else blurred(image))
