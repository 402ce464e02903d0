"""Build the report service from settings: destination, evidence store, reporter and preservation."""

from __future__ import annotations

import httpx

from brightline.actions.evidence import EvidenceStore
from brightline.actions.keys import key_provider_from_settings
from brightline.errors import ConfigurationError
from brightline.reporting.cybertipline import CyberTiplineClient, base_url_for
from brightline.reporting.destinations import CyberTiplineDestination, FileDropDestination, ReportDestination
from brightline.reporting.ncmec_xml import Reporter
from brightline.reporting.service import ReportService
from brightline.settings import Settings
from brightline.store.db import Database


def destination_from_settings(
    settings: Settings, *, transport: httpx.BaseTransport | None = None, require_credentials: bool = True
) -> ReportDestination:
    """The configured destination; ConfigurationError when the CyberTipline has no credentials."""
    if settings.report_destination == "file_drop":
        folder = settings.report_drop_dir or settings.data_dir / "reports"
        return FileDropDestination(folder)
    if require_credentials and not (settings.ncmec_username and settings.ncmec_password):
        raise ConfigurationError("set BRIGHTLINE_NCMEC_USERNAME and BRIGHTLINE_NCMEC_PASSWORD to report to NCMEC")
    url = base_url_for(settings.ncmec_environment, settings.ncmec_url)
    client = CyberTiplineClient(url, settings.ncmec_username, settings.ncmec_password, transport=transport)
    return CyberTiplineDestination(client)


def report_service_from_settings(
    db: Database,
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    require_credentials: bool = True,
) -> ReportService:
    """A ReportService wired as the settings say (evidence from the encrypted evidence store)."""
    destination = destination_from_settings(settings, transport=transport, require_credentials=require_credentials)
    return ReportService(
        db,
        destination=destination,
        evidence=EvidenceStore(db, settings.effective_evidence_dir, key_provider_from_settings(settings)),
        reporter=Reporter(
            settings.ncmec_reporter_first_name, settings.ncmec_reporter_last_name, settings.ncmec_reporter_email
        ),
        preservation_days=settings.preservation_days,
        jurisdiction_days=settings.preservation_days_by_jurisdiction,
    )
