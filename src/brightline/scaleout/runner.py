"""The driver of a backlog scan, whichever engine computes it: plan, skip finished partitions, collect, sink.

An engine is a function from the pending partitions to result rows in any order; the driver
groups rows by partition and, as each partition completes, records its matches and writes its
Parquet file (the checkpoint). Duplicate rows (a retried task on a restarted actor) are dropped
by file name, so each file appears once however often it was computed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from brightline.errors import ScaleOutError
from brightline.scaleout.listing import DEFAULT_PARTITION_SIZE, Partition, list_inputs, partition
from brightline.scaleout.rows import Row
from brightline.scaleout.sink import ParquetOutput, RecordCounts, Recorder
from brightline.signals.hashing import HashOptions

Engine = Callable[[Sequence[Partition]], Iterable[Row]]


@dataclass(frozen=True)
class ScanJob:
    """What to scan and where its results go."""

    inputs: tuple[str, ...]
    options: HashOptions
    banks: frozenset[str] | None = None
    partition_size: int = DEFAULT_PARTITION_SIZE
    output: str | None = None  # folder or URI for Parquet results and checkpoints


@dataclass
class Plan:
    """The job cut into partitions, and which of them an earlier run already finished."""

    partitions: list[Partition]
    done: set[str] = field(default_factory=set)

    @property
    def pending(self) -> list[Partition]:
        """Partitions still to scan."""
        return [p for p in self.partitions if p.name not in self.done]

    @property
    def pending_files(self) -> int:
        """Files in the pending partitions."""
        return sum(len(p.items) for p in self.pending)


@dataclass
class Summary:
    """What a run did: files scanned now, skipped as done, matched, failed, and records written."""

    files: int = 0
    skipped_files: int = 0
    skipped_partitions: int = 0
    matched: int = 0
    errors: int = 0
    records: RecordCounts = field(default_factory=RecordCounts)


def plan(job: ScanJob, output: ParquetOutput | None) -> Plan:
    """List and partition the inputs; with an output, mark the partitions it already holds as done."""
    parts = partition(list_inputs(job.inputs), job.partition_size)
    return Plan(parts, output.done() if output is not None else set())


def run(
    job: ScanJob,
    engine: Engine,
    *,
    recorder: Recorder | None = None,
    on_row: Callable[[Row], None] | None = None,
    on_partition: Callable[[Partition, Sequence[Row]], None] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
) -> Summary:
    """Scan the job's pending partitions with ``engine``, sinking each partition as it completes."""
    output = ParquetOutput(job.output) if job.output else None
    the_plan = plan(job, output)
    if on_plan is not None:
        on_plan(the_plan)  # e.g. to size a progress bar without listing the inputs twice
    summary = Summary()
    for part in the_plan.partitions:
        if part.name in the_plan.done and output is not None:
            files, matched = output.count_matched(part)
            summary.skipped_files += files
            summary.skipped_partitions += 1
            summary.matched += matched
    pending = the_plan.pending
    # closing(): on an error (or a stop) here, the engine's pipeline is shut down now, not at some later GC.
    with contextlib.closing(collect(pending, engine(pending), on_row=on_row)) as finished:
        for part, rows in finished:
            _sink(part, rows, output, recorder, summary, on_partition)
    if output is not None:
        output.write_manifest(job.inputs, the_plan.partitions)
    if recorder is not None:
        summary.records = recorder.counts
    return summary


def _sink(
    part: Partition,
    rows: list[Row],
    output: ParquetOutput | None,
    recorder: Recorder | None,
    summary: Summary,
    on_partition: Callable[[Partition, Sequence[Row]], None] | None,
) -> None:
    """Record a finished partition's matches, then write its Parquet file (the checkpoint)."""
    if recorder is not None:
        recorder.record(rows)
    if output is not None:
        output.write(part, rows)
    summary.files += len(rows)
    summary.matched += sum(bool(r["matched"]) for r in rows)
    summary.errors += sum(r["error"] is not None for r in rows)
    if on_partition is not None:
        on_partition(part, rows)


def collect(
    partitions: Collection[Partition], rows: Iterable[Row], *, on_row: Callable[[Row], None] | None = None
) -> Generator[tuple[Partition, list[Row]], None, None]:
    """Group rows into their partitions; yield each partition when every one of its files has a row."""
    by_index = {p.index: p for p in partitions}
    waiting: dict[int, dict[str, Row]] = {p.index: {} for p in partitions}
    stream = iter(rows)
    try:
        yield from _group(by_index, waiting, stream, on_row)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    missing = sum(len(by_index[i].items) - len(got) for i, got in waiting.items())
    if missing:
        raise ScaleOutError(f"the engine ended with {missing} files of {len(waiting)} partitions not scanned")


def _group(
    by_index: dict[int, Partition],
    waiting: dict[int, dict[str, Row]],
    rows: Iterator[Row],
    on_row: Callable[[Row], None] | None,
) -> Iterator[tuple[Partition, list[Row]]]:
    for row in rows:
        index = int(row["partition"])
        got = waiting.get(index)
        part = by_index.get(index)
        if got is None or part is None or row["file"] in got:
            continue  # a duplicate from a retried task, or a partition already complete
        got[row["file"]] = row
        if on_row is not None:
            on_row(row)
        if len(got) == len(part.items):
            del waiting[index]
            yield part, sorted(got.values(), key=lambda r: r["file"])
