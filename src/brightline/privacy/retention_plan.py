"""Retention planning: which units of matched data are due for deletion under the policy, and which are kept.

A *unit* is a matched scan record together with every case opened for it (the match case and its
appeal cases) and everything hanging off them. Units are found by joining scans and cases through
``cases.scan_id`` and ``cases.appeal_of``; a unit is deleted whole or not at all. Planning only
reads: the same plan is what a dry run shows and what a real run executes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from brightline.privacy.retention_policy import RetentionPolicy
from brightline.store.models import scan_records_table
from brightline.store.models_actions import (
    enforcements_table,
    evidence_table,
    user_notices_table,
    webhook_deliveries_table,
)
from brightline.store.models_cases import OPEN_STATUSES, appeals_table, cases_table, legal_holds_table
from brightline.store.models_reporting import reports_table

# Kinds of deleted things, in the order they are deleted (audit details and counts use these names).
KINDS = ("evidence", "delivery", "notice", "enforcement", "appeal", "report", "hold", "case", "scan")
_CHUNK = 500  # ids per IN (...) list, well under every driver's parameter limit
_DAY_S = 86400.0


def chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    """``ids`` in lists short enough for one IN clause."""
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def age_days(now: datetime, then: datetime) -> int:
    """Whole days from ``then`` to ``now`` (what audit records and tables show)."""
    return int((now - then).total_seconds() // _DAY_S)


@dataclass(frozen=True)
class PlanItem:
    """One unit the policy makes due: deleted by a run, or kept and why."""

    kind: str  # "case" (named by its match case) or "scan" (a matched scan that never got a case)
    id: int
    category: str  # unconfirmed, false_positive or confirmed
    jurisdiction: str  # "default" or the report jurisdictions, comma-separated
    policy: str  # the rule that made it due, e.g. "EU.max_days=365"
    age_days: int  # by the clock of that rule
    action: str  # "delete" or "keep"
    reason: str  # "due" or "kept: legal hold 4" / "kept: preserved until ..."
    case_ids: tuple[int, ...] = ()
    scan_ids: tuple[int, ...] = ()
    # What would go with it, per kind (ids), as found when planned.
    contents: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: ids, categories and reasons, never content."""
        return {
            "kind": self.kind,
            "id": self.id,
            "category": self.category,
            "jurisdiction": self.jurisdiction,
            "policy": self.policy,
            "age_days": self.age_days,
            "action": self.action,
            "reason": self.reason,
            "case_ids": list(self.case_ids),
            "scan_ids": list(self.scan_ids),
            "contents": {k: list(v) for k, v in self.contents.items() if v},
        }


@dataclass(frozen=True)
class RetentionPlan:
    """Every due unit at ``now``, with what a run would delete or keep, and how many units are not due yet."""

    now: datetime
    policy: RetentionPolicy
    items: tuple[PlanItem, ...]
    not_due: int

    @property
    def to_delete(self) -> tuple[PlanItem, ...]:
        """The items a run deletes."""
        return tuple(i for i in self.items if i.action == "delete")

    @property
    def kept(self) -> tuple[PlanItem, ...]:
        """Due items a hold or preservation keeps."""
        return tuple(i for i in self.items if i.action == "keep")

    def counts(self) -> dict[str, int]:
        """How many things of each kind the plan deletes."""
        totals = dict.fromkeys(KINDS, 0)
        for item in self.to_delete:
            for kind, ids in item.contents.items():
                totals[kind] += len(ids)
        return totals

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form of the whole plan."""
        return {
            "now": self.now.isoformat(),
            "policy": self.policy.as_dict(),
            "delete": self.counts(),
            "kept": len(self.kept),
            "not_due": self.not_due,
            "items": [i.as_dict() for i in self.items],
        }


@dataclass(frozen=True)
class _Case:
    id: int
    kind: str
    status: str
    scan_id: int | None
    appeal_of: int | None
    created_at: datetime
    decided_at: datetime | None


@dataclass
class _Unit:
    scans: dict[int, datetime] = field(default_factory=dict)
    cases: list[_Case] = field(default_factory=list)

    def created(self) -> datetime:
        return min([*self.scans.values(), *(c.created_at for c in self.cases)])

    def newest(self) -> datetime:
        return max([*self.scans.values(), *(c.created_at for c in self.cases)])

    def category(self) -> tuple[str, datetime]:
        """The unit's category and the time its clock starts."""
        if not self.cases or any(c.status in OPEN_STATUSES for c in self.cases):
            return "unconfirmed", self.newest()
        decided = max(c.decided_at or c.created_at for c in self.cases)
        statuses = {c.status for c in self.cases}
        if "appeal_upheld" in statuses or "confirmed" not in statuses:
            return "false_positive", decided
        return "confirmed", decided

    def name(self) -> tuple[str, int]:
        matches = sorted(c.id for c in self.cases if c.kind == "match") or sorted(c.id for c in self.cases)
        if matches:
            return "case", matches[0]
        return "scan", min(self.scans)


def _units(conn: Connection) -> list[_Unit]:
    """Scans and cases grouped into units (union-find over scan and appeal links)."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(node: tuple[str, int]) -> tuple[str, int]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(a: tuple[str, int], b: tuple[str, int]) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra

    s, c = scan_records_table.c, cases_table.c
    scans = {int(r.id): r.created_at for r in conn.execute(sa.select(s.id, s.created_at))}
    columns = (c.id, c.kind, c.status, c.scan_id, c.appeal_of, c.created_at, c.decided_at)
    cases = [_Case(*row) for row in conn.execute(sa.select(*columns))]
    for scan_id in scans:
        find(("s", scan_id))
    for case in cases:
        find(("c", case.id))
        if case.scan_id is not None:
            union(("c", case.id), ("s", case.scan_id))
        if case.appeal_of is not None:
            union(("c", case.id), ("c", case.appeal_of))
    units: dict[tuple[str, int], _Unit] = defaultdict(_Unit)
    for scan_id, created in scans.items():
        units[find(("s", scan_id))].scans[scan_id] = created
    for case in cases:
        units[find(("c", case.id))].cases.append(case)
    return list(units.values())


def _by_case(conn: Connection, stmt: sa.Select[Any]) -> dict[int, list[sa.Row[Any]]]:
    found: dict[int, list[sa.Row[Any]]] = defaultdict(list)
    for row in conn.execute(stmt):
        found[int(row[0])].append(row)
    return found


def unit_contents(conn: Connection, case_ids: Sequence[int], scan_ids: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """Ids of every row of a unit, per kind (read inside the caller's transaction)."""
    e, d = evidence_table.c, webhook_deliveries_table.c
    n, f, a = user_notices_table.c, enforcements_table.c, appeals_table.c
    by_scan = {"evidence": (e.id, e.scan_id), "notice": (n.id, n.scan_id), "enforcement": (f.id, f.scan_id)}
    by_case = {
        "report": (reports_table.c.id, reports_table.c.case_id),
        "hold": (legal_holds_table.c.id, legal_holds_table.c.case_id),
    }
    found: dict[str, set[int]] = defaultdict(set)
    for part in chunks(scan_ids):
        for kind, (id_col, key) in by_scan.items():
            found[kind].update(conn.execute(sa.select(id_col).where(key.in_(part))).scalars())
        found["delivery"].update(conn.execute(sa.select(d.id).where(d.scan_id.in_(part))).scalars())
    for part in chunks(case_ids):
        for kind, (id_col, key) in by_case.items():
            found[kind].update(conn.execute(sa.select(id_col).where(key.in_(part))).scalars())
        found["delivery"].update(conn.execute(sa.select(d.id).where(d.case_id.in_(part))).scalars())
        appeals = sa.select(a.id).where(sa.or_(a.case_id.in_(part), a.review_case_id.in_(part)))
        found["appeal"].update(conn.execute(appeals).scalars())
    found["case"] = set(case_ids)
    found["scan"] = set(scan_ids)
    return {kind: tuple(sorted(found[kind])) for kind in KINDS}


def protection(conn: Connection, case_ids: Sequence[int], scan_ids: Sequence[int], now: datetime) -> str:
    """Why nothing of the unit may go at ``now`` ("" when nothing protects it)."""
    h, r, e = legal_holds_table.c, reports_table.c, evidence_table.c
    holds: list[int] = []
    until: list[datetime] = []
    for part in chunks(case_ids):
        active = sa.select(h.id).where(
            h.case_id.in_(part), h.released_at.is_(None), sa.or_(h.expires_at.is_(None), h.expires_at > now)
        )
        holds.extend(conn.execute(active).scalars())
        preserved = sa.select(r.preserve_until).where(r.case_id.in_(part), r.preserve_until > now)
        until.extend(conn.execute(preserved).scalars())
    for part in chunks(scan_ids):
        kept = sa.select(e.preserve_until).where(e.scan_id.in_(part), e.deleted_at.is_(None), e.preserve_until > now)
        until.extend(conn.execute(kept).scalars())
    if holds:
        return "kept: legal hold " + ", ".join(map(str, sorted(holds)))
    if until:
        return f"kept: preserved until {max(until).isoformat(timespec='seconds')}"
    return ""


def _jurisdictions(reports: Iterable[sa.Row[Any]]) -> list[str]:
    return sorted({str(r.jurisdiction).strip().upper() for r in reports if str(r.jurisdiction).strip()})


def _due(unit: _Unit, jurisdictions: list[str], policy: RetentionPolicy, now: datetime) -> tuple[str, int] | None:
    """The rule(s) that make the unit due and its age by that rule, or None; due only under every jurisdiction."""
    category, clock = unit.category()
    created = unit.created()
    rules: list[str] = []
    ages: list[int] = []
    applicable: list[str | None] = [*jurisdictions] or [None]
    for jurisdiction in applicable:
        name, section = policy.for_jurisdiction(jurisdiction)
        days = section.days_for(category)
        if days and now - clock >= timedelta(days=days):
            rules.append(f"{name}.{category}_days={days}")
            ages.append(age_days(now, clock))
        elif section.max_days and now - created >= timedelta(days=section.max_days):
            rules.append(f"{name}.max_days={section.max_days}")
            ages.append(age_days(now, created))
        else:
            return None
    return ", ".join(dict.fromkeys(rules)), min(ages)


def build_plan(conn: Connection, policy: RetentionPolicy, now: datetime) -> RetentionPlan:
    """Read the units, decide which are due at ``now`` and whether anything keeps them."""
    units = _units(conn)
    r = reports_table.c
    reports = _by_case(conn, sa.select(r.case_id, r.jurisdiction))
    items: list[PlanItem] = []
    not_due = 0
    for unit in units:
        case_ids = sorted(int(c.id) for c in unit.cases)
        scan_ids = sorted(unit.scans)
        jurisdictions = _jurisdictions(row for case_id in case_ids for row in reports.get(case_id, []))
        due = _due(unit, jurisdictions, policy, now)
        if due is None:
            not_due += 1
            continue
        rule, age = due
        kept = protection(conn, case_ids, scan_ids, now)
        kind, ident = unit.name()
        items.append(
            PlanItem(
                kind=kind,
                id=ident,
                category=unit.category()[0],
                jurisdiction=",".join(jurisdictions) or "default",
                policy=rule,
                age_days=age,
                action="keep" if kept else "delete",
                reason=kept or "due",
                case_ids=tuple(case_ids),
                scan_ids=tuple(scan_ids),
                contents=unit_contents(conn, case_ids, scan_ids),
            )
        )
    items.sort(key=lambda i: (i.action != "delete", i.kind, i.id))
    return RetentionPlan(now=now, policy=policy, items=tuple(items), not_due=not_due)
