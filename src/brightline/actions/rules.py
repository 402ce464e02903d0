"""Match rules: which hits lead to which actions, evaluated without the database, persisted beside it.

The safety properties live in RuleEngine.evaluate: "report" only ever means "report once a human
confirms", and hits that come only from unverified list domains never block content, they send it
to review instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from brightline.actions.rulefile import RuleSet, read_rule_file, to_toml
from brightline.actions.ruletypes import (
    ACTIONS,
    DEFAULT_NOTICE,
    DomainPolicy,
    Rule,
    RuleHit,
    RuleOutcome,
    vouchers_of,
)
from brightline.errors import RuleNotFoundError, ValidationError
from brightline.store.audit import append_audit
from brightline.store.db import Database
from brightline.store.models import match_events_table, utcnow
from brightline.store.models_actions import domain_policies_table, rules_table

__all__ = [
    "ACTIONS",
    "DEFAULT_NOTICE",
    "DomainPolicy",
    "Rule",
    "RuleEngine",
    "RuleHit",
    "RuleOutcome",
    "RuleService",
    "count_account_matches",
]

_R = rules_table.c
_D = domain_policies_table.c
_M = match_events_table.c


class RuleEngine:
    """Decides what to do with one scan's hits from a fixed set of rules and domain policies (pure)."""

    def __init__(
        self,
        rules: Sequence[Rule],
        domains: Mapping[str, DomainPolicy] | None = None,
        *,
        min_independent_sources: int = 1,
    ) -> None:
        if isinstance(min_independent_sources, bool) or not isinstance(min_independent_sources, int):
            raise ValidationError("min_independent_sources must be a whole number")
        self.rules = tuple(rules)
        self.domains = dict(domains or {})
        self.min_independent_sources = max(1, min_independent_sources)

    def is_verified(self, domain: str) -> bool:
        """Whether entries of ``domain`` are trusted; domains without a policy are."""
        policy = self.domains.get(domain)
        return True if policy is None else policy.verified

    def evaluate(self, hits: Sequence[RuleHit], *, account_matches: int) -> RuleOutcome:
        """What the enabled rules ask for, given the hits and the account's matched scans counting this one."""
        if isinstance(account_matches, bool) or not isinstance(account_matches, int) or account_matches < 0:
            raise ValidationError(f"account_matches must be a whole number >= 0, got {account_matches!r}")
        block = quarantine = review = report = False
        notice: str | None = None
        webhooks: list[tuple[str, str]] = []
        fired: list[str] = []
        withheld: list[str] = []
        for rule in self.rules:
            if not rule.enabled:
                continue
            mine = [hit for hit in hits if rule.applies_to(hit)]
            if not mine:
                continue
            exact = any(hit.exact for hit in mine)
            needed = rule.min_account_matches
            if exact and rule.exact_min_account_matches is not None:
                needed = rule.exact_min_account_matches
            if account_matches < needed:
                withheld.append(
                    f"rule {rule.name!r} not applied: the account has {account_matches} matched scan(s), "
                    f"the rule needs {needed}"
                )
                continue
            fired.append(rule.name)
            verified = any(self.is_verified(hit.domain) for hit in mine)
            unverified = ", ".join(sorted({repr(hit.domain) for hit in mine}))
            # Beyond review, a hit must come from a verified domain *and* enough independent sources.
            vouched = max((vouchers_of(hit) for hit in mine if self.is_verified(hit.domain)), default=0)
            short = verified and vouched < self.min_independent_sources
            shortfall = f"entry vouched by {vouched} of {self.min_independent_sources} required sources"
            for action in rule.actions:
                if action == "block":
                    if verified and not short:
                        block = True
                    elif short:
                        review = True
                        withheld.append(f"block held for review: {shortfall}")
                    else:
                        review = True
                        withheld.append(f"block held for review: domain {unverified} is unverified")
                elif action == "quarantine":
                    # Reversible, so allowed on unverified lists while a human looks.
                    quarantine = True
                elif action == "review":
                    review = True
                elif action == "report":
                    # Never a report without review: only flag the case for reporting on confirmation.
                    report = review = True
                elif action == "webhook" and rule.webhook_url is not None:
                    webhooks.append((rule.name, rule.webhook_url))
                elif action == "notify_user":
                    if short:
                        review = True
                        withheld.append(f"notify_user held for review: {shortfall}")
                    elif not verified:
                        # Telling a user their upload matched known abuse media needs a trusted list.
                        review = True
                        withheld.append(f"notify_user held for review: domain {unverified} is unverified")
                    elif notice is None:
                        notice = rule.notice or DEFAULT_NOTICE
        all_verified = not hits or any(self.is_verified(hit.domain) for hit in hits)
        return RuleOutcome(
            block=block,
            quarantine=quarantine,
            review=review,
            report_on_confirm=report,
            notice=notice,
            webhooks=tuple(webhooks),
            fired=tuple(fired),
            withheld=tuple(withheld),
            verified=all_verified,
        )


def _rule_of(row: RowMapping) -> Rule:
    return Rule(
        name=row["name"],
        banks=tuple(json.loads(row["banks"])),
        domains=tuple(json.loads(row["domains"])),
        actions=tuple(json.loads(row["actions"])),
        min_account_matches=row["min_account_matches"],
        exact_min_account_matches=row["exact_min_account_matches"],
        max_distance=row["max_distance"],
        webhook_url=row["webhook_url"],
        notice=row["notice"],
        enabled=row["enabled"],
        description=row["description"],
    )


def _columns(rule: Rule) -> dict[str, object]:
    return {
        "name": rule.name,
        "banks": json.dumps(list(rule.banks)),
        "domains": json.dumps(list(rule.domains)),
        "actions": json.dumps(list(rule.actions)),
        "min_account_matches": rule.min_account_matches,
        "exact_min_account_matches": rule.exact_min_account_matches,
        "max_distance": rule.max_distance,
        "webhook_url": rule.webhook_url,
        "notice": rule.notice,
        "enabled": rule.enabled,
        "description": rule.description,
    }


def _upsert_rule(conn: Connection, rule: Rule) -> None:
    now = utcnow()
    # Names are unique case-insensitively in spirit: renaming "CSAM" to "csam" replaces the row.
    existing = conn.execute(sa.select(_R.id).where(sa.func.lower(_R.name) == rule.name.lower())).scalar()
    if existing is None:
        conn.execute(sa.insert(rules_table).values(**_columns(rule), created_at=now, updated_at=now))
    else:
        conn.execute(sa.update(rules_table).where(_R.id == existing).values(**_columns(rule), updated_at=now))


def _upsert_domain(conn: Connection, policy: DomainPolicy) -> None:
    now = utcnow()
    updated = conn.execute(
        sa.update(domain_policies_table).where(_D.name == policy.name).values(verified=policy.verified, updated_at=now)
    )
    if updated.rowcount == 0:
        conn.execute(
            sa.insert(domain_policies_table).values(name=policy.name, verified=policy.verified, updated_at=now)
        )


def _current(conn: Connection) -> dict[str, Rule | DomainPolicy]:
    """Every rule by name and every domain policy as ``domain:NAME``: what a change is measured against."""
    found: dict[str, Rule | DomainPolicy] = {
        row["name"]: _rule_of(row) for row in conn.execute(sa.select(rules_table)).mappings()
    }
    for name, verified in conn.execute(sa.select(_D.name, _D.verified)):
        found[f"domain:{name}"] = DomainPolicy(name=name, verified=verified)
    return found


def _audit_change(conn: Connection, actor: str, names: Sequence[str], how: str) -> None:
    """Record a rules.changed event: which rules (or ``domain:NAME`` policies) and whether by API or file."""
    append_audit(conn, actor=actor, action="rules.changed", subject="rules", details={"names": list(names), "how": how})


class RuleService:
    """Rules and list-domain policies kept in the database."""

    def __init__(self, db: Database, *, min_independent_sources: int = 1) -> None:
        self.db = db
        self.min_independent_sources = min_independent_sources

    def list_rules(self) -> list[Rule]:
        """Every rule, by name."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(sa.select(rules_table).order_by(_R.name)).mappings().all()
        return [_rule_of(row) for row in rows]

    def get_rule(self, name: str) -> Rule:
        """The rule called ``name`` (any case); RuleNotFoundError if none."""
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(rules_table).where(sa.func.lower(_R.name) == name.lower())).mappings().first()
        if row is None:
            raise RuleNotFoundError(f"no rule named {name!r}")
        return _rule_of(row)

    def put_rule(self, rule: Rule, *, actor: str = "system") -> Rule:
        """Create the rule, or replace the one of the same name."""
        with self.db.write_connection() as conn:
            _upsert_rule(conn, rule)
            _audit_change(conn, actor, [rule.name], "api")
        return rule

    def delete_rule(self, name: str, *, actor: str = "system") -> None:
        """Delete the rule called ``name``; RuleNotFoundError if none."""
        with self.db.write_connection() as conn:
            deleted = conn.execute(sa.delete(rules_table).where(sa.func.lower(_R.name) == name.lower()))
            if deleted.rowcount:
                _audit_change(conn, actor, [name], "api")
        if deleted.rowcount == 0:
            raise RuleNotFoundError(f"no rule named {name!r}")

    def domains(self) -> dict[str, DomainPolicy]:
        """Every list domain with a policy, by name (domains without one count as verified)."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(sa.select(_D.name, _D.verified).order_by(_D.name)).all()
        return {name: DomainPolicy(name=name, verified=verified) for name, verified in rows}

    def put_domain(self, policy: DomainPolicy, *, actor: str = "system") -> DomainPolicy:
        """Set a list domain's policy."""
        with self.db.write_connection() as conn:
            _upsert_domain(conn, policy)
            _audit_change(conn, actor, [f"domain:{policy.name}"], "api")
        return policy

    def delete_domain(self, name: str, *, actor: str = "system") -> None:
        """Forget a list domain's policy (it counts as verified again); a no-op when it has none."""
        with self.db.write_connection() as conn:
            deleted = conn.execute(sa.delete(domain_policies_table).where(_D.name == name.strip().lower()))
            if deleted.rowcount:
                _audit_change(conn, actor, [f"domain:{name.strip().lower()}"], "api")

    def apply(self, ruleset: RuleSet, *, replace: bool = True, actor: str = "system", how: str = "file") -> int:
        """Store a checked rule set in one transaction; ``replace`` drops rules and policies it lacks."""
        with self.db.write_connection() as conn:
            before = _current(conn)
            if replace:
                names = [rule.name.lower() for rule in ruleset.rules]
                conn.execute(sa.delete(rules_table).where(sa.func.lower(_R.name).not_in(names)))
                conn.execute(sa.delete(domain_policies_table).where(_D.name.not_in([d.name for d in ruleset.domains])))
            for rule in ruleset.rules:
                _upsert_rule(conn, rule)
            for policy in ruleset.domains:
                _upsert_domain(conn, policy)
            after = _current(conn)
            # Reloading an unchanged file (every worker does at start-up) is no change worth a record.
            changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
            if changed:
                _audit_change(conn, actor, changed, how)
        return len(ruleset.rules)

    def load_file(self, path: Path, *, replace: bool = True, actor: str = "system") -> int:
        """Load a TOML rule file, checked in full before anything is written; returns the rules loaded."""
        return self.apply(read_rule_file(path), replace=replace, actor=actor, how="file")

    def export_toml(self) -> str:
        """Every rule and domain policy as a rule file."""
        return to_toml(self.list_rules(), self.domains().values())

    def engine(self) -> RuleEngine:
        """A rule engine over the rules and policies as they are now (one consistent read)."""
        with self.db.session(snapshot=True) as session:
            conn = session.connection()
            rows = conn.execute(sa.select(rules_table).order_by(_R.name)).mappings().all()
            policies = conn.execute(sa.select(_D.name, _D.verified)).all()
        return RuleEngine(
            [_rule_of(row) for row in rows],
            {name: DomainPolicy(name=name, verified=verified) for name, verified in policies},
            min_independent_sources=self.min_independent_sources,
        )


def count_account_matches(db: Database, account_id: str | None, *, since: datetime | None = None) -> int:
    """Matched scans recorded for ``account_id`` (since ``since`` when given); 0 for no account."""
    if account_id is None:
        return 0
    if since is not None and since.tzinfo is None:
        raise ValidationError("since must be timezone-aware")
    query = sa.select(sa.func.count(sa.distinct(_M.scan_id))).where(_M.account_id == account_id)
    if since is not None:
        query = query.where(_M.created_at >= since)
    with db.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
