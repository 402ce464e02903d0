"""Benchmark brightline's HammingIndex against faiss IndexBinaryFlat on 256-bit PDQ codes.

A thin wrapper over ``brightline.benchmarks.matching`` (the same code as
``brightline bench match``) that runs one or more bank sizes and kinds and writes every
report to one JSON file:

    python bench/bench_matching.py --size 1000000 --size 10000000 --bank random --bank realistic \
        --json bench/results/matching.json

Exits non-zero if brightline's answers differ from faiss's (exact brute force) anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from brightline.benchmarks.matching import MatchBenchConfig, run_match_bench


def _row(r: dict[str, Any]) -> str:
    return (
        f"{r['size']:>11,} {r['bank']:9} {r['faiss_flat_qps']:>9,.0f} {r['brightline_qps']:>10,.0f} "
        f"{r['speedup']:>7.1f}x {r['cpu_speedup']:>7.1f}x {r['faiss_flat_batch_qps']:>9,.0f} "
        f"{r['brightline_batch_qps']:>10,.0f} {r['batch_speedup']:>7.1f}x {r['recall']:>6.3f} "
        f"{r.get('rss_mb', float('nan')):>7,.0f} {r['build_s']:>6.1f} {r['load_s']:>5.2f} {r['update_10k_s']:>6.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run every (size, bank) pair; 0 if brightline matched faiss exactly on all of them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, action="append", help="bank size (repeatable; default 1M)")
    parser.add_argument("--bank", choices=["random", "realistic"], action="append", help="repeatable; default random")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--radius", type=int, default=31)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="for batched searches")
    parser.add_argument("--repeat", type=int, default=3, help="timing rounds; each engine keeps its best")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--edits", type=int, default=40, help="realistic bank: edited copies per photo")
    parser.add_argument("--json", type=Path, help="also write the reports here")
    args = parser.parse_args(argv)
    reports = []
    print(
        "       size bank       faiss/s     ours/s   speed  cpu-spd  faissB/s    oursB/s  batchx recall"
        "  RSS MB build   load  upd10k"
    )
    for size in args.size or [1_000_000]:
        for bank in args.bank or ["random"]:
            cfg = MatchBenchConfig(
                size=size,
                queries=args.queries,
                bank=bank,
                threads=args.threads,
                radius=args.radius,
                seed=args.seed,
                repeat=args.repeat,
                edits=args.edits,
            )
            reports.append(run_match_bench(cfg))
            print(_row(reports[-1]), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(reports, indent=2) + "\n")
    return 0 if all(r["recall"] == 1.0 and r["exact"] for r in reports) else 1


if __name__ == "__main__":
    raise SystemExit(main())
