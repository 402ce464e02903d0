"""Where finished partitions go: match records in the database, then one Parquet file per partition.

The Parquet file is the checkpoint: it is written last, under a temporary name and then moved into
place, so a partition whose file exists was recorded in full. A crash between recording and writing
only means the partition is scanned again; its match records are written under per-file
idempotency keys, so the second pass replays them instead of adding new ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from brightline.records import RecordService
from brightline.records.types import ScanMetadata, ScanRecord
from brightline.scaleout.listing import Partition, filesystem_for, import_pyarrow_fs, is_uri
from brightline.scaleout.rows import COLUMNS, Row, arrow_schema, row_hashes
from brightline.store.models import MAX_IDENTIFIER

if TYPE_CHECKING:  # the review layer is needed only by a driver that records; workers stay light
    from brightline.matching.results import Match
    from brightline.review.intake import Intake

MANIFEST = "_manifest.json"
SOURCE = "backlog"  # scan_records.source of backlog scans
ACTOR = "backlog-scan"  # who the audit log says took the evidence and opened the case


def idempotency_key(row: Row) -> str:
    """A file's idempotency key: its name and content digest, so re-runs and retries never add a record."""
    digest = hashlib.sha256(f"{row['file']}\n{row['sha256']}".encode()).hexdigest()
    return f"{SOURCE}:{digest}"


def _content_id(file: str) -> str:
    # Long object-store keys exceed the column: keep a stable digest of them instead.
    if len(file) <= MAX_IDENTIFIER:
        return file
    return "sha256:" + hashlib.sha256(file.encode()).hexdigest()


@dataclass
class RecordCounts:
    """Match records written by this run, and ones an earlier run (or retry) had already written."""

    new: int = 0
    replayed: int = 0
    cases: int = 0  # review cases this run opened (for new records and for finished interrupted intakes)
    resumed: int = 0  # replayed records whose interrupted intake this run finished
    without_evidence: int = 0  # records taken in whose file could not be kept (changed, gone or too large)


class Recorder:
    """Records matched rows with RecordService, one idempotent scan record per matched file.

    With an ``intake``, each new record then goes through review intake as an upload to
    ``POST /v1/scan`` does: the rules run, the file is kept (encrypted) as evidence and a case is
    opened for a human. Replayed records were taken in when they were first written, unless that
    intake was interrupted, which this run then finishes.
    """

    def __init__(self, records: RecordService, intake: Intake | None = None, *, max_bytes: int = 512 << 20) -> None:
        self._records = records
        self._intake = intake
        self._max_bytes = max_bytes
        self.counts = RecordCounts()

    def record(self, rows: Sequence[Row]) -> None:
        """Record every matched row; unmatched rows store nothing (the privacy promise)."""
        from brightline.matching.results import Match

        for row in rows:
            if not row["matched"]:
                continue
            matches = [Match(**{k: _tuple_ranges(k, v) for k, v in m.items()}) for m in json.loads(row["matches"])]
            stored = self._records.record_scan(
                api_key_id=None,
                idempotency_key=idempotency_key(row),
                metadata=ScanMetadata(content_id=_content_id(row["file"]), source=SOURCE),
                hashes=row_hashes(row),
                content_type="video" if row.get("video") else "image",
                matches=matches,
            )
            if stored is None:
                continue
            if stored.replayed:
                self.counts.replayed += 1
                # A crash after recording (a killed driver) left this match unreviewed: finish its intake.
                if self._intake is not None and self._intake.interrupted(stored):
                    self.counts.resumed += 1
                    had_case = self._intake.replay(stored).case_id is not None
                    self._take_in(self._intake, row, stored, matches, had_case=had_case)
                continue
            self.counts.new += 1
            if self._intake is not None:
                self._take_in(self._intake, row, stored, matches)

    def _take_in(
        self, intake: Intake, row: Row, stored: ScanRecord, matches: Sequence[Match], *, had_case: bool = False
    ) -> None:
        media = self._matched_bytes(row)
        result = intake.process(stored, matches, media=media, media_type=stored.content_type, actor=ACTOR)
        if result.case_id is not None and not had_case:
            self.counts.cases += 1
        if result.evidence_id is None:
            self.counts.without_evidence += 1

    def _matched_bytes(self, row: Row) -> bytes | None:
        """The file's bytes if they are still the ones that matched (same SHA-256), else None."""
        file = str(row["file"])
        try:
            if is_uri(file):
                fs, path = filesystem_for(file)
                with fs.open_input_stream(path) as stream:
                    data: bytes = stream.read(self._max_bytes + 1)
            else:
                with open(file, "rb") as handle:
                    data = handle.read(self._max_bytes + 1)
        except OSError:
            return None
        # A file replaced since it was hashed is not the evidence of this match.
        if len(data) > self._max_bytes or hashlib.sha256(data).hexdigest() != row["sha256"]:
            return None
        return data


def _tuple_ranges(key: str, value: Any) -> Any:
    # Match.time_ranges is a tuple of pairs; JSON gives lists.
    if key == "time_ranges" and value is not None:
        return tuple(tuple(pair) for pair in value)
    return value


class ParquetOutput:
    """One Parquet file per finished partition under an output folder or URI, plus a manifest."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self._fs, self._root = filesystem_for(self.uri)
        # Object stores have no folders to create; a real problem shows on the first write.
        with contextlib.suppress(OSError):
            self._fs.create_dir(self._root, recursive=True)

    def _path(self, name: str) -> str:
        return f"{self._root}/{name}"

    def done(self) -> set[str]:
        """Names of the partition files already written."""
        pafs = import_pyarrow_fs()
        try:
            infos = self._fs.get_file_info(pafs.FileSelector(self._root, recursive=False, allow_not_found=True))
        except OSError:
            return set()
        return {i.base_name for i in infos if i.type == pafs.FileType.File and i.base_name.startswith("part-")}

    def write(self, partition: Partition, rows: Sequence[Row]) -> None:
        """Write a partition's rows (sorted by file) under a temporary name, then move it into place."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        ordered = sorted(rows, key=lambda r: r["file"])
        table = pa.Table.from_pylist([{c: r.get(c) for c in COLUMNS} for r in ordered], schema=arrow_schema())
        tmp = self._path(f"_tmp-{partition.name}.{uuid.uuid4().hex[:8]}")
        pq.write_table(table, tmp, filesystem=self._fs)
        self._fs.move(tmp, self._path(partition.name))

    def read(self, partition: Partition) -> list[Row]:
        """The rows of a partition written earlier."""
        import pyarrow.parquet as pq

        rows: list[Row] = pq.read_table(self._path(partition.name), filesystem=self._fs).to_pylist()
        return rows

    def count_matched(self, partition: Partition) -> tuple[int, int]:
        """(files, matched files) of a partition written earlier, reading one column."""
        import pyarrow.parquet as pq

        column = pq.read_table(self._path(partition.name), columns=["matched"], filesystem=self._fs)["matched"]
        return len(column), int(sum(bool(v) for v in column.to_pylist()))

    def write_manifest(self, inputs: Sequence[str], partitions: Sequence[Partition]) -> None:
        """Record which inputs and partitions make up this output (written when every partition is done)."""
        body = {"inputs": list(inputs), "partitions": [p.name for p in partitions]}
        with self._fs.open_output_stream(self._path(MANIFEST)) as stream:
            stream.write(json.dumps(body, indent=1).encode())
