"""``brightline bench match``: HammingIndex against faiss IndexBinaryFlat on one bank, in one run.

Both engines search the same bank for the same queries at the same radius; faiss's flat
range search is exact brute force, so its answers are the reference: recall is the
fraction of faiss's (id, distance) pairs that brightline returned (it must be 1.0), and
``exact`` says whether brightline returned nothing else. Rounds interleave the engines
so background load hits them alike, and each keeps its best round. brightline serves
from the memory-mapped files its save() wrote, as a server worker does.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from brightline.benchmarks import banks, memory
from brightline.index import HammingIndex, IndexHit
from brightline.signals.hexcodes import words_to_hex

Words = npt.NDArray[np.uint64]
Answer = list[tuple[int, int]]  # (entry id, distance), sorted by distance then id
Progress = Callable[[str, int, int], None]  # (what, done, total)
BankKind = Literal["random", "realistic"]
UPDATE_ROWS = 10_000


class FaissMissingError(RuntimeError):
    """The faiss baseline is not installed."""


def import_faiss() -> Any:
    """The faiss module, or FaissMissingError saying how to install it."""
    try:
        import faiss
    except ImportError:
        raise FaissMissingError(
            "faiss is not installed: install the benchmark extra with "
            "pip install 'brightline[bench]' (in a checkout: make bench-install)"
        ) from None
    return faiss


@dataclass(frozen=True)
class MatchBenchConfig:
    """What to measure: bank size and kind, queries, radius, threads for the batched rows."""

    size: int = 1_000_000
    queries: int = 1000
    bank: BankKind = "random"
    threads: int = field(default_factory=lambda: max(1, len(os.sched_getaffinity(0))))
    radius: int = 31
    seed: int = 0
    repeat: int = 3
    edits: int = 40  # realistic bank: edited copies per photo
    planted: int = 5  # random bank: near copies planted around half of the queries
    memory: bool = True  # measure a fresh process serving the saved index
    cache_dir: Path | None = None


def flip_bits(code: Words, count: int, rng: np.random.Generator) -> Words:
    """``code`` (4,) with ``count`` distinct random bits flipped."""
    out = code.copy()
    for bit in rng.choice(banks.BITS, size=min(count, banks.BITS), replace=False).tolist():
        out[bit // 64] ^= np.uint64(1) << np.uint64(63 - bit % 64)
    return out


def random_bank(cfg: MatchBenchConfig, rng: np.random.Generator) -> tuple[Words, Words]:
    """Uniform random codes, with ``planted`` near copies (one just outside the radius) of every other query."""
    queries = banks.random_codes(cfg.queries, rng)
    near = [
        flip_bits(q, int(d), rng)
        for q in queries[::2]
        for d in [*rng.integers(0, cfg.radius + 1, size=cfg.planted - 1), cfg.radius + int(rng.integers(1, 4))]
    ]
    near_arr = np.array(near, dtype=np.uint64).reshape(-1, 4)[: cfg.size]
    bank = np.concatenate([banks.random_codes(cfg.size - near_arr.shape[0], rng), near_arr])
    return bank[rng.permutation(cfg.size)], queries


def realistic_bank(cfg: MatchBenchConfig, rng: np.random.Generator, progress: Progress | None) -> tuple[Words, Words]:
    """Corpus photos and edits, padded with random codes; queries: unseen edits and random codes."""
    report = (lambda done, total: progress("hashing photos and edits", done, total)) if progress else None
    codes = banks.realistic_codes(cfg.seed, cfg.edits, cache_dir=cfg.cache_dir, progress=report)
    real = codes.bank[: cfg.size]
    bank = np.concatenate([real, banks.random_codes(cfg.size - real.shape[0], rng)])
    edited = cfg.queries // 2
    pick = rng.choice(codes.queries.shape[0], size=edited, replace=edited > codes.queries.shape[0])
    queries = np.concatenate([codes.queries[pick], banks.random_codes(cfg.queries - edited, rng)])
    return bank[rng.permutation(cfg.size)], queries[rng.permutation(cfg.queries)]


def as_faiss_bytes(words: Words) -> npt.NDArray[np.uint8]:
    """Codes as faiss wants them: (rows, 32) uint8, same bit order as the hex form."""
    return np.ascontiguousarray(words.astype(">u8").view(np.uint8).reshape(words.shape[0], banks.BITS // 8))


def faiss_answers(lims: Any, dists: Any, labels: Any) -> list[Answer]:
    """faiss range_search output as sorted (id, distance) lists per query."""
    out = []
    for q in range(len(lims) - 1):
        lo, hi = int(lims[q]), int(lims[q + 1])
        pairs = zip(labels[lo:hi].tolist(), dists[lo:hi].tolist(), strict=True)
        out.append(sorted(pairs, key=lambda h: (h[1], h[0])))
    return out


def ours(hits: list[list[IndexHit]]) -> list[Answer]:
    """brightline hits as (id, distance) lists (already sorted by distance, id)."""
    return [[(h.entry_id, h.distance) for h in q] for q in hits]


def recall(got: list[Answer], want: list[Answer]) -> float:
    """Fraction of the reference (id, distance) pairs that ``got`` holds."""
    total = sum(len(w) for w in want)
    found = sum(len(set(g) & set(w)) for g, w in zip(got, want, strict=True))
    return 1.0 if total == 0 else found / total


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, this thread's CPU seconds, result) of one call."""
    wall, cpu = time.perf_counter(), time.thread_time()
    result = fn()
    return time.perf_counter() - wall, time.thread_time() - cpu, result


def _warm_update_kernels(folder: Path, radius: int) -> float:
    """Run add, remove and search once on a small saved-and-loaded index; the seconds it took.

    The first update in a fresh install compiles (or loads from numba's cache) the delta and
    tombstone kernels, once per process; timing that as "takes effect" would measure the compiler.
    """
    rng = np.random.default_rng(1)
    small = HammingIndex(threads=1)
    small.add(np.arange(2_000, dtype=np.int64), words_to_hex(banks.random_codes(2_000, rng)))
    small.save(folder)
    loaded = HammingIndex.load(folder, threads=1)
    start = time.perf_counter()
    extra = words_to_hex(banks.random_codes(10, rng))
    loaded.add(np.arange(2_000, 2_010, dtype=np.int64), extra)
    loaded.remove(np.arange(10, dtype=np.int64))
    loaded.search(extra[0], radius)
    return time.perf_counter() - start


def _update_check(index: HammingIndex, cfg: MatchBenchConfig, bank: Words, rng: np.random.Generator) -> dict[str, Any]:
    """Add UPDATE_ROWS new entries and remove UPDATE_ROWS others, then search: seconds until both show."""
    new_codes = words_to_hex(banks.random_codes(UPDATE_ROWS, rng))
    new_ids = np.arange(cfg.size, cfg.size + UPDATE_ROWS, dtype=np.int64)
    gone = rng.choice(cfg.size, size=min(UPDATE_ROWS, cfg.size), replace=False).astype(np.int64)
    gone_code = words_to_hex(bank[gone[:1]])[0]  # entry i holds bank[i]
    start = time.perf_counter()
    index.add(new_ids, new_codes)
    index.remove(gone)
    added = index.search(new_codes[-1], cfg.radius)
    removed = index.search(gone_code, 0)
    seconds = time.perf_counter() - start
    ok = any(h.entry_id == new_ids[-1] for h in added) and all(h.entry_id != gone[0] for h in removed)
    return {"update_10k_s": seconds, "update_visible": ok}


def run_match_bench(cfg: MatchBenchConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Measure brightline and faiss on one bank; a JSON-ready dict (see bench/README.md for the fields)."""
    faiss = import_faiss()
    rng = np.random.default_rng(cfg.seed)
    if cfg.bank == "realistic":
        bank, query_words = realistic_bank(cfg, rng, progress)
    else:
        bank, query_words = random_bank(cfg, rng)
    ids = np.arange(cfg.size, dtype=np.int64)
    bank_hex, query_hex = words_to_hex(bank), words_to_hex(query_words)
    report: dict[str, Any] = {"size": cfg.size, "queries": cfg.queries, "bank": cfg.bank, "radius": cfg.radius}
    report["threads"] = cfg.threads

    built = HammingIndex(threads=cfg.threads)
    start = time.perf_counter()
    built.add(ids, bank_hex)
    built.prepare()
    report["build_s"] = time.perf_counter() - start
    del bank_hex
    with tempfile.TemporaryDirectory(prefix="brightline-bench-") as tmp:
        path = Path(tmp) / "index"
        start = time.perf_counter()
        built.save(path)
        report["save_s"] = time.perf_counter() - start
        del built
        start = time.perf_counter()
        index = HammingIndex.load(path, threads=cfg.threads)
        report["load_s"] = time.perf_counter() - start
        if cfg.memory:
            fresh = memory.fresh_process(path, cfg.radius, min(cfg.queries, 1000))
            report["rss_mb"] = fresh["vmhwm_mib"]
            report["fresh_process"] = fresh
        report.update(_measure(cfg, faiss, index, bank, query_words, query_hex, progress))
        report["update_warmup_s"] = _warm_update_kernels(Path(tmp) / "warm", cfg.radius)
        report.update(_update_check(index, cfg, bank, rng))
        del index
    report["layout"] = _layout(cfg.size)
    report["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
        "faiss": getattr(faiss, "__version__", "?"),
        "numpy": np.__version__,
    }
    report["config"] = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}
    return report


def _layout(size: int) -> dict[str, int]:
    from brightline.index.mih import choose_layout

    tables, width = choose_layout(size, banks.BITS)
    return {"mih_tables": tables, "mih_width": width}


def _measure(
    cfg: MatchBenchConfig,
    faiss: Any,
    index: HammingIndex,
    bank: Words,
    query_words: Words,
    query_hex: list[str],
    progress: Progress | None,
) -> dict[str, Any]:
    """Interleaved timing rounds of both engines, single and batched, and the recall check."""
    flat = faiss.IndexBinaryFlat(banks.BITS)
    flat.add(as_faiss_bytes(bank))
    fq = as_faiss_bytes(query_words)
    frad = cfg.radius + 1  # faiss's binary range_search keeps distances strictly below its radius
    index.search(query_hex[0], cfg.radius)  # compile / cache-load the kernels outside the timings
    index.search_many(query_hex[:4], cfg.radius)

    def faiss_single() -> list[Any]:
        faiss.omp_set_num_threads(1)
        return [flat.range_search(fq[i : i + 1], frad) for i in range(cfg.queries)]

    def faiss_batch() -> Any:
        faiss.omp_set_num_threads(cfg.threads)
        return flat.range_search(fq, frad)

    plan: dict[str, Callable[[], Any]] = {
        "faiss_flat": faiss_single,
        "brightline": lambda: [index.search(q, cfg.radius) for q in query_hex],
        "faiss_flat_batch": faiss_batch,
        "brightline_batch": lambda: index.search_many(query_hex, cfg.radius),
    }
    wall = dict.fromkeys(plan, float("inf"))
    cpu = dict.fromkeys(plan, float("inf"))
    raw: dict[str, Any] = {}
    for rnd in range(cfg.repeat):
        for name, fn in plan.items():
            seconds, cpu_seconds, raw[name] = _timed(fn)
            wall[name], cpu[name] = min(wall[name], seconds), min(cpu[name], cpu_seconds)
        if progress:
            progress("timing rounds", rnd + 1, cfg.repeat)
    want = [faiss_answers(*r)[0] for r in raw["faiss_flat"]]  # converted outside the timing
    got, got_batch = ours(raw["brightline"]), ours(raw["brightline_batch"])
    out: dict[str, Any] = {f"{name}_qps": cfg.queries / wall[name] for name in plan}
    out["speedup"] = wall["faiss_flat"] / wall["brightline"]
    out["batch_speedup"] = wall["faiss_flat_batch"] / wall["brightline_batch"]
    # CPU time of the calling thread: what the single-query rows cost with background load left out.
    out["faiss_flat_cpu_qps"] = cfg.queries / cpu["faiss_flat"]
    out["brightline_cpu_qps"] = cfg.queries / cpu["brightline"]
    out["cpu_speedup"] = cpu["faiss_flat"] / cpu["brightline"]
    out["brightline_ms_per_query"] = wall["brightline"] / cfg.queries * 1e3
    out["faiss_flat_ms_per_query"] = wall["faiss_flat"] / cfg.queries * 1e3
    out["recall"] = min(recall(got, want), recall(got_batch, want))
    out["exact"] = got == want and got_batch == want and faiss_answers(*raw["faiss_flat_batch"]) == want
    out["hits"] = sum(len(w) for w in want)
    out["queries_with_hits"] = sum(1 for w in want if w)
    return out
