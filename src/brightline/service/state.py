"""Everything one app instance holds, built by create_app() from Settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import Request

from brightline.actions import EnforcementService, EvidenceStore, NoticeService, RuleService, WebhookService
from brightline.appeals import AppealService
from brightline.auth import ApiKeyService, RateLimiter
from brightline.auth.reviewers import ReviewerService
from brightline.banks import BankService
from brightline.records import RecordService
from brightline.reporting.holds import HoldService
from brightline.reporting.service import ReportService
from brightline.review.intake import Intake
from brightline.review.queue import ReviewQueue
from brightline.service.freshness import IndexKeeper
from brightline.service.metrics import Metrics
from brightline.service.wiring import AfterMatch
from brightline.settings import Settings
from brightline.signals.hashing import HashOptions
from brightline.store.db import Database


@dataclass
class ServiceState:
    """The app's database, services, index and metrics (one per worker process)."""

    settings: Settings
    db: Database
    banks: BankService
    keys: ApiKeyService
    records: RecordService
    keeper: IndexKeeper
    limiter: RateLimiter
    metrics: Metrics
    reviewers: ReviewerService
    queue: ReviewQueue
    evidence: EvidenceStore | None
    # Rules, enforcement, notices, webhooks, reports, holds, appeals and the intake that drives them.
    after: AfterMatch

    @property
    def rules(self) -> RuleService:
        """Match rules and list-domain policies."""
        return self.after.rules

    @property
    def notices(self) -> NoticeService:
        """Notices for users that notify_user rules produced."""
        return self.after.notices

    @property
    def enforcement(self) -> EnforcementService:
        """Blocks and quarantines in force."""
        return self.after.enforcement

    @property
    def webhooks(self) -> WebhookService:
        """Signed webhook deliveries to the platform."""
        return self.after.webhooks

    @property
    def reports(self) -> ReportService:
        """Reports to NCMEC's CyberTipline (or the configured destination)."""
        return self.after.reports

    @property
    def holds(self) -> HoldService:
        """Legal holds on cases."""
        return self.after.holds

    @property
    def appeals(self) -> AppealService:
        """User appeals and their reversal."""
        return self.after.appeals

    @property
    def intake(self) -> Intake:
        """Rules and actions for a freshly recorded match."""
        return self.after.intake

    def hash_options(self, *, exact: bool = False, dihedral: bool | None = None, known: bool = False) -> HashOptions:
        """Hashing options from settings; dihedral variants follow the matching setting by default.

        ``known``: media going into a bank (region hashes with crops, if configured); else a
        query, which computes its region parts only when some bank holds region hashes.
        """
        use_dihedral = self.settings.match_dihedral if dihedral is None else dihedral
        if known:
            regions: Literal["none", "query", "known"] = "known"
        else:
            regions = "query" if self.keeper.wants_regions else "none"
        return HashOptions.from_settings(self.settings, exact=exact, dihedral=use_dihedral, regions=regions)


def get_state(request: Request) -> ServiceState:
    """The ServiceState create_app() attached to this app."""
    state = getattr(request.app.state, "brightline", None)
    if not isinstance(state, ServiceState):
        raise RuntimeError("brightline service state missing: build the app with create_app()")
    return state
