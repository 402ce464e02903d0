"""Resident memory of a fresh process serving a saved HammingIndex: ``python -m brightline.benchmarks.memory PATH``.

Run in a new interpreter so nothing the benchmark process built is counted: it loads the
index (memory-mapped), runs single and batched searches, and prints one JSON object with
the load time and this process's resident memory (VmRSS, its peak VmHWM, and the
anonymous / file-backed split) in MiB.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from brightline.index import HammingIndex
from brightline.signals.hexcodes import words_to_hex


def _status_mib() -> dict[str, float]:
    """VmRSS, VmHWM, RssAnon and RssFile of this process, in MiB (Linux)."""
    out = {}
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(line.split()[1]) / 1024
    return out


def probe(path: Path, radius: int, queries: int) -> dict[str, Any]:
    """Load ``path``, search ``queries`` random codes one by one and batched; times and memory."""
    codes = words_to_hex(np.random.default_rng(1).integers(0, 2**64, size=(queries, 4), dtype=np.uint64))
    start = time.perf_counter()
    index = HammingIndex.load(path)
    load_s = time.perf_counter() - start
    for code in codes:
        index.search(code, radius)
    index.search_many(codes, radius)
    return {"load_s": load_s, "entries": len(index), **{k.lower() + "_mib": v for k, v in _status_mib().items()}}


def fresh_process(path: Path, radius: int, queries: int = 1000) -> dict[str, Any]:
    """probe() in a new interpreter."""
    cmd = [sys.executable, "-m", "brightline.benchmarks.memory", str(path), str(radius), str(queries)]
    result: dict[str, Any] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return result


if __name__ == "__main__":
    print(json.dumps(probe(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
