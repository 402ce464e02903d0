"""User redress: appeals against actions taken on a match, and the reversal of upheld ones."""

from brightline.appeals.service import AppealInfo, AppealService, ReportRetractor

__all__ = ["AppealInfo", "AppealService", "ReportRetractor"]
