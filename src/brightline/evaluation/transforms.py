"""The catalogue of edits applied to known photos, and the SPEC syntax that selects them.

SPEC: ``standard`` (the default set), ``all`` (every transform at every listed strength), or items
separated by ``;``. An item is ``name`` (its standard strengths), ``name:s1,s2`` (those strengths)
or a chain ``name:s+name:s`` (one combined edit applied left to right, e.g. ``crop:0.05+jpeg:50``).
``standard``/``all`` may be mixed with items: ``standard;crop:0.01``.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from brightline.evaluation import overlays

Apply = Callable[[Image.Image, str, np.random.Generator], Image.Image]
UPLOAD_QUALITY = 95  # copies are JPEG-encoded as an upload would be, unless the edit is itself a JPEG


@dataclass(frozen=True)
class Transform:
    """One kind of edit; strengths are strings (numbers unless ``choices`` is set)."""

    name: str
    help: str
    apply: Apply
    strengths: tuple[str, ...]  # the strengths ``all`` runs
    standard: tuple[str, ...]  # the strengths ``standard`` runs
    low: float = 0.0
    high: float = 0.0
    choices: tuple[str, ...] = ()

    def canonical(self, strength: str) -> str:
        """The canonical spelling of a strength ("0.10" -> "0.1"), or ValueError if out of range."""
        text = strength.strip()
        if self.choices:
            if text not in self.choices:
                raise ValueError(f"{self.name}: strength must be one of {', '.join(self.choices)}, got {text!r}")
            return text
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{self.name}: strength must be a number, got {text!r}") from None
        if not self.low <= value <= self.high:
            raise ValueError(f"{self.name}: strength {text} is outside {self.low:g}..{self.high:g}")
        return f"{value:g}"


def _scale(image: Image.Image) -> float:
    """Pixel sizes are given per 512 px of short side, so an edit looks alike at any resolution."""
    return min(image.size) / 512


def _jpeg(image: Image.Image, s: str, rng: np.random.Generator) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=int(float(s)))
    with Image.open(io.BytesIO(buf.getvalue())) as out:
        return out.convert("RGB")


def _resize(image: Image.Image, s: str, rng: np.random.Generator) -> Image.Image:
    f = float(s)
    return image.resize((max(8, round(image.width * f)), max(8, round(image.height * f))), Image.Resampling.LANCZOS)


def _crop(image: Image.Image, s: str, rng: np.random.Generator) -> Image.Image:
    """Remove a fraction of each dimension, split between the two sides at a seeded ratio."""
    f = float(s)
    w, h = image.size
    cut_w, cut_h = max(1, round(w * f)), max(1, round(h * f))
    left, top = int(rng.integers(0, cut_w + 1)), int(rng.integers(0, cut_h + 1))
    return image.crop((left, top, w - (cut_w - left), h - (cut_h - top)))


def _pad_with(fill: str) -> Apply:
    def pad(image: Image.Image, s: str, rng: np.random.Generator) -> Image.Image:
        """A border adding a fraction of each dimension, image centred."""
        f = float(s)
        w, h = image.size
        nw, nh = w + max(2, round(w * f)), h + max(2, round(h * f))
        if fill == "blur":
            # Blurred small and scaled up: the look of a heavy blur at a fraction of the cost.
            small = image.resize((max(1, nw // 16), max(1, nh // 16)), Image.Resampling.BOX)
            canvas = small.filter(ImageFilter.GaussianBlur(2)).resize((nw, nh), Image.Resampling.BICUBIC)
        else:
            colours = {"black": (0, 0, 0), "white": (255, 255, 255)}
            colour = colours.get(fill) or tuple(int(c) for c in rng.integers(0, 256, 3))
            canvas = Image.new("RGB", (nw, nh), colour)
        canvas.paste(image, ((nw - w) // 2, (nh - h) // 2))
        return canvas

    return pad


def _letterbox(image: Image.Image, s: str, rng: np.random.Generator) -> Image.Image:
    bar = max(1, round(image.height * float(s) / 2))
    return ImageOps.expand(image, border=(0, bar, 0, bar), fill=(0, 0, 0))


_RIGHT_ANGLES = {
    "90": Image.Transpose.ROTATE_90,
    "180": Image.Transpose.ROTATE_180,
    "270": Image.Transpose.ROTATE_270,
}


def _rotate(image: Image.Image, s: str, rng: np.random.Generator) -> Image.Image:
    """Right angles are exact transposes; small angles turn a seeded way with black corners, same size."""
    if s in _RIGHT_ANGLES:
        return image.transpose(_RIGHT_ANGLES[s])
    sign = 1 if rng.integers(2) else -1
    return image.rotate(sign * float(s), resample=Image.Resampling.BICUBIC, fillcolor=(0, 0, 0))


def _flip(image: Image.Image, s: str, rng: np.random.Generator) -> Image.Image:
    return ImageOps.mirror(image) if s == "h" else ImageOps.flip(image)


def _enhance(kind: type[ImageEnhance._Enhance]) -> Apply:
    def enhance(image: Image.Image, s: str, rng: np.random.Generator) -> Image.Image:
        return kind(image).enhance(float(s))  # type: ignore[call-arg]

    return enhance


def _gamma(image: Image.Image, s: str, rng: np.random.Generator) -> Image.Image:
    g = float(s)
    lut = [round(255 * (i / 255) ** g) for i in range(256)]
    return image.point(lut * 3)


def _greyscale(image: Image.Image, s: str, rng: np.random.Generator) -> Image.Image:
    return ImageOps.grayscale(image).convert("RGB")


def _hue(image: Image.Image, s: str, rng: np.random.Generator) -> Image.Image:
    hsv = np.asarray(image.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + round(float(s) / 360 * 256)) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def _blur(image: Image.Image, s: str, rng: np.random.Generator) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(float(s) * _scale(image)))


def _sharpen(image: Image.Image, s: str, rng: np.random.Generator) -> Image.Image:
    return image.filter(ImageFilter.UnsharpMask(radius=2 * _scale(image), percent=round(float(s) * 100), threshold=0))


def _noise(image: Image.Image, s: str, rng: np.random.Generator) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32)
    noisy = pixels + rng.normal(0.0, float(s), pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(noisy + 0.5, 0, 255).astype(np.uint8), "RGB")


def _screenshot(image: Image.Image, s: str, rng: np.random.Generator) -> Image.Image:
    return overlays.screenshot(image, s, rng)


def _overlay(fn: Callable[[Image.Image, float, np.random.Generator], Image.Image]) -> Apply:
    return lambda image, s, rng: fn(image, float(s), rng)


def _t(name: str, help: str, apply: Apply, strengths: str, standard: str, low: float, high: float) -> Transform:
    return Transform(name, help, apply, tuple(strengths.split()), tuple(standard.split()), low, high)


def _choice(name: str, help: str, apply: Apply, choices: str, standard: str) -> Transform:
    return Transform(name, help, apply, tuple(choices.split()), tuple(standard.split()), choices=tuple(choices.split()))


_PADS = "0.05 0.1 0.2 0.3 0.5"
CATALOGUE: dict[str, Transform] = {
    t.name: t
    for t in (
        _t("jpeg", "JPEG quality", _jpeg, "90 70 50 30 20 10", "70 50 30 10", 1, 100),
        _t("resize", "scale factor", _resize, "1.5 0.75 0.5 0.25 0.1", "0.5 0.25 0.1", 0.01, 4),
        _t(
            "crop",
            "fraction of each side removed",
            _crop,
            "0.01 0.02 0.05 0.1 0.2 0.3",
            "0.02 0.05 0.1 0.2 0.3",
            0.001,
            0.9,
        ),
        _t(
            "letterbox",
            "black bars, fraction of height added",
            _letterbox,
            "0.05 0.1 0.25 0.5",
            "0.1 0.25 0.5",
            0.001,
            3,
        ),
        _t("pad-black", "black border, fraction of each side added", _pad_with("black"), _PADS, "0.1 0.3", 0.001, 3),
        _t("pad-white", "white border, fraction of each side added", _pad_with("white"), _PADS, "0.1 0.3", 0.001, 3),
        _t("pad-colour", "seeded colour border, fraction added", _pad_with("colour"), "0.05 0.2 0.5", "0.2", 0.001, 3),
        _t("pad-blur", "blurred-fill border, fraction added", _pad_with("blur"), "0.05 0.2 0.5", "0.2 0.5", 0.001, 3),
        _t("rotate", "degrees (90/180/270 exact)", _rotate, "1 2 5 10 15 90 180 270", "2 5 10 90 180", 0.01, 359),
        _choice("flip", "h = mirror, v = upside down", _flip, "h v", "h v"),
        _t("brightness", "factor", _enhance(ImageEnhance.Brightness), "0.5 0.7 1.3 1.6", "0.6 1.4", 0, 5),
        _t("contrast", "factor", _enhance(ImageEnhance.Contrast), "0.5 0.7 1.3 1.6", "0.6 1.4", 0, 5),
        _t("saturation", "factor", _enhance(ImageEnhance.Color), "0.3 0.6 1.5 2", "0.3 2", 0, 5),
        _t("gamma", "exponent", _gamma, "0.5 0.7 1.4 2", "0.6 1.6", 0.05, 5),
        _choice("greyscale", "on", _greyscale, "on", "on"),
        _t("hue", "degrees of hue rotation", _hue, "15 30 90 180", "30 90", 0, 360),
        _t("blur", "Gaussian radius, px per 512 px of short side", _blur, "1 2 3 5", "1 3", 0, 50),
        _t("sharpen", "unsharp-mask amount (1 = 100 %)", _sharpen, "1 2 4", "2 4", 0, 10),
        _t("noise", "Gaussian sigma (0-255)", _noise, "5 10 20 40", "10 30", 0, 128),
        _t(
            "text",
            "caption height, fraction of height",
            _overlay(overlays.caption),
            "0.05 0.1 0.15",
            "0.05 0.1",
            0.01,
            0.4,
        ),
        _t(
            "emoji",
            "emoji size, fraction of short side",
            _overlay(overlays.emoji),
            "0.1 0.2 0.3 0.5",
            "0.15 0.3",
            0.01,
            1,
        ),
        _t("watermark", "opacity", _overlay(overlays.watermark), "0.2 0.4 0.6", "0.3 0.6", 0.01, 1),
        _choice("screenshot", "phone app or desktop browser frame", _screenshot, "phone desktop", "phone desktop"),
    )
}

STANDARD_COMBOS = (
    "crop:0.05+jpeg:50",
    "resize:0.5+jpeg:30",
    "crop:0.1+resize:0.5+jpeg:70",
    "pad-black:0.2+text:0.05",
    "flip:h+crop:0.05",
    "screenshot:phone+jpeg:70",
)


@dataclass(frozen=True)
class Edit:
    """One edit to apply to every known photo: a chain of (transform, strength) steps."""

    steps: tuple[tuple[str, str], ...]

    @property
    def name(self) -> str:
        """The transform name, e.g. "crop" or "crop+jpeg"."""
        return "+".join(name for name, _ in self.steps)

    @property
    def strength(self) -> str:
        """The strength label, e.g. "0.05" or "0.05+50"."""
        return "+".join(s for _, s in self.steps)

    @property
    def label(self) -> str:
        """Spec spelling of this edit, e.g. "crop:0.05+jpeg:50"."""
        return "+".join(f"{n}:{s}" for n, s in self.steps)

    def apply(self, image: Image.Image, seed: int, photo_key: str) -> bytes:
        """The edited copy as upload bytes (the edit's own JPEG when it ends in one, else JPEG q95)."""
        rng = np.random.default_rng(_stable_seed(seed, photo_key, self.label))
        steps = list(self.steps)
        quality = UPLOAD_QUALITY
        if steps[-1][0] == "jpeg":
            quality = int(float(steps.pop()[1]))
        out = image
        for name, strength in steps:
            out = CATALOGUE[name].apply(out, strength, rng)
        buf = io.BytesIO()
        out.convert("RGB").save(buf, "JPEG", quality=quality)
        return buf.getvalue()


def _stable_seed(seed: int, *parts: str) -> list[int]:
    """A seed from the run seed, the photo and the edit, so copies do not depend on thread order."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return [seed, *np.frombuffer(digest[:16], dtype="<u4").tolist()]


def _item_edits(item: str) -> list[Edit]:
    parts = item.split("+")
    if len(parts) > 1:
        steps = []
        for part in parts:
            name, _, strength = part.partition(":")
            transform = _transform(name)
            if not strength or "," in strength:
                raise ValueError(f"{item!r}: each step of a combined edit needs exactly one strength")
            steps.append((transform.name, transform.canonical(strength)))
        return [Edit(tuple(steps))]
    name, has_strengths, strengths = item.partition(":")
    transform = _transform(name)
    chosen = strengths.split(",") if has_strengths else list(transform.standard)
    return [Edit(((transform.name, transform.canonical(s)),)) for s in chosen if s.strip()]


def _transform(name: str) -> Transform:
    key = name.strip().lower()
    if key not in CATALOGUE:
        raise ValueError(f"unknown transform {name!r}; known: {', '.join(CATALOGUE)}")
    return CATALOGUE[key]


def parse_spec(spec: str) -> list[Edit]:
    """The edits a SPEC names, in order and without repeats; ValueError says what is wrong."""
    edits: list[Edit] = []
    for raw in spec.split(";"):
        item = raw.strip()
        if not item:
            continue
        if item in ("standard", "all"):
            for t in CATALOGUE.values():
                strengths = t.strengths if item == "all" else t.standard
                edits.extend(Edit(((t.name, s),)) for s in strengths)
            edits.extend(e for combo in STANDARD_COMBOS for e in _item_edits(combo))
        else:
            edits.extend(_item_edits(item))
    unique = list(dict.fromkeys(edits))
    if not unique:
        raise ValueError(f"the transform spec {spec!r} names no edits")
    return unique
