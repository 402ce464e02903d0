"""Enforcement: blocks and quarantines applied to content because of a match, and their reversal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from brightline.actions.notices import MAX_RULES_CHARS, check_identifier
from brightline.errors import ValidationError
from brightline.store.audit import append_audit
from brightline.store.db import Database
from brightline.store.models import utcnow
from brightline.store.models_actions import enforcements_table

ENFORCEMENT_ACTIONS = ("block", "quarantine")
_F = enforcements_table.c


@dataclass(frozen=True)
class Enforcement:
    """A block or quarantine, active until ``reversed_at`` is set."""

    id: int
    scan_id: int | None
    content_id: str | None
    account_id: str | None
    action: str
    rule: str
    actor: str
    created_at: datetime
    reversed_at: datetime | None
    reversed_by: str | None
    reverse_reason: str | None

    @property
    def active(self) -> bool:
        """Whether the enforcement still stands."""
        return self.reversed_at is None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in ((n, getattr(self, n)) for n in self.__dataclass_fields__)
        }
        out["active"] = self.active
        return out


def _enforcement(row: RowMapping) -> Enforcement:
    return Enforcement(**{name: row[name] for name in Enforcement.__dataclass_fields__})


def _actor(value: str, name: str = "actor", limit: int = 128) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ValidationError(f"{name} must be 1 to {limit} characters")
    return value


class EnforcementService:
    """Applies, lists and reverses enforcement on content."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def apply(
        self,
        *,
        scan_id: int | None,
        content_id: str | None,
        account_id: str | None,
        action: str,
        rule: str,
        actor: str,
    ) -> Enforcement:
        """Record a block or quarantine; the active one of the same scan and action if it exists already."""
        if action not in ENFORCEMENT_ACTIONS:
            raise ValidationError(f"enforcement action must be one of {', '.join(ENFORCEMENT_ACTIONS)}, got {action!r}")
        if scan_id is None and content_id is None:
            raise ValidationError("enforcement needs a scan_id or a content_id")
        values = {
            "scan_id": scan_id,
            "content_id": check_identifier("content_id", content_id),
            "account_id": check_identifier("account_id", account_id),
            "action": action,
            "rule": _actor(rule, "rule", MAX_RULES_CHARS),
            "actor": _actor(actor),
            "created_at": utcnow(),
        }
        with self.db.write_connection() as conn:
            same = sa.select(enforcements_table).where(_F.action == action, _F.reversed_at.is_(None))
            same = same.where(_F.scan_id == scan_id) if scan_id is not None else same.where(_F.content_id == content_id)
            existing = conn.execute(same.order_by(_F.id).limit(1)).mappings().first()
            if existing is not None:
                return _enforcement(existing)
            new_id = conn.execute(sa.insert(enforcements_table).values(**values).returning(_F.id)).scalar_one()
            append_audit(
                conn,
                actor=str(values["actor"]),
                action="enforcement.applied",
                subject=f"scan:{scan_id}" if scan_id is not None else f"content:{values['content_id']}",
                details={"scan_id": scan_id, "action": action},
            )
            row = conn.execute(sa.select(enforcements_table).where(_F.id == new_id)).mappings().one()
        return _enforcement(row)

    def active(
        self, *, content_id: str | None = None, account_id: str | None = None, scan_id: int | None = None
    ) -> list[Enforcement]:
        """Enforcements still in force, oldest first, for some content, account and/or scan (or all)."""
        query = sa.select(enforcements_table).where(_F.reversed_at.is_(None)).order_by(_F.id)
        if scan_id is not None:
            query = query.where(_F.scan_id == scan_id)
        if content_id is not None:
            query = query.where(_F.content_id == content_id)
        if account_id is not None:
            query = query.where(_F.account_id == account_id)
        with self.db.engine.connect() as conn:
            return [_enforcement(row) for row in conn.execute(query).mappings()]

    def for_scan(self, scan_id: int) -> list[Enforcement]:
        """Every enforcement of one scan, active or reversed, oldest first."""
        query = sa.select(enforcements_table).where(_F.scan_id == scan_id).order_by(_F.id)
        with self.db.engine.connect() as conn:
            return [_enforcement(row) for row in conn.execute(query).mappings()]

    def reverse(
        self, *, scan_id: int | None = None, content_id: str | None = None, actor: str, reason: str
    ) -> list[Enforcement]:
        """Lift the active enforcements of a scan or of some content (e.g. an upheld appeal); returns them."""
        if scan_id is None and content_id is None:
            raise ValidationError("reverse needs a scan_id or a content_id")
        _actor(actor)
        _actor(reason, "reason", 1000)
        now = utcnow()
        condition: sa.ColumnElement[bool] = _F.reversed_at.is_(None)
        if scan_id is not None:
            condition = sa.and_(condition, _F.scan_id == scan_id)
        if content_id is not None:
            condition = sa.and_(condition, _F.content_id == content_id)
        with self.db.write_connection() as conn:
            ids = conn.execute(sa.select(_F.id).where(condition).order_by(_F.id)).scalars().all()
            if not ids:
                return []
            conn.execute(
                sa.update(enforcements_table)
                .where(_F.id.in_(ids))
                .values(reversed_at=now, reversed_by=actor, reverse_reason=reason)
            )
            rows = conn.execute(sa.select(enforcements_table).where(_F.id.in_(ids)).order_by(_F.id)).mappings().all()
            scans = {row["scan_id"] for row in rows}
            audited_scan = scan_id if scan_id is not None else (scans.pop() if len(scans) == 1 else None)
            append_audit(
                conn,
                actor=actor,
                action="enforcement.reversed",
                subject=f"scan:{audited_scan}" if audited_scan is not None else f"content:{content_id}",
                details={"scan_id": audited_scan, "actions": sorted({row["action"] for row in rows})},
                at=now,
            )
        return [_enforcement(row) for row in rows]
