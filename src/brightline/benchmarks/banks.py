"""Benchmark banks of 256-bit PDQ codes: uniform random, or realistic (photos and edited copies of them).

The realistic bank hashes every photo under ``<shared>/corpus`` and many edited copies of
each (crops, resizes, colour changes, text overlays, small rotations, blur, JPEG), so its
codes cluster the way a real hash list does. Edits are drawn from a generator seeded by
(seed, photo, edit), so the codes do not depend on how the work is spread over processes.
The codes are cached as a plain .npz (no pickle) keyed by seed and edit count.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from brightline.signals.hexcodes import hex_to_words
from brightline.signals.pdq import pdq_hash_pixels

Words = npt.NDArray[np.uint64]
BITS = 256
CORPUS_DIRS = ("clothing", "bsds500", "kodak24", "wallpapers")
# Photos are shrunk to this longest side before editing (wallpapers are up to 6.75 MP).
MAX_SIDE = 1024
# Edits per photo kept out of the bank and used as queries.
QUERY_EDITS = 2
# Every HOLDOUT-th photo's original is left out of the bank (only its edits are in).
HOLDOUT = 10


def shared_dir() -> Path:
    """The shared data folder: BRIGHTLINE_SHARED, else ``shared`` beside the checkout."""
    return Path(os.environ.get("BRIGHTLINE_SHARED", Path(__file__).resolve().parents[4] / "shared"))


def default_cache_dir() -> Path:
    """bench/results in a source checkout (git-ignored), else build/bench under the working directory."""
    bench = Path(__file__).resolve().parents[3] / "bench"
    return bench / "results" if bench.is_dir() else Path("build") / "bench"


def random_codes(n: int, rng: np.random.Generator) -> Words:
    """n uniformly random codes as (n, 4) uint64."""
    return rng.integers(0, 2**64, size=(n, BITS // 64), dtype=np.uint64)


def photo_paths(shared: Path) -> list[Path]:
    """The corpus photos, in a fixed order."""
    paths = [p for d in CORPUS_DIRS for p in sorted((shared / "corpus" / d).glob("*")) if p.is_file()]
    if not paths:
        raise FileNotFoundError(f"no photos under {shared / 'corpus'}; set BRIGHTLINE_SHARED")
    return paths


def _crop(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    keep_w, keep_h = rng.uniform(0.9, 0.995, size=2)  # PDQ is not crop-robust: trims only
    cw, ch = max(8, int(w * keep_w)), max(8, int(h * keep_h))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return img.crop((x, y, x + cw, y + ch))


def _resize(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    scale = float(rng.uniform(0.25, 1.5))
    return img.resize((max(8, int(img.width * scale)), max(8, int(img.height * scale))), Image.Resampling.BILINEAR)


def _colour(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    if rng.random() < 0.2:
        return img.convert("L").convert("RGB")
    img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.6, 1.4)))
    img = ImageEnhance.Contrast(img).enhance(float(rng.uniform(0.6, 1.4)))
    return ImageEnhance.Color(img).enhance(float(rng.uniform(0.0, 2.0)))


def _text(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    img = img.copy()
    draw = ImageDraw.Draw(img)
    size = max(10, int(img.height * rng.uniform(0.05, 0.15)))
    font = ImageFont.load_default(size=size)
    words = ["SALE", "meme", "lol", "Copyright 2024", "@someone", "WAIT FOR IT", "#viral", "reposted"]
    text = " ".join(rng.choice(words, size=int(rng.integers(1, 4))).tolist())
    xy = (int(rng.integers(0, max(1, img.width // 2))), int(rng.integers(0, max(1, img.height - size))))
    colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
    draw.text(xy, text, fill=colour, font=font, stroke_width=1, stroke_fill=(0, 0, 0))
    return img


def _rotate(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return img.rotate(float(rng.uniform(-2, 2)), resample=Image.Resampling.BILINEAR, expand=False)


def _blur(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.5))))


def _jpeg(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(rng.integers(20, 90)))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


EDITS: tuple[Callable[[Image.Image, np.random.Generator], Image.Image], ...] = (
    _crop,
    _resize,
    _colour,
    _text,
    _rotate,
    _blur,
    _jpeg,
)


def edit(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """One to three random edits applied in turn."""
    for op in rng.choice(len(EDITS), size=int(rng.integers(1, 4)), replace=False).tolist():
        img = EDITS[op](img, rng)
    return img


def _pdq_words(img: Image.Image) -> Words:
    return hex_to_words([pdq_hash_pixels(np.asarray(img.convert("RGB"))).value])


def hash_photo(path: Path, index: int, seed: int, edits: int) -> Words:
    """PDQ codes of the photo followed by ``edits + QUERY_EDITS`` edited copies, as (1 + edits + 2, 4)."""
    with Image.open(path) as raw:
        img = raw.convert("RGB")
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR)
    out = [_pdq_words(img)]
    for e in range(edits + QUERY_EDITS):
        out.append(_pdq_words(edit(img, np.random.default_rng([seed, index, e]))))
    return np.concatenate(out)


@dataclass(frozen=True)
class RealisticCodes:
    """Hashed photos and edits: bank codes (originals minus holdouts, plus edits) and query-only edits."""

    bank: Words
    bank_photo: npt.NDArray[np.int64]
    queries: Words
    query_photo: npt.NDArray[np.int64]


def _split(per_photo: list[Words], edits: int) -> RealisticCodes:
    bank, bank_photo, queries, query_photo = [], [], [], []
    for i, codes in enumerate(per_photo):
        first = 1 if i % HOLDOUT == 0 else 0  # holdouts: only edited copies are in the bank
        bank.append(codes[first : 1 + edits])
        bank_photo.append(np.full(1 + edits - first, i, dtype=np.int64))
        queries.append(codes[1 + edits :])
        query_photo.append(np.full(codes.shape[0] - 1 - edits, i, dtype=np.int64))
    return RealisticCodes(
        np.concatenate(bank), np.concatenate(bank_photo), np.concatenate(queries), np.concatenate(query_photo)
    )


def realistic_codes(
    seed: int,
    edits: int,
    *,
    shared: Path | None = None,
    cache_dir: Path | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RealisticCodes:
    """The realistic codes for (seed, edits), from the cache or hashed now (``progress(done, total)`` per photo)."""
    cache_dir = default_cache_dir() if cache_dir is None else cache_dir
    cache = cache_dir / f"realistic-pdq-seed{seed}-edits{edits}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            return RealisticCodes(data["bank"], data["bank_photo"], data["queries"], data["query_photo"])
    paths = photo_paths(shared or shared_dir())
    workers = workers or max(1, len(os.sched_getaffinity(0)))
    per_photo: list[Words] = [np.zeros((0, 4), dtype=np.uint64)] * len(paths)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(hash_photo, p, i, seed, edits): i for i, p in enumerate(paths)}
        for done, future in enumerate(as_completed(futures), start=1):
            per_photo[futures[future]] = future.result()
            if progress is not None:
                progress(done, len(paths))
    codes = _split(per_photo, edits)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, bank=codes.bank, bank_photo=codes.bank_photo, queries=codes.queries, query_photo=codes.query_photo)
    tmp.replace(cache)
    return codes
