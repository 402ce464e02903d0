"""After a match: rules and what they decide, encrypted evidence, webhooks, user notices and enforcement."""

from brightline.actions.enforcement import Enforcement, EnforcementService
from brightline.actions.evidence import EvidenceAccess, EvidenceInfo, EvidenceStore
from brightline.actions.keys import (
    KeyProvider,
    LocalKeyProvider,
    key_provider_from_settings,
    webhook_secret_from_settings,
)
from brightline.actions.notices import Notice, NoticeService
from brightline.actions.rulefile import RuleSet, parse_rules, to_toml
from brightline.actions.rules import (
    ACTIONS,
    DomainPolicy,
    Rule,
    RuleEngine,
    RuleHit,
    RuleOutcome,
    RuleService,
    count_account_matches,
)
from brightline.actions.webhooks import Delivery, DeliveryAttempt, WebhookService, sign, verify

__all__ = [
    "ACTIONS",
    "Delivery",
    "DeliveryAttempt",
    "DomainPolicy",
    "Enforcement",
    "EnforcementService",
    "EvidenceAccess",
    "EvidenceInfo",
    "EvidenceStore",
    "KeyProvider",
    "LocalKeyProvider",
    "Notice",
    "NoticeService",
    "Rule",
    "RuleEngine",
    "RuleHit",
    "RuleOutcome",
    "RuleService",
    "RuleSet",
    "WebhookService",
    "count_account_matches",
    "key_provider_from_settings",
    "parse_rules",
    "sign",
    "to_toml",
    "verify",
    "webhook_secret_from_settings",
]
