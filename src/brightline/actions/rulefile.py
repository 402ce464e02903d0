"""The TOML rule file: ``[domains.NAME]`` trust policies and ``[[rules]]`` entries, read and written."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from brightline.actions.ruletypes import DomainPolicy, Rule
from brightline.errors import RuleError

_RULE_KEYS = tuple(f.name for f in fields(Rule))
_LIST_KEYS = ("banks", "domains", "actions")
_DOMAIN_KEYS = ("verified",)
_TOP_KEYS = ("rules", "domains")


@dataclass(frozen=True)
class RuleSet:
    """Every rule and domain policy of one rule file, all checked."""

    rules: tuple[Rule, ...]
    domains: tuple[DomainPolicy, ...]


def _rule_from(index: int, table: object) -> Rule:
    if not isinstance(table, Mapping):
        raise RuleError(f"rules[{index}] must be a table ([[rules]])")
    name = table.get("name")
    label = repr(name) if isinstance(name, str) else f"rules[{index}]"
    if not isinstance(name, str):
        raise RuleError(f"rule {label}: missing key 'name'")
    for key in table:
        if key not in _RULE_KEYS:
            raise RuleError(f"rule {label}: unknown key {key!r} (known: {', '.join(_RULE_KEYS)})")
    if "actions" not in table:
        raise RuleError(f"rule {label}: missing key 'actions'")
    values: dict[str, Any] = dict(table)
    for key in _LIST_KEYS:
        if key in values:
            if not isinstance(values[key], list):
                raise RuleError(f"rule {label}: {key} must be a list, got {values[key]!r}")
            values[key] = tuple(values[key])
    return Rule(**values)


def _domain_from(name: str, table: object) -> DomainPolicy:
    if not isinstance(table, Mapping):
        raise RuleError(f"domain {name!r} must be a table ([domains.{name}])")
    for key in table:
        if key not in _DOMAIN_KEYS:
            raise RuleError(f"domain {name!r}: unknown key {key!r} (known: {', '.join(_DOMAIN_KEYS)})")
    return DomainPolicy(name=name, verified=table.get("verified", True))


def parse_rules(text: str, *, source: str = "rule file") -> RuleSet:
    """Every rule and domain policy in TOML ``text``; RuleError naming the rule and key on any problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{source}: not valid TOML: {exc}") from None
    for key in document:
        if key not in _TOP_KEYS:
            raise RuleError(f"{source}: unknown top-level key {key!r} (known: {', '.join(_TOP_KEYS)})")
    raw_rules = document.get("rules", [])
    raw_domains = document.get("domains", {})
    if not isinstance(raw_rules, list):
        raise RuleError(f"{source}: 'rules' must be an array of tables ([[rules]])")
    if not isinstance(raw_domains, dict):
        raise RuleError(f"{source}: 'domains' must be a table ([domains.NAME])")
    rules = tuple(_rule_from(i, table) for i, table in enumerate(raw_rules))
    seen: set[str] = set()
    for rule in rules:
        if rule.name.casefold() in seen:
            raise RuleError(f"{source}: rule {rule.name!r} is defined twice")
        seen.add(rule.name.casefold())
    domains = tuple(_domain_from(name, table) for name, table in raw_domains.items())
    if len({d.name for d in domains}) != len(domains):
        raise RuleError(f"{source}: a domain is defined twice (names are case-insensitive)")
    return RuleSet(rules=rules, domains=domains)


def read_rule_file(path: Path) -> RuleSet:
    """Parse the rule file at ``path`` (RuleError when unreadable or invalid)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"cannot read rule file {path}: {exc}") from None
    return parse_rules(text, source=str(path))


def _toml_string(text: str) -> str:
    out = ['"']
    for char in text:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            # TOML forbids raw control characters in basic strings.
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def to_toml(rules: Iterable[Rule], domains: Iterable[DomainPolicy]) -> str:
    """A rule file holding ``rules`` and ``domains``; parse_rules reads it back unchanged."""
    lines = ["# brightline match rules (see README, section 'Rule file')"]
    for policy in domains:
        lines += ["", f"[domains.{policy.name}]", f"verified = {_toml_value(policy.verified)}"]
    defaults = Rule(name="defaults", actions=("review",))
    for rule in rules:
        lines += ["", "[[rules]]"]
        for key in _RULE_KEYS:
            value = getattr(rule, key)
            # Leave out what equals the default, except what every rule needs, to keep files short.
            if value is None or (key not in ("name", "actions") and value == getattr(defaults, key)):
                continue
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
