"""Validating a reviewer's decision against its case and writing it (inside the queue's transaction)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from brightline.banks.validation import normalise_domain, validate_bank_name
from brightline.errors import ValidationError
from brightline.review.audit_events import audit_decided
from brightline.review.priority import ESCALATION_POINTS
from brightline.review.rows import Actor, add_event
from brightline.review.types import APPEAL_DECISIONS, MATCH_DECISIONS, CaseInfo, Decision, DecisionListener
from brightline.store.models_cases import CLASSIFICATIONS, cases_table

log = logging.getLogger(__name__)
_C = cases_table.c
MAX_NOTE = 4096
# The status each closing decision leaves the case in (escalate keeps it open).
STATUS_AFTER = {
    "confirm": "confirmed",
    "false_positive": "false_positive",
    "escalate": "escalated",
    "uphold": "appeal_upheld",
    "reject": "appeal_rejected",
}


@dataclass(frozen=True)
class DecisionRequest:
    """What a reviewer asked for, before it is checked against the case."""

    decision: str
    classification: str | None = None
    domain: str | None = None
    disable_entry: bool = False
    negative_bank: str | None = None
    note: str = ""

    def validated(self, case: Row[Any]) -> DecisionRequest:
        """This request made consistent with the case (normalised), or ValidationError saying what is wrong."""
        allowed = APPEAL_DECISIONS if case.kind == "appeal" else MATCH_DECISIONS
        if self.decision not in allowed:
            raise ValidationError(f"a {case.kind} case takes one of {', '.join(allowed)}, got {self.decision!r}")
        if len(self.note) > MAX_NOTE:
            raise ValidationError(f"note longer than {MAX_NOTE} characters")
        if self.decision != "false_positive" and (self.disable_entry or self.negative_bank):
            raise ValidationError("disabling the entry or adding to a negative bank only follows a false positive")
        if self.decision != "confirm" and self.classification is not None:
            raise ValidationError("a classification is given only with a confirmation")
        if self.decision == "confirm":
            label = (self.classification or "").strip().upper()
            if label not in CLASSIFICATIONS:
                raise ValidationError(f"confirming needs a classification, one of {', '.join(CLASSIFICATIONS)}")
            domain = normalise_domain(self.domain) if self.domain else case.list_domain
            return replace(self, classification=label, domain=domain)
        if self.decision == "false_positive":
            if self.disable_entry and case.entry_id is None:
                raise ValidationError("this case has no bank entry to disable")
            bank = validate_bank_name(self.negative_bank) if self.negative_bank else None
            return replace(self, negative_bank=bank, domain=None)
        return replace(self, domain=None)

    def to_decision(self, case: CaseInfo, who: Actor) -> Decision:
        """The Decision listeners receive."""
        return Decision(
            case=case,
            decision=self.decision,
            reviewer_id=who.id,
            reviewer=who.username,
            classification=self.classification,
            domain=self.domain,
            disable_entry=self.disable_entry,
            negative_bank=self.negative_bank,
            note=self.note,
        )


def apply_decision(conn: Connection, case: Row[Any], request: DecisionRequest, who: Actor, now: datetime) -> None:
    """Write a validated decision on a locked case and its "decided" event."""
    values: dict[str, Any] = {"status": STATUS_AFTER[request.decision], "updated_at": now}
    if request.decision == "escalate":
        # Back to the queue, above first-line work, for someone else (or a senior) to take.
        if case.status != "escalated":
            values["priority"] = case.priority + ESCALATION_POINTS
        values.update(claimed_by=None, claimed_at=None)
    else:
        values.update(
            decided_at=now,
            decided_by=who.id,
            decision=request.decision,
            classification=request.classification,
            decision_domain=request.domain,
        )
    conn.execute(sa.update(cases_table).where(_C.id == case.id).values(**values))
    details: dict[str, Any] = {"decision": request.decision}
    for name in ("classification", "domain", "negative_bank"):
        if getattr(request, name):
            details[name] = getattr(request, name)
    if request.disable_entry:
        details["disable_entry"] = True
    if request.note:
        details["note"] = request.note
    add_event(conn, case.id, now, who.label, "decided", details)
    audit_decided(
        conn,
        case,
        who.label,
        now,
        decision=request.decision,
        classification=request.classification,
        domain=request.domain,
    )


def notify(
    listeners: Sequence[DecisionListener],
    decision: Decision,
    record_event: Callable[..., None],
) -> None:
    """Hand a committed decision to every listener; a failure is logged and recorded on the case, never raised."""
    for listener in list(listeners):
        try:
            listener.on_decision(decision)
        except Exception as exc:  # a listener must never undo or hide a committed decision
            name = type(listener).__name__
            log.exception("decision listener %s failed on case %s", name, decision.case.id)
            details: Mapping[str, Any] = {"listener": name, "error": f"{type(exc).__name__}: {exc}"}
            try:
                record_event(decision.case.id, actor="system", action="listener_failed", details=details)
            except Exception:  # the log line above already tells the operator
                log.exception("could not record the failure of %s on case %s", name, decision.case.id)
