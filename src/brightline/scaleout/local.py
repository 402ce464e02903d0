"""The local engine for partitioned scans: this machine's threads, the same rows as the Ray engine."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from brightline.matching import Matcher
from brightline.matching.results import ScanResult
from brightline.scaleout.listing import FileItem, Partition, hash_item
from brightline.scaleout.rows import Row, result_row
from brightline.signals.hashing import HashOptions


def scan_item(
    matcher: Matcher, item: FileItem, options: HashOptions, banks: Collection[str] | None, partition: int
) -> Row:
    """Hash and match one file into its row (``options`` already carry the matcher's query options)."""
    hashed = hash_item(item.file, options)
    if isinstance(hashed, str):
        return result_row(ScanResult(file=item.file, error=hashed), partition, item.size)
    matches, low_quality = matcher.match_hashes(hashed, banks)
    result = ScanResult(file=item.file, hashes=hashed, matches=tuple(matches), low_quality=low_quality)
    return result_row(result, partition, item.size)


def local_engine(matcher: Matcher, options: HashOptions, banks: Collection[str] | None, workers: int) -> LocalEngine:
    """An engine that scans on ``workers`` threads of this process."""
    return LocalEngine(matcher, matcher.query_options(options), banks, workers)


class LocalEngine:
    """Scans pending partitions on a thread pool, partition after partition."""

    def __init__(self, matcher: Matcher, options: HashOptions, banks: Collection[str] | None, workers: int) -> None:
        self._matcher = matcher
        self._options = options
        self._banks = banks
        self._workers = max(1, workers)

    def __call__(self, partitions: Sequence[Partition]) -> Iterator[Row]:
        """Rows of every file of ``partitions``."""
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            # One partition at a time keeps the queued futures bounded by the partition size.
            for part in partitions:
                yield from pool.map(
                    lambda item, index=part.index: scan_item(self._matcher, item, self._options, self._banks, index),
                    part.items,
                )
