"""Value types of the reporting layer: reports, legal holds and what preserves a case."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class ReportInfo:
    """A report as stored, with the exact documents sent."""

    id: int
    case_id: int
    destination: str
    jurisdiction: str
    status: str
    remote_id: str | None
    file_ids: tuple[str, ...]
    attempts: int
    last_error: str
    preserve_until: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    retracted_at: datetime | None
    retracted_by: str | None
    retract_reason: str
    report_xml: str
    file_xml: tuple[str, ...]

    @classmethod
    def from_row(cls, row: Row[Any]) -> ReportInfo:
        """Build from a ``reports`` row."""
        progress = json.loads(row.progress or "{}")
        return cls(
            id=row.id,
            case_id=row.case_id,
            destination=row.destination,
            jurisdiction=row.jurisdiction,
            status=row.status,
            remote_id=row.remote_id,
            file_ids=tuple(progress.get("file_ids", [])),
            attempts=row.attempts,
            last_error=row.last_error,
            preserve_until=row.preserve_until,
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            finished_at=row.finished_at,
            retracted_at=row.retracted_at,
            retracted_by=row.retracted_by,
            retract_reason=row.retract_reason,
            report_xml=row.report_xml,
            file_xml=tuple(json.loads(row.file_xml or "[]")),
        )

    def as_dict(self, *, documents: bool = False) -> dict[str, Any]:
        """JSON-ready form; the XML documents only when asked."""
        out: dict[str, Any] = {
            "id": self.id,
            "case_id": self.case_id,
            "destination": self.destination,
            "jurisdiction": self.jurisdiction,
            "status": self.status,
            "remote_id": self.remote_id,
            "file_ids": list(self.file_ids),
            "attempts": self.attempts,
            "last_error": self.last_error,
            "preserve_until": _iso(self.preserve_until),
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "finished_at": _iso(self.finished_at),
            "retracted_at": _iso(self.retracted_at),
            "retracted_by": self.retracted_by,
            "retract_reason": self.retract_reason,
        }
        if documents:
            out["report_xml"] = self.report_xml
            out["file_xml"] = list(self.file_xml)
        return out


@dataclass(frozen=True)
class Hold:
    """A legal hold on a case: nothing of it is deleted while the hold is active."""

    id: int
    case_id: int
    reason: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    released_at: datetime | None
    released_by: str | None

    def active_at(self, when: datetime) -> bool:
        """Whether the hold binds at ``when``: not released and not expired."""
        return self.released_at is None and (self.expires_at is None or self.expires_at > when)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "case_id": self.case_id,
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "expires_at": _iso(self.expires_at),
            "released_at": _iso(self.released_at),
            "released_by": self.released_by,
        }


@dataclass(frozen=True)
class Preservation:
    """Why and how long a case must be kept: report preservation and legal holds together."""

    case_id: int
    until: datetime | None  # the latest end of any preservation or expiring hold; None when nothing applies
    indefinite: bool  # an active hold without expiry: kept until someone releases it
    holds: tuple[int, ...]  # ids of the active holds

    def protects(self, when: datetime) -> bool:
        """Whether the case's data may not be deleted at ``when``."""
        return self.indefinite or (self.until is not None and self.until > when)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "case_id": self.case_id,
            "until": _iso(self.until),
            "indefinite": self.indefinite,
            "holds": list(self.holds),
        }
