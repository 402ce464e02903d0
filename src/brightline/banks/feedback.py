"""False-positive feedback per source: the entries of one list owner that reviewers found wrong, to send back.

An entry is the source's when the source has an ``entry_sources`` row for it (active or withdrawn)
or is the entry's own ``bank_entries.source``. A false-positive decision is a match case decided
``false_positive`` or an appeal upheld against one; an appeal and the case it reversed count once.
Entries deleted since cannot be named and are left out.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from brightline.banks.provenance import source_name
from brightline.errors import ValidationError
from brightline.store.db import Database
from brightline.store.models import banks_table, entries_table
from brightline.store.models_cases import cases_table
from brightline.store.models_provenance import entry_sources_table

FEEDBACK_FORMATS = ("csv", "jsonl")
FALSE_POSITIVE_STATUSES = ("false_positive", "appeal_upheld")
_C = cases_table.c
_E = entries_table.c
_B = banks_table.c
_S = entry_sources_table.c
_FIELDS = ("entry_id", "bank", "signal_type", "value", "remote_id", "false_positives", "first_at", "last_at")


@dataclass(frozen=True)
class FeedbackItem:
    """One entry of the source that reviewers marked a false positive, and how often and when."""

    entry_id: int
    bank: str
    signal_type: str
    value: str
    remote_id: str | None
    false_positives: int
    first_at: datetime
    last_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the export's fields)."""
        return {
            "entry_id": self.entry_id,
            "bank": self.bank,
            "signal_type": self.signal_type,
            "value": self.value,
            "remote_id": self.remote_id,
            "false_positives": self.false_positives,
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
        }


def false_positive_feedback(db: Database, source: str, *, since: datetime | None = None) -> list[FeedbackItem]:
    """The source's entries decided false positive (at or after ``since``), by entry id."""
    name = source_name(source)
    if since is not None and since.tzinfo is None:
        raise ValidationError("since must be timezone-aware")
    decided = sa.func.coalesce(_C.decided_at, _C.updated_at)
    # An upheld appeal names the case it reversed (which is marked false_positive too): count that once.
    original = sa.func.coalesce(_C.appeal_of, _C.id)
    fp = (
        sa.select(
            _C.entry_id.label("entry_id"),
            sa.func.count(sa.distinct(original)).label("n"),
            sa.func.min(decided).label("first_at"),
            sa.func.max(decided).label("last_at"),
        )
        .where(_C.status.in_(FALSE_POSITIVE_STATUSES), _C.entry_id.is_not(None))
        .group_by(_C.entry_id)
    )
    if since is not None:
        fp = fp.where(decided >= since)
    counted = fp.subquery()
    mine = sa.and_(_S.entry_id == _E.id, _S.source == name)
    stmt = (
        sa.select(
            _E.id, _B.name, _E.signal_type, _E.value, _S.remote_id, counted.c.n, counted.c.first_at, counted.c.last_at
        )
        .select_from(counted.join(entries_table, _E.id == counted.c.entry_id).join(banks_table, _B.id == _E.bank_id))
        .outerjoin(entry_sources_table, mine)
        .where(sa.or_(_S.id.is_not(None), sa.func.lower(sa.func.trim(_E.source)) == name))
        .order_by(_E.id)
    )
    with db.session(snapshot=True) as session:
        rows = session.connection().execute(stmt).all()
    # first/last come from an aggregate: SQLite hands those back as text, not through the column type.
    return [FeedbackItem(int(r[0]), r[1], r[2], r[3], r[4], int(r[5]), _moment(r[6]), _moment(r[7])) for r in rows]


def _moment(value: object) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise ValidationError(f"a false-positive case has no usable decision time ({value!r})")
    # Stored as UTC; SQLite keeps no zone.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def render_feedback(items: Iterable[FeedbackItem], fmt: str = "csv") -> str:
    """The items as CSV (with a header row) or JSON Lines."""
    if fmt not in FEEDBACK_FORMATS:
        raise ValidationError(f"unknown feedback format {fmt!r} (use {', '.join(FEEDBACK_FORMATS)})")
    out = io.StringIO()
    if fmt == "jsonl":
        for item in items:
            out.write(json.dumps(item.as_dict(), ensure_ascii=False) + "\n")
        return out.getvalue()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_FIELDS)
    for item in items:
        row = item.as_dict()
        writer.writerow(["" if row[f] is None else row[f] for f in _FIELDS])
    return out.getvalue()
