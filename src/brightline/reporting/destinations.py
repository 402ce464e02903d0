"""Where reports go: the CyberTipline, or a folder for a destination without an API (a national hotline).

A destination takes a ``ReportPackage`` and the report's ``DeliveryProgress``. It calls
``checkpoint`` after every step that changed something remotely, so the service stores how far
it got; sending the same package again with that progress resumes where it stopped and never
repeats a finished step (no second report, no second copy of a file).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from brightline.errors import ReportDeliveryError
from brightline.reporting.cybertipline import CyberTiplineClient
from brightline.reporting.ncmec_xml import FileReport, file_details_xml


@dataclass(frozen=True)
class ReportFile:
    """One file of a report: its bytes (empty when the destination takes no media) and what is said of it."""

    name: str
    data: bytes
    details: FileReport


@dataclass(frozen=True)
class ReportPackage:
    """Everything a destination needs to deliver one case's report."""

    case_id: int
    report_xml: str
    files: tuple[ReportFile, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeliveryProgress:
    """How far a report's delivery got; stored as JSON with the report after every step."""

    remote_id: str | None = None
    file_ids: list[str] = field(default_factory=list)
    file_documents: list[str] = field(default_factory=list)  # the exact fileDetails XML sent, per file
    finished: bool = False
    # The last submission got no answer: the destination may hold a report this side has no id for.
    outcome_unknown: bool = False

    def to_json(self) -> str:
        """JSON text for the database."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DeliveryProgress:
        """Read back what ``to_json`` wrote (an empty object is a fresh start)."""
        data = json.loads(text or "{}")
        return cls(
            remote_id=data.get("remote_id"),
            file_ids=list(data.get("file_ids", [])),
            file_documents=list(data.get("file_documents", [])),
            finished=bool(data.get("finished", False)),
            outcome_unknown=bool(data.get("outcome_unknown", False)),
        )


@dataclass(frozen=True)
class Receipt:
    """A delivered report: the destination and the id it gave the report."""

    destination: str
    remote_id: str
    file_ids: tuple[str, ...] = ()


Checkpoint = Callable[[DeliveryProgress], None]


class ReportDestination(Protocol):
    """A place reports are delivered to; ``jurisdiction`` picks the preservation period."""

    name: str
    jurisdiction: str
    takes_media: bool

    def send(self, package: ReportPackage, progress: DeliveryProgress, checkpoint: Checkpoint) -> Receipt:
        """Deliver ``package``, resuming from ``progress``; raises ReportDeliveryError."""
        ...

    def retract(self, receipt: Receipt) -> None:
        """Withdraw a delivered report; raises ReportDeliveryError."""
        ...


class CyberTiplineDestination:
    """NCMEC's CyberTipline: submit, upload each file, describe it, finish."""

    name = "cybertipline"
    jurisdiction = "US"
    takes_media = True

    def __init__(self, client: CyberTiplineClient) -> None:
        self.client = client

    def send(self, package: ReportPackage, progress: DeliveryProgress, checkpoint: Checkpoint) -> Receipt:
        """Submit, upload, fileinfo, finish; each step done once across retries thanks to ``progress``."""
        if progress.remote_id is None:
            progress.remote_id = self.client.submit(package.report_xml)
            checkpoint(progress)
        report_id = progress.remote_id
        for index, file in enumerate(package.files):
            if index >= len(progress.file_ids):
                progress.file_ids.append(self.client.upload(report_id, file.name, file.data))
                checkpoint(progress)
            if index >= len(progress.file_documents):
                document = file_details_xml(file.details, report_id=report_id, file_id=progress.file_ids[index])
                self.client.file_info(document)
                progress.file_documents.append(document)
                checkpoint(progress)
        if not progress.finished:
            result = self.client.finish(report_id)
            missing = set(progress.file_ids) - set(result.file_ids)
            if missing:
                raise ReportDeliveryError(f"CyberTipline finished report {report_id} without files {sorted(missing)}")
            progress.finished = True
            checkpoint(progress)
        return Receipt(self.name, report_id, tuple(progress.file_ids))

    def retract(self, receipt: Receipt) -> None:
        """POST /retract for the report."""
        self.client.retract(receipt.remote_id)


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class FileDropDestination:
    """Writes each report to its own folder (report.xml, file-N.xml, metadata.json) for another system to pick up.

    Media is written only with ``include_media``: a drop folder is rarely as well protected as the
    encrypted evidence store, so by default the hotline gets the hashes and not the file.
    """

    takes_media = False

    def __init__(
        self, folder: Path, *, name: str = "file_drop", jurisdiction: str = "", include_media: bool = False
    ) -> None:
        self.folder = folder
        self.name = name
        self.jurisdiction = jurisdiction
        self.include_media = include_media
        self.takes_media = include_media

    def send(self, package: ReportPackage, progress: DeliveryProgress, checkpoint: Checkpoint) -> Receipt:
        """Write the package; the remote id is the folder's name, so a resend rewrites the same folder."""
        if progress.remote_id is None:
            progress.remote_id = (
                f"case-{package.case_id}-{len(list(self.folder.glob(f'case-{package.case_id}-*'))) + 1}"
            )
            checkpoint(progress)
        target = self.folder / progress.remote_id
        try:
            target.mkdir(parents=True, exist_ok=True)
            (target / "report.xml").write_text(package.report_xml, encoding="utf-8")
            progress.file_ids = [str(i + 1) for i in range(len(package.files))]
            progress.file_documents = []
            for index, file in enumerate(package.files):
                document = file_details_xml(
                    file.details, report_id=progress.remote_id, file_id=progress.file_ids[index]
                )
                (target / f"file-{index + 1}.xml").write_text(document, encoding="utf-8")
                progress.file_documents.append(document)
                if self.include_media and file.data:
                    (target / f"file-{index + 1}-{_SAFE_NAME.sub('_', file.name)}").write_bytes(file.data)
            (target / "metadata.json").write_text(json.dumps(package.metadata, indent=2, sort_keys=True))
        except OSError as exc:
            raise ReportDeliveryError(f"cannot write the report to {target}: {exc}") from exc
        progress.finished = True
        checkpoint(progress)
        return Receipt(self.name, progress.remote_id, tuple(progress.file_ids))

    def retract(self, receipt: Receipt) -> None:
        """Leave a RETRACTED marker beside the report for the other side to act on."""
        target = self.folder / receipt.remote_id
        try:
            (target / "RETRACTED").write_text("retracted\n")
        except OSError as exc:
            raise ReportDeliveryError(f"cannot mark {target} retracted: {exc}") from exc
