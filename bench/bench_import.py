"""Time a large PDQ hash-list import until the index is ready, on SQLite and PostgreSQL.

Writes N random PDQ hashes as a CSV (once, cached under bench/results/), then for each
database: create a bank, `import_file` it (the code path of `brightline bank import`), and
build the Matcher's index from the store (what a server does at start-up), timing each step.
The baseline in the same run is the raw speed of reading and parsing the CSV with the csv
module, so the figures can be compared across machines.

Plain files like this one take the vectorised fast path (banks/fast_import.py); ``--general``
forces the per-line parsers instead, for comparison.

    python bench/bench_import.py --n 1000000 --json bench/results/import.json
    python bench/bench_import.py --n 10000000 --db sqlite --db postgresql
    python bench/bench_import.py --n 1000000 --general
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from brightline.banks import BankService, fast_import
from brightline.banks.formats import import_file
from brightline.matching import Matcher
from brightline.store.db import Database

RESULTS = Path(__file__).resolve().parent / "results"
PG_URL = os.environ.get("BRIGHTLINE_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def make_csv(n: int, seed: int) -> Path:
    """N random PDQ hashes as `signal_type,value` CSV, written once per (n, seed)."""
    path = RESULTS / f"import-pdq-{n}-seed{seed}.csv"
    if path.exists():
        return path
    RESULTS.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="ascii") as out:
        out.write("signal_type,value\n")
        for start in range(0, n, 1_000_000):
            count = min(1_000_000, n - start)
            raw = rng.integers(0, 256, size=(count, 32), dtype=np.uint8).tobytes().hex()
            out.writelines(f"pdq,{raw[i * 64 : (i + 1) * 64]}\n" for i in range(count))
    tmp.replace(path)
    return path


def parse_baseline(path: Path) -> float:
    """Seconds to read and split the CSV with the csv module: a floor for any importer."""
    start = time.perf_counter()
    with open(path, newline="", encoding="ascii") as fh:
        for _ in csv.reader(fh):
            pass
    return time.perf_counter() - start


def run_one(kind: str, path: Path, n: int, workdir: Path) -> dict[str, Any]:
    """Import into a fresh database of ``kind`` and build the index; the timings."""
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'import.db'}"
    else:
        url = PG_URL
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS bench_import CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA bench_import"))
        engine.dispose()
        url = f"{url}?options=-csearch_path%3Dbench_import"
    db = Database(url)
    db.upgrade()
    banks = BankService(db)
    banks.create_bank("big")
    start = time.perf_counter()
    report = import_file(banks, "big", path, fmt="csv")
    imported = time.perf_counter() - start
    start = time.perf_counter()
    matcher = Matcher(banks)
    matcher.refresh()
    indexed = time.perf_counter() - start
    size = matcher.size().get("pdq", 0)
    db.dispose()
    if kind == "postgresql":
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS bench_import CASCADE"))
        engine.dispose()
    if report.added != n or size != n:
        raise SystemExit(f"{kind}: added {report.added}, indexed {size}, expected {n}")
    return {"import_s": imported, "index_s": indexed, "total_s": imported + indexed, "rows_per_s": n / imported}


def main() -> None:
    """Parse arguments, run, print a table and optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--general", action="store_true", help="use the per-line parsers, not the fast path")
    args = parser.parse_args()
    if args.general:
        fast_import.FAST_MIN_LINES = 2**62
    path = make_csv(args.n, args.seed)
    baseline = parse_baseline(path)
    out: dict[str, Any] = {"n": args.n, "csv_mb": path.stat().st_size / 2**20, "csv_parse_s": baseline}
    out["path"] = "general" if args.general else "fast"
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.db or ["sqlite", "postgresql"]:
            result = run_one(kind, path, args.n, Path(tmp))
            result["vs_csv_parse"] = result["import_s"] / baseline
            out[kind] = result
            print(
                f"{kind:10s} import {result['import_s']:7.1f} s ({result['rows_per_s']:,.0f} rows/s, "
                f"{result['vs_csv_parse']:.1f}x csv parse)  index ready +{result['index_s']:.1f} s"
                f"  total {result['total_s']:.1f} s"
            )
    print(f"csv parse baseline {baseline:.1f} s for {args.n:,} lines")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
