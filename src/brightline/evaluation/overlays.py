"""Overlay edits drawn with Pillow: captions, emoji, watermarks and screenshot-like framing."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

_TEXT = (
    "look at this new drop today only sale summer vibes weekend mood best friends never again "
    "when you finally get it right no way this is real can't stop laughing send help"
)
_WORDS = tuple(_TEXT.split())
_FONT_CACHE: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}


def font(size: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled scalable font at ``size`` px (no font files needed)."""
    size = max(6, int(size))
    if size not in _FONT_CACHE:
        _FONT_CACHE[size] = ImageFont.load_default(size=size)
    return _FONT_CACHE[size]


def _phrase(rng: np.random.Generator, words: int) -> str:
    return " ".join(str(w) for w in rng.choice(_WORDS, size=words))


def caption(image: Image.Image, height_frac: float, rng: np.random.Generator) -> Image.Image:
    """Meme-style captions (white text, black outline) at the top and bottom; text height is a fraction."""
    out = image.copy()
    draw = ImageDraw.Draw(out)
    size = max(8, round(image.height * height_frac))
    face = font(size)
    stroke = max(1, size // 12)
    for y in (size // 4, image.height - size - size // 2):
        text = _phrase(rng, int(rng.integers(2, 6))).upper()
        width = draw.textlength(text, font=face)
        x = max(0.0, (image.width - width) / 2)
        draw.text((x, y), text, font=face, fill=(255, 255, 255), stroke_width=stroke, stroke_fill=(0, 0, 0))
    return out


@cache
def emoji_assets() -> tuple[Path, ...]:
    """AugLy's bundled Twemoji PNGs when AugLy is installed (found without importing it), else ()."""
    spec = importlib.util.find_spec("augly")
    if spec is None or spec.origin is None:
        return ()
    root = Path(spec.origin).parent / "assets" / "twemojis"
    return tuple(sorted(root.rglob("*.png"))) if root.is_dir() else ()


def _drawn_emoji(size: int, rng: np.random.Generator) -> Image.Image:
    """A smiley drawn with shapes, for when AugLy's emoji images are not installed."""
    scale = 4  # draw large and shrink, for smooth edges
    s = size * scale
    tile = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(tile)
    colours = [(255, 204, 77), (255, 120, 80), (120, 200, 255), (170, 230, 120)]
    face = colours[int(rng.integers(len(colours)))]
    draw.ellipse((0, 0, s - 1, s - 1), fill=(*face, 255), outline=(90, 60, 20, 255), width=max(1, s // 40))
    eye = s // 10
    for cx in (s * 0.35, s * 0.65):
        draw.ellipse((cx - eye / 2, s * 0.3, cx + eye / 2, s * 0.3 + eye * 1.6), fill=(60, 40, 20, 255))
    draw.arc((s * 0.22, s * 0.3, s * 0.78, s * 0.8), 20, 160, fill=(60, 40, 20, 255), width=max(2, s // 25))
    return tile.resize((size, size), Image.Resampling.LANCZOS)


def emoji(image: Image.Image, size_frac: float, rng: np.random.Generator) -> Image.Image:
    """One emoji, ``size_frac`` of the short side, pasted at a seeded position."""
    size = max(4, round(min(image.size) * size_frac))
    assets = emoji_assets()
    if assets:
        with Image.open(assets[int(rng.integers(len(assets)))]) as raw:
            tile = raw.convert("RGBA").resize((size, size), Image.Resampling.LANCZOS)
    else:
        tile = _drawn_emoji(size, rng)
    x = int(rng.integers(0, max(1, image.width - size + 1)))
    y = int(rng.integers(0, max(1, image.height - size + 1)))
    out = image.convert("RGBA")
    out.alpha_composite(tile, (x, y))
    return out.convert("RGB")


def watermark(image: Image.Image, opacity: float, rng: np.random.Generator) -> Image.Image:
    """A semi-transparent diagonal text tile over the whole image plus a corner logo."""
    w, h = image.size
    size = max(10, min(w, h) // 12)
    text = "© " + _phrase(rng, 2) + " stock"
    layer = Image.new("RGBA", (w * 2, h * 2), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    face = font(size)
    step_x = int(draw.textlength(text, font=face)) + size * 2
    alpha = round(255 * opacity)
    for row, y in enumerate(range(0, h * 2, size * 3)):
        for x in range(-(row % 2) * step_x // 2, w * 2, step_x):
            draw.text((x, y), text, font=face, fill=(255, 255, 255, alpha))
    tiled = layer.rotate(30, resample=Image.Resampling.BICUBIC).crop((w // 2, h // 2, w // 2 + w, h // 2 + h))
    logo = max(8, min(w, h) // 6)
    ImageDraw.Draw(tiled).ellipse(
        (w - logo - size, h - logo - size, w - size, h - size), outline=(255, 255, 255, alpha), width=max(2, logo // 8)
    )
    out = image.convert("RGBA")
    out.alpha_composite(tiled)
    return out.convert("RGB")


def _fit(image: Image.Image, box_w: int, box_h: int) -> Image.Image:
    scale = min(box_w / image.width, box_h / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _status_bar(draw: ImageDraw.ImageDraw, width: int, height: int, rng: np.random.Generator) -> None:
    face = font(height * 0.55)
    clock = f"{int(rng.integers(0, 24))}:{int(rng.integers(0, 60)):02d}"
    draw.text((height * 0.6, height * 0.2), clock, font=face, fill=(20, 20, 20))
    bx = width - height * 1.6
    draw.rectangle((bx, height * 0.3, bx + height * 0.9, height * 0.7), outline=(20, 20, 20), width=2)
    draw.rectangle((bx + 3, height * 0.3 + 3, bx + height * 0.6, height * 0.7 - 3), fill=(20, 20, 20))


def _phone(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = 720, 1560
    canvas = Image.new("RGB", (w, h), (250, 250, 250))
    draw = ImageDraw.Draw(canvas)
    _status_bar(draw, w, 56, rng)
    draw.rectangle((0, 56, w, 168), fill=(255, 255, 255))
    draw.ellipse((24, 76, 96, 148), fill=tuple(int(c) for c in rng.integers(60, 200, 3)))
    draw.text((116, 90), _phrase(rng, 2).replace(" ", "_"), font=font(34), fill=(20, 20, 20))
    photo = _fit(image, w, 980)
    top = 176
    canvas.paste(photo, ((w - photo.width) // 2, top))
    y = top + photo.height + 24
    for i in range(4):
        draw.ellipse((24 + i * 84, y, 84 + i * 84, y + 60), outline=(30, 30, 30), width=4)
    draw.text((24, y + 84), _phrase(rng, 6), font=font(30), fill=(30, 30, 30))
    draw.text((24, y + 130), _phrase(rng, 5), font=font(30), fill=(120, 120, 120))
    draw.rectangle((0, h - 110, w, h), fill=(255, 255, 255))
    for i in range(5):
        cx = w * (i + 0.5) / 5
        draw.rectangle((cx - 22, h - 78, cx + 22, h - 34), outline=(30, 30, 30), width=4)
    return canvas


def _desktop(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = 1600, 1000
    canvas = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, w, 44), fill=(222, 225, 230))
    draw.rounded_rectangle((12, 8, 300, 44), radius=8, fill=(255, 255, 255))
    draw.text((28, 14), _phrase(rng, 3), font=font(18), fill=(40, 40, 40))
    draw.rectangle((0, 44, w, 96), fill=(245, 246, 248))
    draw.rounded_rectangle((120, 54, w - 200, 88), radius=16, fill=(255, 255, 255), outline=(200, 200, 200))
    draw.text((140, 60), "https://example.com/" + _phrase(rng, 2).replace(" ", "/"), font=font(18), fill=(60, 60, 60))
    draw.rectangle((0, 96, 260, h), fill=(240, 242, 245))
    for i in range(8):
        draw.text((24, 130 + i * 44), _phrase(rng, 2), font=font(20), fill=(60, 60, 60))
    photo = _fit(image, 900, 720)
    canvas.paste(photo, (300 + (900 - photo.width) // 2, 130))
    draw.text((300, 870), _phrase(rng, 8), font=font(26), fill=(20, 20, 20))
    draw.text((1240, 130), _phrase(rng, 3), font=font(22), fill=(20, 20, 20))
    return canvas


def screenshot(image: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    """The image inside a phone app ("phone") or browser window ("desktop") with bars and text."""
    return _phone(image, rng) if kind == "phone" else _desktop(image, rng)
