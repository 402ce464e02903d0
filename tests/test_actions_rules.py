"""Rules: what the engine decides for hits, rule checks, the TOML rule file and the rule store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from brightline.actions.rulefile import parse_rules, to_toml
from brightline.actions.rules import (
    DEFAULT_NOTICE,
    DomainPolicy,
    Rule,
    RuleEngine,
    RuleService,
    count_account_matches,
)
from brightline.errors import RuleError, RuleNotFoundError
from brightline.review.types import CaseHit
from brightline.store.db import Database
from brightline.store.models import match_events_table, scan_records_table, utcnow

EXAMPLE = """
[domains.third_party]
verified = false

[[rules]]
name = "csam-known"
domains = ["csam"]
actions = ["block", "review", "report", "webhook"]
webhook_url = "https://platform.example/hooks/brightline"
exact_min_account_matches = 1
min_account_matches = 1

[[rules]]
name = "third-party"
domains = ["third_party"]
actions = ["block", "report", "notify_user"]
"""


def hit(domain: str = "csam", *, bank: str = "known", distance: int = 0, exact: bool = False) -> CaseHit:
    return CaseHit(bank=bank, domain=domain, category="", signal_type="pdq", entry_id=1, distance=distance, exact=exact)


def engine(*rules: Rule, unverified: tuple[str, ...] = ("third_party",)) -> RuleEngine:
    return RuleEngine(rules, {name: DomainPolicy(name, verified=False) for name in unverified})


# --- the engine ------------------------------------------------------------------------------


def test_a_verified_hit_blocks_and_reports_only_on_confirmation() -> None:
    outcome = engine(Rule(name="r", actions=("block", "report"))).evaluate([hit("csam")], account_matches=1)
    assert outcome.block and outcome.review and outcome.report_on_confirm
    assert outcome.fired == ("r",) and outcome.withheld == () and outcome.verified


def test_an_unverified_list_never_blocks_without_review() -> None:
    rule = Rule(name="r", actions=("block", "quarantine", "report", "notify_user"), notice="gone")
    outcome = engine(rule).evaluate([hit("third_party")], account_matches=5)
    assert not outcome.block
    assert outcome.review  # forced instead of the block
    assert outcome.report_on_confirm  # a report still waits for a human confirmation
    assert outcome.quarantine  # reversible, so allowed
    assert outcome.notice is None
    assert not outcome.verified
    assert any("block held for review" in w and "third_party" in w for w in outcome.withheld)
    assert any("notify_user held for review" in w for w in outcome.withheld)


def test_report_alone_still_asks_for_review() -> None:
    outcome = engine(Rule(name="r", actions=("report",))).evaluate([hit("csam")], account_matches=1)
    assert outcome.review and outcome.report_on_confirm and not outcome.block


def test_a_verified_hit_beside_an_unverified_one_acts_normally() -> None:
    outcome = engine(Rule(name="r", actions=("block",))).evaluate([hit("third_party"), hit("csam")], account_matches=1)
    assert outcome.block and outcome.verified and outcome.withheld == ()


def test_account_threshold_withholds_until_reached() -> None:
    rule = Rule(name="slow", actions=("block",), min_account_matches=3)
    below = engine(rule).evaluate([hit()], account_matches=2)
    assert not below.block and below.fired == ()
    assert below.withheld == ("rule 'slow' not applied: the account has 2 matched scan(s), the rule needs 3",)
    assert engine(rule).evaluate([hit()], account_matches=3).block


def test_exact_hits_use_their_own_threshold() -> None:
    rule = Rule(name="r", actions=("review",), min_account_matches=5, exact_min_account_matches=1)
    assert engine(rule).evaluate([hit(exact=True)], account_matches=1).review
    assert not engine(rule).evaluate([hit(exact=False)], account_matches=1).review
    plain = Rule(name="p", actions=("review",), min_account_matches=5)
    assert not engine(plain).evaluate([hit(exact=True)], account_matches=1).review


def test_rules_select_hits_by_bank_domain_and_distance() -> None:
    by_bank = Rule(name="b", actions=("review",), banks=("Known",))
    assert engine(by_bank).evaluate([hit(bank="known")], account_matches=1).fired == ("b",)  # any case
    assert engine(by_bank).evaluate([hit(bank="other")], account_matches=1).fired == ()
    by_domain = Rule(name="d", actions=("review",), domains=("ncii",))
    assert engine(by_domain).evaluate([hit("csam")], account_matches=1).fired == ()
    near = Rule(name="n", actions=("review",), max_distance=10)
    assert engine(near).evaluate([hit(distance=11)], account_matches=1).fired == ()
    assert engine(near).evaluate([hit(distance=10)], account_matches=1).fired == ("n",)
    anything = Rule(name="a", actions=("review",))
    assert engine(anything).evaluate([hit("whatever", bank="x")], account_matches=1).fired == ("a",)


def test_disabled_rules_and_no_hits_do_nothing() -> None:
    off = Rule(name="off", actions=("block",), enabled=False)
    assert not engine(off).evaluate([hit()], account_matches=1).acted
    assert engine(Rule(name="r", actions=("block",))).evaluate([], account_matches=1).as_dict()["fired"] == []


def test_webhooks_and_notices_are_collected() -> None:
    rules = (
        Rule(name="a", actions=("webhook",), webhook_url="https://a.example/h"),
        Rule(name="b", actions=("notify_user", "webhook"), webhook_url="https://b.example/h"),
        Rule(name="c", actions=("notify_user",), notice="second"),
    )
    outcome = engine(*rules).evaluate([hit()], account_matches=1)
    assert outcome.webhooks == (("a", "https://a.example/h"), ("b", "https://b.example/h"))
    assert outcome.notice == DEFAULT_NOTICE  # the first notifying rule's text
    assert outcome.as_dict()["webhooks"][0] == {"rule": "a", "url": "https://a.example/h"}


# --- checks and the rule file ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "r", "actions": ("explode",)}, "unknown action 'explode'"),
        ({"name": "r", "actions": ()}, "actions must be a non-empty list"),
        ({"name": "-r", "actions": ("review",)}, "invalid rule name"),
        ({"name": "r", "actions": ("webhook",)}, "needs webhook_url"),
        ({"name": "r", "actions": ("webhook",), "webhook_url": "ftp://x"}, "http:// or https://"),
        ({"name": "r", "actions": ("review",), "webhook_url": "https://x.example"}, "no 'webhook'"),
        ({"name": "r", "actions": ("review",), "min_account_matches": 0}, "min_account_matches"),
        ({"name": "r", "actions": ("review",), "domains": ("Not A Domain",)}, "invalid list domain"),
        ({"name": "r", "actions": ("review",), "max_distance": True}, "max_distance"),
    ],
)
def test_bad_rules_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(RuleError, match=message):
        Rule(**kwargs)  # type: ignore[arg-type]


def test_the_readme_example_parses() -> None:
    ruleset = parse_rules(EXAMPLE)
    assert [r.name for r in ruleset.rules] == ["csam-known", "third-party"]
    assert ruleset.rules[0].actions == ("block", "review", "report", "webhook")
    assert ruleset.domains == (DomainPolicy("third_party", verified=False),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[rules]]\nname = "x"\nactions = ["review"]\ncolour = "red"\n', "rule 'x': unknown key 'colour'"),
        ('[[rules]]\nname = "x"\nactions = ["review", "nuke"]\n', "rule 'x': unknown action 'nuke'"),
        ('[[rules]]\nactions = ["review"]\n', "missing key 'name'"),
        ('[[rules]]\nname = "x"\n', "rule 'x': missing key 'actions'"),
        ('[[rules]]\nname = "x"\nactions = "review"\n', "rule 'x': actions must be a list"),
        ('[[rules]]\nname = "x"\nactions = ["review"]\n[[rules]]\nname = "X"\nactions = ["review"]\n', "twice"),
        ("[domains.t]\nverified = false\ntrusted = 1\n", "domain 't': unknown key 'trusted'"),
        ('[[rules]]\nname = "x"\nactions = ["review"]\n[settings]\n', "unknown top-level key 'settings'"),
        ("rules = [", "not valid TOML"),
    ],
)
def test_bad_rule_files_name_the_rule_and_key(text: str, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_rules(text)


def test_export_reads_back_unchanged() -> None:
    ruleset = parse_rules(EXAMPLE)
    odd = Rule(
        name="odd",
        actions=("notify_user",),
        notice='Quote " backslash \\ newline \n tab \t bell \x07 é',
        description="d",
        max_distance=0,
        enabled=False,
    )
    again = parse_rules(to_toml((*ruleset.rules, odd), ruleset.domains))
    assert again.rules == (*ruleset.rules, odd)
    assert again.domains == ruleset.domains


# --- the rule store ----------------------------------------------------------------------------


def test_rules_persist_and_replace_by_name(db: Database) -> None:
    service = RuleService(db)
    service.put_rule(Rule(name="one", actions=("review",)))
    service.put_rule(Rule(name="One", actions=("block",), banks=("b",)))
    assert service.list_rules() == [Rule(name="One", actions=("block",), banks=("b",))]
    assert service.get_rule("ONE").actions == ("block",)
    service.delete_rule("one")
    with pytest.raises(RuleNotFoundError):
        service.get_rule("one")
    with pytest.raises(RuleNotFoundError):
        service.delete_rule("one")


def test_load_file_replaces_or_merges(db: Database, tmp_path: Path) -> None:
    service = RuleService(db)
    service.put_rule(Rule(name="old", actions=("review",)))
    path = tmp_path / "rules.toml"
    path.write_text(EXAMPLE)
    assert service.load_file(path, replace=False) == 2
    assert [r.name for r in service.list_rules()] == ["csam-known", "old", "third-party"]
    assert service.load_file(path) == 2
    assert [r.name for r in service.list_rules()] == ["csam-known", "third-party"]
    assert service.domains() == {"third_party": DomainPolicy("third_party", verified=False)}
    assert parse_rules(service.export_toml()) == parse_rules(EXAMPLE)
    outcome = service.engine().evaluate([hit("third_party")], account_matches=1)
    assert not outcome.block and outcome.review


def test_a_bad_file_changes_nothing(db: Database, tmp_path: Path) -> None:
    service = RuleService(db)
    service.put_rule(Rule(name="keep", actions=("review",)))
    path = tmp_path / "rules.toml"
    path.write_text(EXAMPLE + '\n[[rules]]\nname = "bad"\nactions = ["review"]\nwebhook = true\n')
    with pytest.raises(RuleError, match="rule 'bad': unknown key 'webhook'"):
        service.load_file(path)
    assert [r.name for r in service.list_rules()] == ["keep"]
    with pytest.raises(RuleError, match="cannot read"):
        service.load_file(tmp_path / "missing.toml")


def test_domain_policies_can_be_set_and_removed(db: Database) -> None:
    service = RuleService(db)
    service.put_domain(DomainPolicy("Third_Party", verified=False))
    service.put_domain(DomainPolicy("third_party", verified=False))
    assert service.engine().is_verified("third_party") is False
    service.delete_domain("third_party")
    assert service.engine().is_verified("third_party") is True


def _record_scan(db: Database, account: str | None, *, hits: int = 1, age: timedelta = timedelta(0)) -> int:
    when = utcnow() - age
    with db.write_connection() as conn:
        scan_id = conn.execute(
            sa.insert(scan_records_table)
            .values(created_at=when, account_id=account, content_type="image")
            .returning(scan_records_table.c.id)
        ).scalar_one()
        for entry in range(hits):
            conn.execute(
                sa.insert(match_events_table).values(
                    scan_id=scan_id,
                    created_at=when,
                    bank_name="b",
                    entry_id=entry,
                    signal_type="pdq",
                    distance=0,
                    variant="plain",
                    account_id=account,
                )
            )
    return int(scan_id)


def test_account_matches_count_scans_not_hits(db: Database) -> None:
    _record_scan(db, "acct", hits=3)
    _record_scan(db, "acct", age=timedelta(days=10))
    _record_scan(db, "other")
    assert count_account_matches(db, "acct") == 2
    assert count_account_matches(db, "acct", since=utcnow() - timedelta(days=1)) == 1
    assert count_account_matches(db, None) == 0
    assert count_account_matches(db, "nobody") == 0
