"""Value types of the review layer: cases, the hits that open them, decisions and their listeners."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

# Decisions a reviewer can take on a match case, and on an appeal case.
MATCH_DECISIONS = ("confirm", "false_positive", "escalate")
APPEAL_DECISIONS = ("uphold", "reject")


@dataclass(frozen=True)
class CaseHit:
    """One bank entry a scan hit, with what the rules and the queue's priority need to know of it."""

    bank: str
    domain: str
    category: str
    signal_type: str
    entry_id: int
    distance: int
    # Exact cryptographic-hash match (MD5/SHA-256), or a perceptual match at distance 0 of a hash list
    # that holds exact file hashes; rules may escalate these at the first match.
    exact: bool = False
    # Independent sources vouching for the entry (banks.provenance); rules hold blocks below the policy's minimum.
    vouchers: int = 1


@dataclass(frozen=True)
class CaseInfo:
    """A review case as stored (see store.models_cases.Case for what each field means)."""

    id: int
    kind: str
    status: str
    priority: int
    scan_id: int | None
    account_id: str | None
    content_id: str | None
    bank_name: str
    list_domain: str
    entry_category: str
    signal_type: str
    entry_id: int | None
    distance: int | None
    exact: bool
    verified: bool
    report_on_confirm: bool
    rules: tuple[str, ...]
    claimed_by: int | None
    claimed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None
    decided_by: int | None
    decision: str | None
    classification: str | None
    decision_domain: str | None
    media_viewed: bool
    viewed_at: datetime | None
    viewed_by: int | None
    appeal_of: int | None
    note: str

    @property
    def is_open(self) -> bool:
        """Whether the case still waits for a decision."""
        return self.status in ("open", "escalated")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out


@dataclass(frozen=True)
class CaseEventInfo:
    """One step in a case's history."""

    id: int
    case_id: int
    created_at: datetime
    actor: str
    action: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "case_id": self.case_id,
            "created_at": self.created_at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "details": self.details,
        }


@dataclass(frozen=True)
class Decision:
    """A decision a human took on a case, as handed to listeners after it was committed."""

    case: CaseInfo  # the case as it is after the decision
    decision: str  # one of MATCH_DECISIONS or APPEAL_DECISIONS
    reviewer_id: int
    reviewer: str  # the reviewer's user name
    classification: str | None = None  # A1/A2/B1/B2 for a confirmation
    domain: str | None = None  # the list domain the reviewer confirmed
    disable_entry: bool = False  # false positive: also disable the bank entry that matched
    negative_bank: str | None = None  # false positive: also add the scan's hash to this allow/negative bank
    note: str = ""


class DecisionListener(Protocol):
    """Something that acts once a decision is committed (reports, appeal reversals, feedback)."""

    def on_decision(self, decision: Decision) -> None:
        """React to ``decision``; errors are logged on the case, never undo the decision."""
