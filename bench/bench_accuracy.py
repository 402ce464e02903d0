"""PDQ recall per edit and false-match rate on the shared benign corpora (a quick accuracy table).

Known list: shared/corpus/kodak24 + bsds500. Positives: edited copies of them. Negatives: every
(known, distractor) pair with distractors from corpus/clothing (hard, look-alike garments) and
corpus/wallpapers. Reports recall at the operating threshold with and without dihedral matching.
Usage: python bench/bench_accuracy.py [--threshold 31] [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from brightline.signals.hashing import HashOptions, hash_bytes
from brightline.signals.hexcodes import hex_to_words

SHARED = Path(os.environ.get("BRIGHTLINE_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def _jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def _crop(im: Image.Image, frac: float) -> Image.Image:
    dx, dy = int(im.width * frac / 2), int(im.height * frac / 2)
    return im.crop((dx, dy, im.width - dx, im.height - dy))


def _pad(im: Image.Image, frac: float) -> Image.Image:
    bar = int(im.height * frac / 2)
    return ImageOps.expand(im, border=(0, bar, 0, bar), fill=(0, 0, 0))


def _text(im: Image.Image) -> Image.Image:
    out = im.copy()
    draw = ImageDraw.Draw(out)
    for row in range(3):
        draw.text((10, 10 + row * im.height // 3), "brightline demo caption " * 2, fill=(255, 255, 255))
    return out


TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "jpeg q30": lambda im: _jpeg(im, 30),
    "resize 50%": lambda im: im.resize((im.width // 2, im.height // 2)),
    "resize 25%": lambda im: im.resize((im.width // 4, im.height // 4)),
    "blur r2": lambda im: im.filter(ImageFilter.GaussianBlur(2)),
    "brightness +30%": lambda im: ImageEnhance.Brightness(im).enhance(1.3),
    "greyscale": lambda im: ImageOps.grayscale(im).convert("RGB"),
    "text overlay": _text,
    "crop 5%": lambda im: _crop(im, 0.05),
    "crop 10%": lambda im: _crop(im, 0.10),
    "letterbox 10%": lambda im: _pad(im, 0.10),
    "letterbox 20%": lambda im: _pad(im, 0.20),
    "rotate 3°": lambda im: im.rotate(3, resample=Image.Resampling.BILINEAR),
    "mirror": ImageOps.mirror,
    "rotate 90°": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "resize+jpeg+crop 3%": lambda im: _jpeg(_crop(im.resize((im.width * 2 // 3, im.height * 2 // 3)), 0.03), 50),
}


def _png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _hash(data: bytes) -> tuple[str, tuple[str, ...], int]:
    h = hash_bytes(data, HashOptions(dihedral=True))
    return h.pdq, h.pdq_dihedral, h.quality


def _popcount_distances(queries: np.ndarray, bank: np.ndarray) -> np.ndarray:
    x = queries[:, None, :] ^ bank[None, :, :]
    return np.bitwise_count(x).sum(axis=2)


def main() -> None:
    """Run the accuracy measurement and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threshold", type=int, default=31)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    known = sorted((SHARED / "corpus/kodak24").iterdir()) + sorted((SHARED / "corpus/bsds500").glob("*.jpg"))
    distractors = sorted((SHARED / "corpus/clothing").glob("*.jpg")) + sorted((SHARED / "corpus/wallpapers").iterdir())
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        known_h = list(pool.map(lambda p: _hash(p.read_bytes()), known))
        distractor_h = list(pool.map(lambda p: _hash(p.read_bytes()), distractors))
        originals = [Image.open(p).convert("RGB") for p in known]
        edited = {
            name: list(pool.map(lambda im, t=fn: _hash(_png_bytes(t(im))), originals))  # type: ignore[misc]
            for name, fn in TRANSFORMS.items()
        }
    bank = hex_to_words([h[0] for h in known_h])
    bank_dihedral = [hex_to_words([h[1][v] for h in known_h]) for v in range(8)]
    t = args.threshold
    results: dict[str, dict[str, float]] = {}
    for name, hashes in edited.items():
        plain = _popcount_distances(hex_to_words([h[0] for h in hashes]), bank).diagonal()
        dihedral = np.min(
            [_popcount_distances(hex_to_words([h[0] for h in hashes]), bd).diagonal() for bd in bank_dihedral], axis=0
        )
        results[name] = {
            "recall": float(np.mean(plain <= t)),
            "recall_dihedral": float(np.mean(dihedral <= t)),
            "median_distance": float(np.median(plain)),
        }
    d_words = hex_to_words([h[0] for h in distractor_h])
    neg = _popcount_distances(d_words, bank)
    neg_dihedral = np.min([_popcount_distances(d_words, bd) for bd in bank_dihedral], axis=0)
    pairs = neg.size
    fmr = float(np.mean(neg <= t))
    fmr_dihedral = float(np.mean(neg_dihedral <= t))
    print(f"known {len(known)} photos, distractors {len(distractors)}, pairs {pairs}, threshold {t}")
    print("| edit | recall | recall (dihedral) | median distance |\n|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['recall']:.1%} | {r['recall_dihedral']:.1%} | {r['median_distance']:.0f} |")
    print(f"| **false-match rate** ({pairs:,} pairs) | {fmr:.2e} | {fmr_dihedral:.2e} | min {int(neg.min())} |")
    print(f"elapsed {time.perf_counter() - started:.1f}s")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "threshold": t,
                    "recall": {k: v["recall"] for k, v in results.items()},
                    "recall_dihedral": {k: v["recall_dihedral"] for k, v in results.items()},
                    "false_match_rate": fmr,
                    "false_match_rate_dihedral": fmr_dihedral,
                    "pairs": pairs,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
