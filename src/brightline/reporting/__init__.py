"""Reports of confirmed cases to NCMEC's CyberTipline and other destinations; preservation and legal holds."""

from brightline.reporting.cybertipline import (
    PRODUCTION_URL,
    TEST_URL,
    ApiResponse,
    CyberTiplineClient,
    FinishResult,
    base_url_for,
)
from brightline.reporting.destinations import (
    CyberTiplineDestination,
    DeliveryProgress,
    FileDropDestination,
    Receipt,
    ReportDestination,
    ReportFile,
    ReportPackage,
)
from brightline.reporting.fake import FakeCyberTipline
from brightline.reporting.holds import HoldService
from brightline.reporting.listeners import ReportOnConfirm, RetractOnReversal
from brightline.reporting.ncmec_xml import FileReport, IncidentReport, IpCapture, ReportedUser, Reporter
from brightline.reporting.service import EvidenceSource, ReportService, preservation_days_for
from brightline.reporting.types import Hold, Preservation, ReportInfo

__all__ = [
    "PRODUCTION_URL",
    "TEST_URL",
    "ApiResponse",
    "CyberTiplineClient",
    "CyberTiplineDestination",
    "DeliveryProgress",
    "EvidenceSource",
    "FakeCyberTipline",
    "FileDropDestination",
    "FileReport",
    "FinishResult",
    "Hold",
    "HoldService",
    "IncidentReport",
    "IpCapture",
    "Preservation",
    "Receipt",
    "ReportDestination",
    "ReportFile",
    "ReportInfo",
    "ReportOnConfirm",
    "ReportPackage",
    "ReportService",
    "ReportedUser",
    "Reporter",
    "RetractOnReversal",
    "base_url_for",
    "preservation_days_for",
]
