"""Decision listeners: report a confirmed case when a rule asked for it; retract when an appeal reverses it.

Both run after the reviewer's decision was committed. Whatever goes wrong is written to the
case's history and logged, never raised back into the reviewer's request.
"""

from __future__ import annotations

import logging

from brightline.errors import BrightlineError, ReportDeliveryError, ReportNotFoundError
from brightline.reporting.service import ReportService
from brightline.review.types import Decision

log = logging.getLogger(__name__)
AUTO_ACTOR = "system:report_on_confirm"


class ReportOnConfirm:
    """Send the report of a case a reviewer confirmed when its rules set ``report_on_confirm``."""

    def __init__(self, reports: ReportService) -> None:
        self.reports = reports

    def on_decision(self, decision: Decision) -> None:
        """Report after a confirmation; failures are recorded on the case."""
        case = decision.case
        if decision.decision != "confirm" or case.kind != "match" or not case.report_on_confirm:
            return
        try:
            self.reports.create_and_send(case.id, actor=AUTO_ACTOR)
        except BrightlineError as exc:
            # Delivery failures are already on the case (report_failed); refusals are recorded here.
            log.warning("report of case %s failed: %s", case.id, exc)
            if not _recorded(exc):
                _note(self.reports, case.id, "report_failed", exc)
        except Exception as exc:  # a reviewer's decision must never fail because reporting did
            log.exception("report of case %s failed unexpectedly", case.id)
            _note(self.reports, case.id, "report_failed", exc)


class RetractOnReversal:
    """Retract the report of a case whose decision an appeal reversed (the appeal was upheld)."""

    def __init__(self, reports: ReportService) -> None:
        self.reports = reports

    def on_decision(self, decision: Decision) -> None:
        """Retract after an upheld appeal; failures are recorded on the appealed case."""
        case = decision.case
        if decision.decision != "uphold" or case.kind != "appeal" or case.appeal_of is None:
            return
        original = case.appeal_of
        try:
            self.reports.retract_case(
                original, actor=f"reviewer:{decision.reviewer}", reason=f"appeal upheld (case {case.id})"
            )
        except ReportNotFoundError:
            return  # never reported: nothing to withdraw
        except Exception as exc:  # see ReportOnConfirm
            log.warning("retraction of case %s's report failed: %s", original, exc)
            if not isinstance(exc, BrightlineError) or not _recorded(exc):
                _note(self.reports, original, "report_retract_failed", exc)


def _recorded(exc: BrightlineError) -> bool:
    """Whether the service already wrote this failure to the case (delivery errors are)."""
    return isinstance(exc, ReportDeliveryError)


def _note(reports: ReportService, case_id: int, action: str, exc: BaseException) -> None:
    try:
        reports.note(case_id, actor=AUTO_ACTOR, action=action, details={"error": str(exc) or type(exc).__name__})
    except Exception:  # recording the failure must not fail the decision either
        log.exception("could not record %s on case %s", action, case_id)
