"""Value types of the records layer: caller metadata of a scan, and what was recorded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from brightline.errors import ValidationError
from brightline.store.models import MAX_IDENTIFIER

MAX_CONTEXT_BYTES = 16 * 1024


def _check_identifier(field: str, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, got {type(value).__name__}")
    if len(value) > MAX_IDENTIFIER:
        raise ValidationError(f"{field} is at most {MAX_IDENTIFIER} characters, got {len(value)}")


@dataclass(frozen=True)
class ScanMetadata:
    """What the caller says about the media: its ids, where it came from and free-form context."""

    content_id: str | None = None
    account_id: str | None = None
    source: str | None = None
    context: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in ("content_id", "account_id", "source"):
            _check_identifier(name, getattr(self, name))
        self.context_json()  # validates

    def context_json(self) -> str | None:
        """The context as compact JSON text (None when there is none); ValidationError if unusable."""
        if self.context is None:
            return None
        if not isinstance(self.context, dict):
            raise ValidationError(f"context must be a JSON object, got {type(self.context).__name__}")
        try:
            text = json.dumps(self.context, separators=(",", ":"), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"context is not JSON-serialisable: {exc}") from None
        if len(text.encode()) > MAX_CONTEXT_BYTES:
            raise ValidationError(f"context is larger than {MAX_CONTEXT_BYTES // 1024} KiB as JSON")
        return text


@dataclass(frozen=True)
class MatchEvent:
    """One recorded hit of a scan on a bank entry (the bank named as it was at the time)."""

    id: int
    scan_id: int
    created_at: datetime
    bank: str
    entry_id: int
    signal_type: str
    distance: int
    variant: str
    account_id: str | None
    content_id: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "scan_id": self.scan_id,
            "created_at": self.created_at.isoformat(),
            "bank": self.bank,
            "entry_id": self.entry_id,
            "signal_type": self.signal_type,
            "distance": self.distance,
            "variant": self.variant,
            "account_id": self.account_id,
            "content_id": self.content_id,
        }


@dataclass(frozen=True)
class ScanRecord:
    """A stored scan that matched; ``replayed`` is True when an idempotency key returned an earlier one."""

    id: int
    created_at: datetime
    matches: tuple[MatchEvent, ...]
    replayed: bool
    content_type: str = "image"
    content_id: str | None = None
    account_id: str | None = None
    source: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "content_type": self.content_type,
            "content_id": self.content_id,
            "account_id": self.account_id,
            "source": self.source,
            "replayed": self.replayed,
            "matches": [m.as_dict() for m in self.matches],
        }
