"""The audited ways bank contents come in and go out: file imports (bank.imported) and exports (bank.exported).

Hash lists are confidential: every export, to a file or an API response, leaves an audit record
naming who took how many entries of which bank.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from brightline.banks import audit_events
from brightline.banks.formats import ImportReport, detect_format, export_bank, import_file
from brightline.banks.service import BankService
from brightline.errors import BankNotFoundError
from brightline.store.models import banks_table

_B = banks_table.c


def import_bank_file(
    service: BankService,
    bank_name: str,
    path: str | Path,
    fmt: str | None = None,
    default_signal_type: str = "pdq",
    source: str | None = None,
    *,
    actor: str = "system",
) -> ImportReport:
    """Import a hash-list file as import_file does, recorded as one bank.imported by ``actor``."""
    name = detect_format(path, fmt)
    with audit_events.importing(actor=actor, fmt=name, source=(source or "").strip()):
        return import_file(service, bank_name, path, fmt=name, default_signal_type=default_signal_type, source=source)


def record_export(service: BankService, bank_name: str, *, fmt: str, entries: int, actor: str) -> None:
    """Append bank.exported for ``entries`` entries of a bank that left the system as ``fmt``."""
    with service.db.write_connection() as conn:
        row = conn.execute(sa.select(_B.id, _B.name).where(_B.name_key == bank_name.lower())).first()
        if row is None:
            raise BankNotFoundError(f"no bank named {bank_name!r}")
        audit_events.exported(conn, bank_id=row.id, bank=row.name, fmt=fmt, entries=entries, actor=actor)


def export_bank_file(
    service: BankService,
    bank_name: str,
    path: str | Path,
    fmt: str | None = None,
    *,
    signal_type: str | None = None,
    actor: str = "system",
) -> int:
    """Write a bank's entries to a file as export_bank does, then record bank.exported; returns the count."""
    name = detect_format(path, fmt)
    count = export_bank(service, bank_name, path, name, signal_type=signal_type)
    try:
        record_export(service, bank_name, fmt=name, entries=count, actor=actor)
    except BaseException:
        # No export without its record: take the file back.
        Path(path).unlink(missing_ok=True)
        raise
    return count
