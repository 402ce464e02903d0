"""bank.* audit records, appended in the transaction of the change they describe, with the bank's digest after it.

Imports are recorded as ``bank.imported`` rather than ``bank.entries_added``: the import entry
point (:func:`brightline.banks.transfer.import_bank_file`) opens an :func:`importing` context
naming the actor, format and source, and the add inside it reads that context.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from brightline.banks import digest
from brightline.store.audit import append_audit

# Entry ids listed in one enable/disable record; the count says how many there were in all.
MAX_IDS_LISTED = 100
_MAX_SOURCES_LISTED = 10


@dataclass(frozen=True, slots=True)
class ImportNote:
    """Who is importing what: read by the add that an import turns into."""

    actor: str
    fmt: str
    source: str


_IMPORT: ContextVar[ImportNote | None] = ContextVar("brightline_bank_import", default=None)


@contextlib.contextmanager
def importing(*, actor: str, fmt: str, source: str) -> Iterator[ImportNote]:
    """Mark the adds made inside as one import (recorded as bank.imported by ``actor``)."""
    note = ImportNote(actor, fmt, source)
    token = _IMPORT.set(note)
    try:
        yield note
    finally:
        _IMPORT.reset(token)


def subject(bank: str) -> str:
    """The audit subject naming a bank."""
    return f"bank:{bank}"


def _append(conn: Connection, actor: str, action: str, bank: str, details: Mapping[str, Any]) -> None:
    append_audit(conn, actor=actor, action=action, subject=subject(bank), details={"bank": bank, **details})


def created(conn: Connection, *, bank_id: int, bank: str, domain: str, actor: str) -> None:
    """A new bank, with the digest of its empty contents."""
    _append(conn, actor, "bank.created", bank, {"domain": domain, **digest.init(conn, bank_id).as_details()})


def updated(conn: Connection, *, bank_id: int, bank: str, changes: Mapping[str, Any], actor: str) -> None:
    """Settings changed (threshold, domain, description, enabled)."""
    _append(conn, actor, "bank.updated", bank, {"changes": dict(changes), **digest.current(conn, bank_id).as_details()})


def renamed(conn: Connection, *, bank_id: int, old: str, new: str, actor: str) -> None:
    """A bank's new name (the subject names the new one)."""
    _append(conn, actor, "bank.renamed", new, {"old": old, "new": new, **digest.current(conn, bank_id).as_details()})


def deleted(conn: Connection, *, bank: str, entries: int, actor: str) -> None:
    """A bank deleted with its entries."""
    _append(conn, actor, "bank.deleted", bank, {"entries": entries})


def _sources(sources: Collection[str]) -> str:
    named = sorted({s for s in sources if s})
    shown = ", ".join(named[:_MAX_SOURCES_LISTED])
    return shown + (f" (+{len(named) - _MAX_SOURCES_LISTED} more)" if len(named) > _MAX_SOURCES_LISTED else "")


def added(
    conn: Connection, *, bank_id: int, bank: str, count: int, plus: digest.Delta, sources: Collection[str], actor: str
) -> None:
    """Entries added (bank.entries_added), or imported (bank.imported) inside an ``importing`` context."""
    after = digest.apply(conn, bank_id, plus=plus)
    note = _IMPORT.get()
    if note is not None:
        details = {"count": count, "source": note.source or _sources(sources), "format": note.fmt}
        _append(conn, note.actor, "bank.imported", bank, {**details, **after.as_details()})
    else:
        _append(
            conn, actor, "bank.entries_added", bank, {"count": count, "source": _sources(sources), **after.as_details()}
        )


def removed(conn: Connection, *, bank_id: int, bank: str, count: int, minus: digest.Delta, actor: str) -> None:
    """Entries deleted."""
    after = digest.apply(conn, bank_id, minus=minus)
    _append(conn, actor, "bank.entries_removed", bank, {"count": count, **after.as_details()})


def toggled(
    conn: Connection, *, bank_id: int, bank: str, enabled: bool, ids: list[int], change: digest.Delta, actor: str
) -> None:
    """Entries enabled or disabled (only those whose state changed)."""
    after = digest.apply(conn, bank_id, plus=change) if enabled else digest.apply(conn, bank_id, minus=change)
    action = "bank.entries_enabled" if enabled else "bank.entries_disabled"
    details = {"count": len(ids), "entry_ids": sorted(ids)[:MAX_IDS_LISTED], **after.as_details()}
    _append(conn, actor, action, bank, details)


def exported(conn: Connection, *, bank_id: int, bank: str, fmt: str, entries: int, actor: str) -> None:
    """Bank contents that left the system (a file or an API response)."""
    details = {"format": fmt, "entries": entries, "actor": actor, "digest": digest.current(conn, bank_id).digest}
    _append(conn, actor, "bank.exported", bank, details)
