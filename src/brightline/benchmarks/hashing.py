"""Hashing throughput against pdqhash + Pillow, and fast-path agreement, for `brightline bench hash`.

Every rate is measured in one process on one thread, with the methods interleaved round
by round so that background load slows all of them alike; read the ratios.
"""

from __future__ import annotations

import collections
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PIL import Image

from brightline.errors import BrightlineError
from brightline.signals.media import decode_image
from brightline.signals.pdq import pdq_hash_pixels

HashFn = Callable[[Path], str]
# The fast path's documented bound against the full decode.
FAST_BOUND = 6
_CORPUS_FOLDERS = ("wallpapers", "kodak24", "bsds500", "clothing")


class BaselineMissingError(BrightlineError):
    """pdqhash, the baseline, is not installed."""

    code = "baseline_missing"


def load_pdqhash() -> ModuleType:
    """The pdqhash module, or BaselineMissingError saying how to install it."""
    try:
        import pdqhash  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise BaselineMissingError(
            "pdqhash (the baseline) is not installed: pip install 'brightline[bench]' (it builds with a C++ compiler)"
        ) from None
    module: ModuleType = pdqhash
    return module


def shared_folder() -> Path:
    """The shared test-data folder: BRIGHTLINE_SHARED, else ../shared."""
    return Path(os.environ.get("BRIGHTLINE_SHARED", "../shared"))


def corpus_photos(shared: Path, limit: int) -> list[Path]:
    """Up to ``limit`` photos spread evenly over the shared corpus folders, in a fixed order."""
    found = [p for name in _CORPUS_FOLDERS for p in sorted((shared / "corpus" / name).glob("*")) if p.is_file()]
    if limit <= 0 or len(found) <= limit:
        return found
    step = len(found) / limit
    return [found[int(i * step)] for i in range(limit)]


def make_copies(sources: Sequence[Path], folder: Path, megapixels: float, quality: int = 90) -> list[Path]:
    """JPEG copies (Lanczos, ``quality``) of ``sources`` resized to about ``megapixels`` MP, aspect kept."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for number, source in enumerate(sources):
        target = folder / f"{number:04d}-{source.stem}-{megapixels:g}mp.jpg"
        if not target.exists():
            with Image.open(source) as opened:
                image = opened.convert("RGB")
            factor = math.sqrt(megapixels * 1e6 / (image.width * image.height))
            size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
            image.resize(size, Image.Resampling.LANCZOS).save(target, quality=quality)
        out.append(target)
    return out


def brightline_hasher(exact: bool) -> HashFn:
    """brightline's decode (fast or exact path) + PDQ as one callable."""

    def run(path: Path) -> str:
        return pdq_hash_pixels(decode_image(path, exact=exact).pixels).value

    return run


def pdqhash_hasher(pdqhash: ModuleType) -> HashFn:
    """pdqhash on a full Pillow decode converted to RGB, as its README does it."""

    def run(path: Path) -> str:
        with Image.open(path) as image:
            vector, _quality = pdqhash.compute(np.asarray(image.convert("RGB")))
        # pdqhash lists bit 255 first; the reference hex is the 256 bits as one big-endian number.
        return format(int("".join("1" if bit else "0" for bit in vector), 2), "064x")

    return run


def distance(a: str, b: str) -> int:
    """Hamming distance of two 64-digit hex PDQ hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def time_methods(files: Sequence[Path], methods: dict[str, HashFn], rounds: int) -> dict[str, float]:
    """Images/s per method, passes interleaved so background load hits every method alike."""
    for method in methods.values():
        method(files[0])  # warm-up: numba kernels from the cache, codec initialisation
    spent = dict.fromkeys(methods, 0.0)
    for _ in range(rounds):
        for name, method in methods.items():
            start = time.perf_counter()
            for path in files:
                method(path)
            spent[name] += time.perf_counter() - start
    return {name: rounds * len(files) / seconds for name, seconds in spent.items()}


def distance_report(files: Sequence[Path]) -> dict[str, Any]:
    """Fast path against the full decode: max, histogram and the share within FAST_BOUND."""
    fast, exact = brightline_hasher(False), brightline_hasher(True)
    found = [distance(fast(path), exact(path)) for path in files]
    return {
        "max_distance_to_full_decode": max(found),
        "mean_distance_to_full_decode": round(statistics.mean(found), 3),
        "distance_histogram": {str(k): v for k, v in sorted(collections.Counter(found).items())},
        "share_within_bound": round(sum(d <= FAST_BOUND for d in found) / len(found), 4),
    }


def bench_hash(files: Sequence[Path], pdqhash: ModuleType, rounds: int = 3) -> dict[str, Any]:
    """Images/s of the fast and exact paths and of pdqhash + Pillow on ``files``, with their ratios."""
    sizes = []
    for path in files:
        with Image.open(path) as image:
            sizes.append(image.width * image.height / 1e6)
    methods = {"fast": brightline_hasher(False), "exact": brightline_hasher(True), "pdqhash": pdqhash_hasher(pdqhash)}
    rates = time_methods(files, methods, rounds)
    base = rates["pdqhash"]
    agreement = distance_report(files)
    baseline_max = max(distance(methods["pdqhash"](p), methods["exact"](p)) for p in files)
    return {
        "brightline_images_per_s": round(rates["fast"], 2),
        "brightline_exact_images_per_s": round(rates["exact"], 2),
        "pdqhash_pil_images_per_s": round(base, 2),
        "ratio": round(rates["fast"] / base, 2),
        "exact_ratio": round(rates["exact"] / base, 2),
        **agreement,
        "max_distance_pdqhash_to_exact": baseline_max,
        "images": len(files),
        "megapixels": round(statistics.mean(sizes), 2),
        "rounds": rounds,
        "threads": 1,
    }
