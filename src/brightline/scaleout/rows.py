"""One result row per scanned file, the same for both engines, and its Parquet schema.

A row is flat (Parquet- and Arrow-friendly): the file, its partition, the still hashes, flags,
the error if any, and the matches (and a video's vPDQ fields) as JSON text, exactly the objects
``brightline scan --json`` prints.
"""

from __future__ import annotations

import json
from typing import Any

from brightline.matching.results import ScanResult
from brightline.signals.hashing import MediaHashes

# Column order of the rows and of the Parquet files.
COLUMNS = (
    "partition",
    "file",
    "size",
    "pdq",
    "quality",
    "md5",
    "sha256",
    "low_quality",
    "matched",
    "error",
    "matches",
    "video",
)

Row = dict[str, Any]


def arrow_schema() -> Any:
    """The pyarrow schema of result rows (pyarrow imported here: it comes with the ray extra)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("partition", pa.int64()),
            ("file", pa.string()),
            ("size", pa.int64()),
            ("pdq", pa.string()),
            ("quality", pa.int64()),
            ("md5", pa.string()),
            ("sha256", pa.string()),
            ("low_quality", pa.bool_()),
            ("matched", pa.bool_()),
            ("error", pa.string()),
            ("matches", pa.string()),
            ("video", pa.string()),
        ]
    )


def _video_fields(hashes: MediaHashes) -> dict[str, object] | None:
    video = hashes.video
    if video is None:
        return None
    fields: dict[str, object] = {
        "video_md5": hashes.md5,
        "vpdq": [
            {"frame": f.frame_number, "quality": f.quality, "pdq": f.pdq, "timestamp": round(f.timestamp, 3)}
            for f in video.features
        ],
        "duration": video.duration,
        "frame_count": video.frame_count,
    }
    if video.truncated:
        fields["truncated"] = True
    return fields


def result_row(result: ScanResult, partition: int, size: int) -> Row:
    """The row of one file's scan result."""
    hashes = result.hashes
    video = _video_fields(hashes) if hashes is not None else None
    still = hashes is not None and video is None
    return {
        "partition": partition,
        "file": result.file,
        "size": size,
        "pdq": hashes.pdq if still and hashes is not None else None,
        "quality": hashes.quality if still and hashes is not None else None,
        "md5": hashes.md5 if hashes is not None else None,
        "sha256": hashes.sha256 if hashes is not None else None,
        "low_quality": result.low_quality,
        "matched": result.matched,
        "error": result.error,
        "matches": json.dumps([m.as_dict() for m in result.matches], separators=(",", ":")),
        "video": None if video is None else json.dumps(video, separators=(",", ":")),
    }


def row_record(row: Row) -> dict[str, object]:
    """The JSON object ``brightline scan --json`` prints for a row (the local engine's shape)."""
    record: dict[str, object] = {"file": row["file"], "matches": json.loads(row["matches"])}
    if row.get("video"):
        record.update(json.loads(row["video"]))
        record["md5"] = row["md5"]
    elif row.get("md5") is not None:
        record["pdq"] = row["pdq"]
        record["quality"] = row["quality"]
        record["md5"] = row["md5"]
    if row.get("low_quality"):
        record["low_quality"] = True
    if row.get("error") is not None:
        record["error"] = row["error"]
    return record


def row_hashes(row: Row) -> MediaHashes:
    """The hashes a match record stores (PDQ, quality and digests), rebuilt from a row."""
    return MediaHashes(
        md5=row["md5"] or "",
        sha256=row["sha256"] or "",
        pdq=row["pdq"] or "",
        quality=int(row["quality"] or 0),
    )
