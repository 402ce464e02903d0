"""Images/s of brightline's PDQ (fast and exact decode) against the pdqhash package, on small, 1 MP and 12 MP photos.

Run from the repository root:  .venv/bin/python bench/bench_hashing.py [--json out.json] [--sweep 512,768,1024]
    [--distances] [--scan]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import PIL
from PIL import Image

from brightline.benchmarks import hashing
from brightline.benchmarks.hashing import distance, make_copies, pdqhash_hasher, time_methods
from brightline.signals.hashing import HashOptions
from brightline.signals.media import DEFAULT_FAST_MIN_SIDE, decode_image
from brightline.signals.pdq import pdq_hash_pixels

ROOT = Path(__file__).resolve().parent.parent
TWELVE_MP = (4000, 3000)
HashFn = Callable[[Path], str]


@dataclass
class GroupResult:
    """Throughput and agreement for one group of photos."""

    group: str
    images: int
    mean_megapixels: float
    rate: dict[str, float] = field(default_factory=dict)  # method -> images/s
    fast_vs_exact_max: int = 0
    fast_vs_exact_mean: float = 0.0
    fast_vs_exact_hist: dict[int, int] = field(default_factory=dict)
    baseline_vs_exact_max: int | None = None


def load_pdqhash() -> ModuleType | None:
    """The pdqhash module, or None (it is a source build that needs a C++ compiler)."""
    try:
        return hashing.load_pdqhash()
    except hashing.BaselineMissingError:
        return None


def brightline_hash(exact: bool, min_side: int) -> HashFn:
    """brightline's decode + hash, as one callable."""

    def run(path: Path) -> str:
        return pdq_hash_pixels(decode_image(path, exact=exact, fast_min_side=min_side).pixels).value

    return run


def make_twelve_mp(sources: Sequence[Path], folder: Path) -> list[Path]:
    """12 MP JPEGs (quality 90) upscaled from wallpapers, for a second set of phone-sized photos."""
    out = []
    for source in sources:
        target = folder / f"12mp-{source.stem}.jpg"
        with Image.open(source) as image:
            image.convert("RGB").resize(TWELVE_MP, Image.Resampling.LANCZOS).save(target, quality=90)
        out.append(target)
    return out


def make_stress_crops(sources: Sequence[Path], folder: Path, count: int, seed: int = 11) -> list[Path]:
    """Random crops (45-100% per side, JPEG quality 92) of large photos: many sizes, so many PDQ window widths."""
    rng = random.Random(seed)
    out = []
    per_source = max(1, count // max(1, len(sources)))
    for source in sources:
        with Image.open(source) as opened:
            image = opened.convert("RGB")
        width, height = image.size
        for i in range(per_source):
            scale = rng.uniform(0.45, 1.0)
            w, h = int(width * rng.uniform(scale, 1.0)), int(height * rng.uniform(scale, 1.0))
            x, y = rng.randint(0, width - w), rng.randint(0, height - h)
            target = folder / f"crop-{source.stem}-{i}.jpg"
            image.crop((x, y, x + w, y + h)).save(target, quality=92)
            out.append(target)
    return out


def make_transcodes(sources: Sequence[Path], folder: Path) -> list[Path]:
    """PNG and WebP copies of large photos, to exercise the fast path's box reduction on non-JPEG files."""
    out = []
    for source in sources:
        with Image.open(source) as opened:
            image = opened.convert("RGB")
        png, webp = folder / f"transcode-{source.stem}.png", folder / f"transcode-{source.stem}.webp"
        image.save(png, compress_level=1)
        image.save(webp, quality=90)
        out += [png, webp]
    return out


def bench_group(name: str, files: Sequence[Path], methods: dict[str, HashFn], rounds: int) -> GroupResult:
    """Time one group and measure how far the fast path and the baseline land from the exact path."""
    sizes = []
    for path in files:
        with Image.open(path) as image:
            sizes.append(image.width * image.height / 1e6)
    result = GroupResult(group=name, images=len(files), mean_megapixels=round(statistics.mean(sizes), 2))
    exact = {path: methods["exact"](path) for path in files}
    fast = [distance(methods["fast"](path), exact[path]) for path in files]
    result.fast_vs_exact_max = max(fast)
    result.fast_vs_exact_mean = round(statistics.mean(fast), 2)
    result.fast_vs_exact_hist = dict(sorted(collections.Counter(fast).items()))
    if "pdqhash" in methods:
        result.baseline_vs_exact_max = max(distance(methods["pdqhash"](p), exact[p]) for p in files)
    result.rate = {key: round(value, 2) for key, value in time_methods(files, methods, rounds).items()}
    return result


def print_table(results: Sequence[GroupResult], has_baseline: bool) -> None:
    """One row per group: images/s per method, ratios against pdqhash, fast-vs-exact distances."""
    header = f"{'group':<34} {'n':>4} {'MP':>6} {'fast/s':>8} {'exact/s':>8}"
    if has_baseline:
        header += f" {'pdqhash/s':>10} {'fast/base':>9} {'exact/base':>10}"
    header += f" {'fast-exact max/mean':>20}"
    print(header)
    print("-" * len(header))
    for r in results:
        line = f"{r.group:<34} {r.images:>4} {r.mean_megapixels:>6.2f} {r.rate['fast']:>8.1f} {r.rate['exact']:>8.1f}"
        if has_baseline:
            base = r.rate["pdqhash"]
            line += f" {base:>10.1f} {r.rate['fast'] / base:>8.2f}x {r.rate['exact'] / base:>9.2f}x"
        line += f" {r.fast_vs_exact_max:>12d} / {r.fast_vs_exact_mean:.2f}"
        print(line)


def sweep(sets: dict[str, list[Path]], sides: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Fast-vs-exact PDQ distance distribution per fast_min_side, over each set (quality >= 50 only)."""
    exact: dict[Path, str] = {}
    for files in sets.values():
        for path in files:
            digest = pdq_hash_pixels(decode_image(path, exact=True).pixels)
            if digest.quality >= 50:
                exact[path] = digest.value
    report: dict[int, dict[str, Any]] = {}
    for side in sides:
        print(f"fast_min_side={side}")
        report[side] = {}
        every: list[int] = []
        for name, files in sets.items():
            found, reduced = [], 0
            for path in (p for p in files if p in exact):
                decoded = decode_image(path, fast_min_side=side)
                reduced += decoded.scale > 1
                found.append(distance(pdq_hash_pixels(decoded.pixels).value, exact[path]))
            every += found
            hist = dict(sorted(collections.Counter(found).items()))
            report[side][name] = {"n": len(found), "reduced": reduced, "max": max(found), "hist": hist}
            print(f"  {name:<28} n={len(found):4d} reduced={reduced:4d} max={max(found):3d} hist={hist}")
        over = sum(d > 6 for d in every)
        print(f"  {'ALL':<28} n={len(every):4d} max={max(every):3d} mean={statistics.mean(every):.2f} over 6: {over}")
    return report


def scan_rates(files: Sequence[Path], rounds: int, workers: int) -> dict[str, float]:
    """Images/s of Matcher.scan_paths (empty bank) on 1 worker, on threads and on processes, interleaved."""
    from brightline.banks import BankService
    from brightline.matching import Matcher, parallel
    from brightline.store.db import Database

    with tempfile.TemporaryDirectory(prefix="brightline-scan-") as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.upgrade()
        matcher = Matcher(BankService(db))
        matcher.refresh()
        modes = {
            "1 worker": (1, False),
            f"{workers} threads": (workers, True),
            f"{workers} processes": (workers, False),
        }
        spent = dict.fromkeys(modes, 0.0)
        for _ in range(rounds):
            for name, (count, threads) in modes.items():
                floor = parallel.MIN_FILES_FOR_PROCESSES
                # The thread pool row forces the old behaviour by making the job look small.
                parallel.MIN_FILES_FOR_PROCESSES = len(files) + 1 if threads else floor  # type: ignore[misc]
                start = time.perf_counter()
                done = list(matcher.scan_paths(files, HashOptions(), workers=count, processes=not threads))
                spent[name] += time.perf_counter() - start
                parallel.MIN_FILES_FOR_PROCESSES = floor  # type: ignore[misc]
                assert not any(r.error for r in done), [r.error for r in done if r.error][:3]
        db.dispose()
    return {name: round(rounds * len(files) / seconds, 2) for name, seconds in spent.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, build the photo groups, time them and print (and optionally save) the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    default_shared = os.environ.get("BRIGHTLINE_SHARED", str(ROOT.parent / "shared"))
    parser.add_argument("--shared", type=Path, default=Path(default_shared), help="the shared/ test-data folder")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over each group per method")
    parser.add_argument("--small", type=int, default=120, help="how many small photos (kodak24+clothing+bsds500)")
    parser.add_argument("--upscaled", type=int, default=4, help="how many 12 MP JPEGs to make from wallpapers")
    parser.add_argument("--fast-min-side", type=int, default=DEFAULT_FAST_MIN_SIDE)
    parser.add_argument("--sweep", type=str, default="", help="comma-separated fast_min_side values to evaluate")
    parser.add_argument("--stress", type=int, default=300, help="random large crops added to --sweep")
    parser.add_argument("--onemp", type=int, default=24, help="how many 1 MP JPEGs to make (wallpapers/bsds/kodak)")
    parser.add_argument("--distances", action="store_true", help="fast vs exact over every shared photo")
    parser.add_argument("--scan", type=int, default=0, help="scan images/s on this many workers vs 1 (0: skip)")
    parser.add_argument("--groups", action=argparse.BooleanOptionalAction, default=True, help="time the groups")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    shared: Path = args.shared
    corpus, files_dir = shared / "corpus", shared / "vectors" / "pdq" / "files"
    if not files_dir.is_dir():
        parser.error(f"shared data not found at {shared}; pass --shared or set BRIGHTLINE_SHARED")
    rng = random.Random(1)
    kodak = sorted((corpus / "kodak24").glob("*.*"))
    clothing = sorted((corpus / "clothing").glob("*.jpg"))
    bsds = sorted((corpus / "bsds500").glob("*.jpg"))
    wallpapers = sorted((corpus / "wallpapers").glob("*.jpg"))
    phone = sorted(files_dir.glob("exif-rotn__*.jpg"))
    half = max(0, args.small - len(kodak)) // 2
    small = kodak + rng.sample(clothing, min(half, len(clothing))) + rng.sample(bsds, min(half, len(bsds)))

    pdqhash = load_pdqhash()
    print(
        f"python {platform.python_version()}, Pillow {PIL.__version__}, numpy {np.__version__}, cpus {os.cpu_count()}"
    )
    print(f"fast_min_side={args.fast_min_side}; single process, single thread; files read from disk (page cache)")
    methods: dict[str, HashFn] = {
        "fast": brightline_hash(False, args.fast_min_side),
        "exact": brightline_hash(True, args.fast_min_side),
    }
    if pdqhash is None:
        print("pdqhash is not installed (pip install pdqhash; it builds from source and needs a C++ compiler):")
        print("  the baseline column is skipped.")
    else:
        methods["pdqhash"] = pdqhash_hasher(pdqhash)

    output: dict[str, Any] = {"fast_min_side": args.fast_min_side, "baseline": pdqhash is not None}
    with tempfile.TemporaryDirectory(prefix="brightline-bench-") as tmp:
        upscaled = make_twelve_mp(sorted(wallpapers, key=lambda p: p.stat().st_size)[-args.upscaled :], Path(tmp))
        third = max(1, args.onemp // 3)
        spread = [g[:: max(1, len(g) // third)][:third] for g in (wallpapers, bsds, kodak)]
        one_mp = make_copies([p for g in spread for p in g], Path(tmp) / "1mp", 1.0)
        groups = {
            "small photos (kodak/clothing/bsds)": small,
            "1 MP JPEGs (resized, q90)": one_mp,
            "wallpapers (2-6.75 MP)": wallpapers,
            "12 MP phone photos (exif-rotn)": phone,
            "12 MP upscaled wallpapers (q90)": upscaled,
        }
        if args.groups:
            results = [bench_group(name, files, methods, args.rounds) for name, files in groups.items() if files]
            print()
            print_table(results, pdqhash is not None)
            for r in results:
                if r.baseline_vs_exact_max is not None:
                    print(f"  {r.group}: pdqhash vs brightline exact, max distance {r.baseline_vs_exact_max}")
            output["groups"] = [asdict(r) for r in results]
        if args.distances:
            every = sorted(p for p in corpus.rglob("*") if p.is_file())
            every += sorted(p for p in files_dir.iterdir() if p.suffix != ".csv")
            output["distances"] = hashing.distance_report(every) | {"images": len(every)}
            print(f"\nfast vs exact on every shared photo: {output['distances']}")
        if args.scan:
            native = sorted(p for name in ("wallpapers", "kodak24", "bsds500") for p in (corpus / name).glob("*.*"))
            big = make_twelve_mp(wallpapers, Path(tmp)) * 2
            output["scan"] = {
                f"native ({len(native)} files)": scan_rates(native, args.rounds, args.scan),
                f"12 MP ({len(big)} files)": scan_rates(big, args.rounds, args.scan),
            }
            print(f"\nscan images/s: {output['scan']}")
        if args.sweep:
            sides = [int(s) for s in args.sweep.split(",")]
            crops = make_stress_crops(wallpapers + phone, Path(tmp), args.stress)
            transcodes = make_transcodes(wallpapers + phone, Path(tmp))
            sets = {
                "vectors/pdq/files": sorted(p for p in files_dir.iterdir() if p.suffix != ".csv"),
                "wallpapers": wallpapers,
                "clothing (sample)": rng.sample(clothing, min(100, len(clothing))),
                "bsds500 (sample)": rng.sample(bsds, min(60, len(bsds))),
                "kodak24": kodak,
                "PNG/WebP transcodes": transcodes,
                f"stress crops ({len(crops)})": crops,
            }
            print()
            output["sweep"] = sweep(sets, sides)
    if args.json:
        args.json.write_text(json.dumps(output, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
