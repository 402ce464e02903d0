"""Banks: named hash lists, their entries, import/export, and change feeds for index sync."""

from brightline.banks.formats import FORMATS, ImportReport, detect_format, export_bank, import_file
from brightline.banks.service import UNSET, BankService
from brightline.banks.types import AddResult, BankInfo, Changes, EntryInfo, EntryInput, EntryRow
from brightline.banks.validation import KNOWN_DOMAINS

__all__ = [
    "FORMATS",
    "KNOWN_DOMAINS",
    "UNSET",
    "AddResult",
    "BankInfo",
    "BankService",
    "Changes",
    "EntryInfo",
    "EntryInput",
    "EntryRow",
    "ImportReport",
    "detect_format",
    "export_bank",
    "import_file",
]
