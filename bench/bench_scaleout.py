"""Backlog scan throughput: the local engine against Ray on this machine, and Ray's fixed start-up cost.

    python bench/bench_scaleout.py --images 2000 --bank-size 100000 --json bench/results/scaleout.json

The backlog is every shared corpus photo, repeated under new names (symlinks) up to ``--images``;
the bank holds ``--bank-size`` random PDQ codes plus every 50th photo's PDQ, so some files match.
Each engine scans the same files into its own Parquet output (results are compared: they must be
identical). Reported: images/s and images/s per core, peak RSS (the process and its children; for
Ray every Ray process sampled together), Ray's start-up (``ray.init`` plus a first one-row job)
and the machine's load average, since other work on a shared machine slows every engine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from brightline.banks import BankService, EntryInput
from brightline.matching import Matcher
from brightline.scaleout import ScanJob, run
from brightline.scaleout.local import local_engine
from brightline.scaleout.ray_engine import RayOptions
from brightline.scaleout.runner import Engine
from brightline.signals.hashing import HashOptions, hash_file
from brightline.store.db import Database

SHARED = Path(os.environ.get("BRIGHTLINE_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def _backlog(folder: Path, images: int) -> list[str]:
    photos = sorted(p for p in (SHARED / "corpus").rglob("*") if p.suffix.lower() in {".jpg", ".png"})
    files = []
    for n in range(images):
        link = folder / f"{n:06d}{photos[n % len(photos)].suffix}"
        link.symlink_to(photos[n % len(photos)])
        files.append(str(link))
    return files


def _bank(url: str, size: int, files: list[str]) -> None:
    db = Database(url)
    db.upgrade()
    banks = BankService(db)
    banks.create_bank("bench")
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, size=(size, 32), dtype=np.uint8)
    entries = [EntryInput("pdq", bytes(row).hex()) for row in codes]
    entries += [EntryInput("pdq", hash_file(Path(f)).pdq) for f in files[:1000:50]]
    banks.add_entries("bench", entries)
    db.dispose()


def _rss_mb() -> float:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (self_kb + children_kb) / 1024


@contextmanager
def _ray_rss_sampler() -> Iterator[list[float]]:
    """Peak summed RSS (MB) of this process and every Ray process, sampled every 0.2 s."""
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            total = 0
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    cmd = (proc / "cmdline").read_bytes()
                    if int(proc.name) != os.getpid() and b"ray" not in cmd:
                        continue
                    for line in (proc / "status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
                except (OSError, ValueError):
                    continue
            peak[0] = max(peak[0], total / 1024)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def _scan(label: str, job: ScanJob, engine: Engine, total: int) -> float:
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task(label, total=total)
        started = time.perf_counter()
        run(job, engine, on_row=lambda _row: progress.advance(task))
        return time.perf_counter() - started


def _rows(output: str) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    tables = [pq.read_table(p).to_pylist() for p in sorted(Path(output).glob("part-*.parquet"))]
    return sorted((row for rows in tables for row in rows), key=lambda r: r["file"])


def main(argv: list[str] | None = None) -> int:
    """Run both engines on one backlog; 0 if their results are identical."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--bank-size", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--actors", type=int, default=1)
    parser.add_argument("--partition-size", type=int, default=500)
    parser.add_argument("--hash-batch", type=int, default=RayOptions.hash_batch, help="Ray: files per hashing task")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="bl-scaleout-") as tmp:
        work = Path(tmp)
        (work / "files").mkdir()
        files = _backlog(work / "files", args.images)
        url = f"sqlite:///{work / 'bench.db'}"
        _bank(url, args.bank_size, files)
        db = Database(url)
        matcher = Matcher(BankService(db), index_dir=work / "index")
        matcher.refresh()
        matcher.save_snapshot()
        options = HashOptions()

        def job(name: str) -> ScanJob:
            return ScanJob(tuple(files), options, partition_size=args.partition_size, output=str(work / name))

        local_s = _scan("local", job("local"), local_engine(matcher, options, None, args.workers), len(files))
        local_rss = _rss_mb()
        ray_report = _ray(args, work, url, matcher, job("ray"), len(files), options)
        identical = _rows(str(work / "local")) == _rows(str(work / "ray"))
        db.dispose()
    report = {
        "images": args.images,
        "bank_size": args.bank_size,
        "cores": cores,
        "load_average": os.getloadavg(),
        "local_engine": {
            "workers": args.workers,
            "seconds": round(local_s, 2),
            "images_per_s": round(args.images / local_s, 1),
            "images_per_s_per_core": round(args.images / local_s / cores, 1),
            "peak_rss_mb": round(local_rss),
        },
        "ray": ray_report,
        "identical_results": identical,
    }
    # Extra wall time per file on Ray over the local engine, both on every core of this machine.
    report["ray"]["overhead_ms_per_file"] = round((ray_report["seconds"] - local_s) / args.images * 1000, 2)
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if identical else 1


def _ray(
    args: argparse.Namespace, work: Path, url: str, matcher: Matcher, job: ScanJob, total: int, options: HashOptions
) -> dict[str, Any]:
    import ray

    from brightline.scaleout.ray_engine import connected, ray_engine

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_TMPDIR", str(work / "ray"))
    ray_options = RayOptions(
        address="local", actors=args.actors, num_cpus=len(os.sched_getaffinity(0)), hash_batch=args.hash_batch
    )
    with _ray_rss_sampler() as peak:
        started = time.perf_counter()
        with connected(ray_options):
            ray.data.range(1).map_batches(_identity, batch_size=1).take_all()  # worker start-up, Ray Data's too
            startup_s = time.perf_counter() - started
            engine = ray_engine(
                matcher,
                database_url=url,
                index_dir=work / "index",
                options=options,
                banks=None,
                ray_options=ray_options,
            )
            scan_s = _scan("ray", job, engine, total)
    return {
        "actors": args.actors,
        "hash_batch": args.hash_batch,
        "startup_s": round(startup_s, 2),
        "seconds": round(scan_s, 2),
        "images_per_s": round(total / scan_s, 1),
        "images_per_s_per_core": round(total / scan_s / len(os.sched_getaffinity(0)), 1),
        "peak_rss_mb": round(peak[0]),
    }


def _identity(batch: Any) -> Any:
    """A no-op for the warm-up job."""
    return batch


if __name__ == "__main__":
    raise SystemExit(main())
