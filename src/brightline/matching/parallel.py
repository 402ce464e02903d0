"""Hashing many files in worker processes, for scans that should use every core.

Decoding and hashing release the GIL only in parts (Pillow's decoders, the numba kernels);
the Python around them does not, so threads top out well below the core count. Workers
are started with ``forkserver`` (``spawn`` where that is missing), never ``fork``: the
parent has threads (progress display, thread pools) that a fork would copy mid-flight.
Results travel back pickled over the pool's pipe and are never written anywhere.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Final

from brightline.errors import BrightlineError
from brightline.matching.results import Match, ScanResult
from brightline.signals.hashing import HashOptions, MediaHashes, hash_file

# Threads are the default: decoding and the numba kernels release the GIL enough that 2
# threads scanned the 1,039 shared photos 1.7-2.3x faster than 1 worker, while 2 processes
# were barely faster than 1 (start-up, pickling); processes are opt-in (scan_paths(processes=True)).
# Starting workers costs about a second (interpreter, numpy, numba, Pillow); below this
# many files a thread pool finishes first.
MIN_FILES_FOR_PROCESSES: Final = 16
# Files queued per worker: enough that none waits for the parent, few enough that an
# early stop (the consumer closing the iterator) abandons little work.
_IN_FLIGHT_PER_WORKER: Final = 4
# Imported once in the fork server, so every worker forked from it starts with them loaded.
_PRELOAD: Final = ["brightline.signals.hashing"]

HashOutcome = MediaHashes | str  # the hashes, or the per-file error message


def use_processes(files: int, workers: int, *, processes: bool = True) -> bool:
    """Whether a job of ``files`` on ``workers`` should (and is big enough to) pay for starting processes."""
    return processes and workers > 1 and files >= MIN_FILES_FOR_PROCESSES


def hash_for_scan(path: Path, options: HashOptions) -> HashOutcome:
    """Hash one file; a media error becomes its message, exactly as Matcher.scan_file reports it."""
    try:
        return hash_file(path, options)
    except BrightlineError as exc:
        return str(exc)


def hash_in_processes(paths: Sequence[Path], options: HashOptions, workers: int) -> Generator[HashOutcome, None, None]:
    """Hash ``paths`` on ``workers`` processes, yielding each outcome in input order."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(_PRELOAD)
    pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(paths))), mp_context=context)
    pending: deque[Future[HashOutcome]] = deque()
    queue = iter(paths)
    try:
        for path in queue:
            pending.append(pool.submit(hash_for_scan, path, options))
            if len(pending) >= workers * _IN_FLIGHT_PER_WORKER:
                break
        while pending:
            outcome = pending.popleft().result()
            for path in queue:
                pending.append(pool.submit(hash_for_scan, path, options))
                break
            yield outcome
    finally:
        # Also reached when the consumer stops early: drop queued files, let running ones end.
        pool.shutdown(wait=True, cancel_futures=True)


def scan_in_order(
    paths: Sequence[Path],
    options: HashOptions,
    workers: int,
    scan_file: Callable[[Path], ScanResult],
    match: Callable[[MediaHashes], tuple[list[Match], bool]],
    *,
    processes: bool = False,
) -> Iterator[ScanResult]:
    """Scan results in input order: ``scan_file`` on threads, or (``processes``, big jobs) hashed on processes."""
    if not use_processes(len(paths), workers, processes=processes):
        with ThreadPoolExecutor(max_workers=workers) as pool:
            yield from pool.map(scan_file, paths)
        return
    outcomes = hash_in_processes(paths, options, workers)
    try:
        for path, hashed in zip(paths, outcomes, strict=True):
            if isinstance(hashed, str):
                yield ScanResult(file=str(path), error=hashed)
                continue
            matches, low_quality = match(hashed)
            yield ScanResult(file=str(path), hashes=hashed, matches=tuple(matches), low_quality=low_quality)
    finally:
        outcomes.close()
