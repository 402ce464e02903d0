"""Value types of match rules: a rule, a list domain's trust policy, and what the rules decided for one scan."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from brightline.banks.validation import normalise_domain, validate_bank_name
from brightline.errors import RuleError, ValidationError

# What a rule can ask for. "report" means "report once a human confirms": it never reports by itself.
ACTIONS = ("block", "quarantine", "review", "webhook", "notify_user", "report")
# Shown to the user when a notify_user rule sets no text of its own.
DEFAULT_NOTICE = "This content was removed because it matched a list of known harmful media."
_RULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_NOTICE_CHARS = 2000
MAX_DESCRIPTION_CHARS = 2000
MAX_URL_CHARS = 2000


class RuleHit(Protocol):
    """What the rules read of one hit (review.types.CaseHit has these fields)."""

    @property
    def bank(self) -> str:
        """Name of the bank the entry is in."""

    @property
    def domain(self) -> str:
        """List domain of the entry (csam, ncii, third_party...)."""

    @property
    def distance(self) -> int:
        """Match distance (0 for exact-hash signals)."""

    @property
    def exact(self) -> bool:
        """Whether the hit is an exact file-hash match."""


def vouchers_of(hit: RuleHit) -> int:
    """Independent sources vouching for the hit's entry: its ``vouchers`` attribute, or 1 for hits without one."""
    value = getattr(hit, "vouchers", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _int_field(rule: str, key: str, value: object, *, minimum: int, optional: bool) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RuleError(f"rule {rule!r}: {key} must be a whole number >= {minimum}, got {value!r}")
    return value


def _text_field(rule: str, key: str, value: object, *, limit: int, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise RuleError(f"rule {rule!r}: {key} must be text of at most {limit} characters")
    return value


def _names(rule: str, key: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise RuleError(f"rule {rule!r}: {key} must be a list of names, got {value!r}")
    out: list[str] = []
    for item in value:
        try:
            name = validate_bank_name(item) if key == "banks" else normalise_domain(item)
        except ValidationError as exc:
            raise RuleError(f"rule {rule!r}: {key}: {exc}") from None
        if name not in out:
            out.append(name)
    return tuple(out)


def _actions(rule: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise RuleError(f"rule {rule!r}: actions must be a non-empty list of {', '.join(ACTIONS)}")
    out: list[str] = []
    for item in value:
        if item not in ACTIONS:
            raise RuleError(f"rule {rule!r}: unknown action {item!r} (use {', '.join(ACTIONS)})")
        if item not in out:
            out.append(item)
    return tuple(out)


def _webhook_url(rule: str, url: object, actions: tuple[str, ...]) -> str | None:
    if url is None:
        if "webhook" in actions:
            raise RuleError(f"rule {rule!r}: the webhook action needs webhook_url")
        return None
    text = _text_field(rule, "webhook_url", url, limit=MAX_URL_CHARS, optional=False)
    if text is None or re.fullmatch(r"https?://[^\s/?#]+[^\s]*", text) is None:
        raise RuleError(f"rule {rule!r}: webhook_url must be an http:// or https:// URL, got {url!r}")
    if "webhook" not in actions:
        raise RuleError(f"rule {rule!r}: webhook_url is set but actions has no 'webhook'")
    return text


@dataclass(frozen=True)
class Rule:
    """What to do when a scan hits entries of some banks or list domains; checked when built."""

    name: str
    actions: tuple[str, ...]
    banks: tuple[str, ...] = ()  # empty: any bank
    domains: tuple[str, ...] = ()  # empty: any list domain
    # Fire only once the account has this many matched scans, counting this one.
    min_account_matches: int = 1
    # The same threshold for exact file-hash hits; None: min_account_matches applies to them too.
    exact_min_account_matches: int | None = None
    max_distance: int | None = None  # only hits at most this far
    webhook_url: str | None = None
    notice: str | None = None  # text for notify_user; None: DEFAULT_NOTICE
    enabled: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or _RULE_NAME.fullmatch(self.name) is None:
            raise RuleError(
                f"invalid rule name {self.name!r}: use 1-64 letters, digits, '-', '_' or '.', "
                "starting with a letter or digit"
            )
        name = self.name
        actions = _actions(name, self.actions)
        # Frozen: normalised values are set through object.__setattr__ while the instance is being built.
        object.__setattr__(self, "actions", actions)
        object.__setattr__(self, "banks", _names(name, "banks", self.banks))
        object.__setattr__(self, "domains", _names(name, "domains", self.domains))
        _int_field(name, "min_account_matches", self.min_account_matches, minimum=1, optional=False)
        _int_field(name, "exact_min_account_matches", self.exact_min_account_matches, minimum=1, optional=True)
        _int_field(name, "max_distance", self.max_distance, minimum=0, optional=True)
        object.__setattr__(self, "webhook_url", _webhook_url(name, self.webhook_url, actions))
        notice = _text_field(name, "notice", self.notice, limit=MAX_NOTICE_CHARS, optional=True)
        if notice is not None and not notice.strip():
            raise RuleError(f"rule {name!r}: notice must not be blank")
        if not isinstance(self.enabled, bool):
            raise RuleError(f"rule {name!r}: enabled must be true or false, got {self.enabled!r}")
        _text_field(name, "description", self.description, limit=MAX_DESCRIPTION_CHARS, optional=False)

    def applies_to(self, hit: RuleHit) -> bool:
        """Whether ``hit`` is one this rule is about (bank, list domain and distance)."""
        if self.banks and hit.bank.casefold() not in {b.casefold() for b in self.banks}:
            return False
        if self.domains and hit.domain not in self.domains:
            return False
        return self.max_distance is None or hit.distance <= self.max_distance

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the keys of a rule file entry)."""
        return {
            "name": self.name,
            "banks": list(self.banks),
            "domains": list(self.domains),
            "actions": list(self.actions),
            "min_account_matches": self.min_account_matches,
            "exact_min_account_matches": self.exact_min_account_matches,
            "max_distance": self.max_distance,
            "webhook_url": self.webhook_url,
            "notice": self.notice,
            "enabled": self.enabled,
            "description": self.description,
        }


@dataclass(frozen=True)
class DomainPolicy:
    """How far a list domain's entries are trusted: unverified ones never block or report unreviewed."""

    name: str
    verified: bool = True

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "name", normalise_domain(self.name))
        except ValidationError as exc:
            raise RuleError(f"domain policy: {exc}") from None
        if not isinstance(self.verified, bool):
            raise RuleError(f"domain {self.name!r}: verified must be true or false, got {self.verified!r}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "verified": self.verified}


@dataclass(frozen=True)
class RuleOutcome:
    """What the rules decided for one scan's hits; ``withheld`` says what was not done and why."""

    block: bool = False
    quarantine: bool = False
    review: bool = False
    report_on_confirm: bool = False  # report once a human confirms; never before
    notice: str | None = None
    webhooks: tuple[tuple[str, str], ...] = ()  # (rule name, url)
    fired: tuple[str, ...] = ()  # names of the rules that applied
    withheld: tuple[str, ...] = field(default=())
    verified: bool = True  # False when every hit is from an unverified list domain

    @property
    def acted(self) -> bool:
        """Whether any rule asked for anything."""
        return bool(self.fired)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as the scan response carries it."""
        return {
            "block": self.block,
            "quarantine": self.quarantine,
            "review": self.review,
            "report_on_confirm": self.report_on_confirm,
            "notice": self.notice,
            "webhooks": [{"rule": rule, "url": url} for rule, url in self.webhooks],
            "fired": list(self.fired),
            "withheld": list(self.withheld),
            "verified": self.verified,
        }
