"""Source kind "file": a local hash-list file, or a folder of them, watched for changes at every sync.

Files are in the formats ``brightline bank import`` reads (csv, tsv, jsonl, plain hex; see
"Hash-list formats"), parsed by the same code. Each sync compares every file's size and
modification time with the checkpoint; only a change makes it read the files, and only a change
in the records themselves makes a new snapshot (an entry that left the files is withdrawn).
Lines that cannot be read are counted as malformed and reported; they never stop a sync.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Self

import httpx

from brightline.banks.formats import FORMATS, detect_format
from brightline.banks.parsing import PARSERS, ErrorLog, LineReader
from brightline.banks.validation import EntryNormaliser
from brightline.errors import BrightlineError, FeedbackUnsupportedError, SourceError, ValidationError
from brightline.signals.registry import get_signal_type
from brightline.sources.snapshot import (
    Problems,
    SnapshotCheckpoint,
    batch_size_option,
    derived_remote_id,
    snapshot_batches,
)
from brightline.sources.types import Feedback, SourceBatch, SourceConfig, SourceDescription, SourceEntry

_SUFFIXES = (".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".txt", ".hex")


class FileSource:
    """A hash-list file or folder on this machine (or a mounted share), re-read when it changes."""

    kind: ClassVar[str] = "file"

    def __init__(self, name: str, path: Path, *, fmt: str | None, signal_type: str, category: str, batch_size: int):
        self.name = name
        self.path = path
        self.fmt = fmt
        self.signal_type = signal_type
        self.category = category
        self.batch_size = batch_size

    @classmethod
    def from_config(cls, config: SourceConfig, *, transport: httpx.BaseTransport | None = None) -> Self:
        """Options: path (required), format, signal_type (plain hex lists; default pdq), category, batch_size."""
        del transport  # files need no network
        options = config.options
        path = str(options.get("path") or "").strip()
        if not path:
            raise ValidationError("a file source needs the option path=FILE_OR_FOLDER")
        fmt = options.get("format")
        if fmt is not None and str(fmt).strip().lower() not in FORMATS:
            raise ValidationError(f"format must be one of {', '.join(FORMATS)}")
        return cls(
            config.name,
            Path(path).expanduser(),
            fmt=str(fmt).strip().lower() if fmt else None,
            signal_type=get_signal_type(str(options.get("signal_type", "pdq"))).name,
            category=str(options.get("category", "")),
            batch_size=batch_size_option(options),
        )

    def describe(self) -> SourceDescription:
        """What this source supplies."""
        return SourceDescription(
            kind=self.kind,
            summary="A local hash-list file or folder (csv, tsv, jsonl, hex), re-read when it changes.",
            signal_types=("pdq", "md5", "sha256", "vpdq"),
            options={
                "path": "file or folder of hash lists (required)",
                "format": "csv, tsv, jsonl or hex; default: from each file's extension",
                "signal_type": "signal type of plain hex lists (default pdq)",
                "category": "category of entries that name none",
                "batch_size": "records per committed batch (default 1000)",
            },
        )

    def _files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        if self.path.is_dir():
            return sorted(
                p
                for p in self.path.rglob("*")
                if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in _SUFFIXES
            )
        raise SourceError(f"{self.name}: {self.path} does not exist (or cannot be read)")

    def _stats(self, files: list[Path]) -> dict[str, list[int]]:
        stats: dict[str, list[int]] = {}
        for path in files:
            try:
                info = path.stat()
            except OSError as exc:
                raise SourceError(f"{self.name}: cannot read {path}: {exc.strerror or exc}") from None
            stats[str(path)] = [info.st_size, info.st_mtime_ns]
        return stats

    def _read(self, path: Path, problems: Problems, out: list[SourceEntry]) -> None:
        fmt = detect_format(path, self.fmt)
        normalise = EntryNormaliser()
        errors = ErrorLog()
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise SourceError(f"{self.name}: cannot read {path}: {exc.strerror or exc}") from None
        with fh:
            for number, record in PARSERS[fmt](LineReader(fh, errors), errors, self.signal_type):
                if not record.enabled:
                    continue  # a disabled line is not listed
                try:
                    clean = normalise(record)
                except BrightlineError as exc:
                    problems.add(f"{path.name}:{number}: {exc.message}")
                    continue
                category = clean.category or self.category
                out.append(
                    SourceEntry(
                        remote_id=derived_remote_id(clean.signal_type, clean.value),
                        signal_type=clean.signal_type,
                        value=clean.value,
                        category=category,
                        classification=category,
                    )
                )
        for number, message in errors.kept:
            problems.add(f"{path.name}:{number}: {message}")
        problems.count += errors.count - len(errors.kept)

    def fetch(self, checkpoint: str | None) -> Iterator[SourceBatch]:
        """Nothing if no file changed since ``checkpoint``; else the snapshot's batches from where it stopped."""
        previous = SnapshotCheckpoint.loads(checkpoint)
        files = self._files()
        validators: dict[str, Any] = {"files": self._stats(files)}
        if previous is not None and previous.complete and dict(previous.validators) == validators:
            return
        problems = Problems()
        entries: list[SourceEntry] = []
        for path in files:
            self._read(path, problems, entries)
        yield from snapshot_batches(
            entries, previous=previous, validators=validators, batch_size=self.batch_size, problems=problems
        )

    def send_feedback(self, feedback: Feedback) -> None:
        """Files take no feedback."""
        raise FeedbackUnsupportedError(f"{self.name}: a file source takes no feedback")
