"""Records of scans that matched, their match events, and aggregate counters of every scan."""

from brightline.records.service import RecordService
from brightline.records.types import MatchEvent, ScanMetadata, ScanRecord

__all__ = ["MatchEvent", "RecordService", "ScanMetadata", "ScanRecord"]
