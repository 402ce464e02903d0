"""What the item view shows beside the media: the scan's metadata and every hit it had."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from brightline.store.db import Database
from brightline.store.models import entries_table, match_events_table, scan_records_table

_S = scan_records_table.c
_M = match_events_table.c
_E = entries_table.c


@dataclass(frozen=True)
class HitRow:
    """One recorded match of the scan, with the entry's category and domain if the entry still exists."""

    bank: str
    entry_id: int
    signal_type: str
    distance: int
    variant: str
    category: str
    domain: str


@dataclass(frozen=True)
class ScanDetails:
    """The scan a case came from: caller metadata and its hits, closest first."""

    id: int
    content_id: str | None
    account_id: str | None
    source: str | None
    content_type: str
    context: dict[str, Any]
    hits: tuple[HitRow, ...]


def scan_details(db: Database, scan_id: int | None) -> ScanDetails | None:
    """The scan's metadata and hits, or None when the case has no (or no longer a) scan."""
    if scan_id is None:
        return None
    with db.session() as session:
        scan = session.execute(sa.select(scan_records_table).where(_S.id == scan_id)).first()
        if scan is None:
            return None
        found = session.execute(
            sa.select(_M.bank_name, _M.entry_id, _M.signal_type, _M.distance, _M.variant, _E.category, _E.domain)
            .join_from(match_events_table, entries_table, _E.id == _M.entry_id, isouter=True)
            .where(_M.scan_id == scan_id)
            .order_by(_M.distance, _M.id)
        ).all()
    try:
        context = json.loads(scan.context) if scan.context else {}
    except ValueError:
        context = {}
    return ScanDetails(
        id=scan.id,
        content_id=scan.content_id,
        account_id=scan.account_id,
        source=scan.source,
        content_type=scan.content_type,
        context=context if isinstance(context, dict) else {},
        hits=tuple(
            HitRow(
                bank=r.bank_name,
                entry_id=r.entry_id,
                signal_type=r.signal_type,
                distance=r.distance,
                variant=r.variant,
                category=r.category or "",
                domain=r.domain or "",
            )
            for r in found
        ),
    )
