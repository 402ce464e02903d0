"""`brightline rules ...`: list, load, check, export, show and delete match rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from brightline.actions.rulefile import read_rule_file
from brightline.actions.rules import Rule, RuleService
from brightline.cli.context import CliContext, fail, get_context
from brightline.errors import BrightlineError

rules_app = typer.Typer(
    help="Match rules: what happens after a match (block, review, webhooks...).", no_args_is_help=True
)

_FILE = Annotated[Path, typer.Argument(metavar="FILE", help="TOML rule file (see README, 'Rule file').")]
_NAME = Annotated[str, typer.Argument(metavar="NAME", help="Rule name.")]


def _service(cli: CliContext) -> RuleService:
    return RuleService(cli.db)


def _threshold(rule: Rule) -> str:
    text = str(rule.min_account_matches)
    if rule.exact_min_account_matches is not None:
        text += f" (exact: {rule.exact_min_account_matches})"
    return text


@rules_app.command("list")
def rules_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per rule.")] = False,
) -> None:
    """List the rules and the list domains marked unverified."""
    cli = get_context(ctx)
    try:
        service = _service(cli)
        rules = service.list_rules()
        domains = service.domains()
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    if as_json:
        for rule in rules:
            typer.echo(json.dumps(rule.as_dict()))
        return
    table = Table("name", "banks", "domains", "actions", "account matches", "max distance", "enabled")
    for rule in rules:
        table.add_row(
            rule.name,
            ",".join(rule.banks) or "any",
            ",".join(rule.domains) or "any",
            ",".join(rule.actions),
            _threshold(rule),
            "any" if rule.max_distance is None else str(rule.max_distance),
            "yes" if rule.enabled else "no",
        )
    cli.out.print(table if rules else "no rules yet: brightline rules load FILE")
    unverified = sorted(name for name, policy in domains.items() if not policy.verified)
    if unverified:
        cli.out.print(f"unverified list domains (never block or report unreviewed): {', '.join(unverified)}")


@rules_app.command("load")
def rules_load(
    ctx: typer.Context,
    path: _FILE,
    merge: Annotated[
        bool, typer.Option("--merge", help="Keep rules and domain policies the file does not name.")
    ] = False,
) -> None:
    """Load a rule file, checked in full first; it replaces every rule unless --merge."""
    cli = get_context(ctx)
    try:
        count = _service(cli).load_file(path, replace=not merge, actor="cli")
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    how = "merged into the existing rules" if merge else "replacing the previous rules"
    cli.out.print(f"loaded {count} rules from {path}, {how}", highlight=False)


@rules_app.command("check")
def rules_check(ctx: typer.Context, path: _FILE) -> None:
    """Check a rule file without loading it (exit 2 naming the rule and key on a problem)."""
    cli = get_context(ctx)
    try:
        ruleset = read_rule_file(path)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"{path}: {len(ruleset.rules)} rules, {len(ruleset.domains)} domain policies, all valid")


@rules_app.command("export")
def rules_export(ctx: typer.Context) -> None:
    """Print every rule and domain policy as a rule file (loadable with `rules load`)."""
    cli = get_context(ctx)
    try:
        text = _service(cli).export_toml()
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    typer.echo(text, nl=False)


@rules_app.command("show")
def rules_show(
    ctx: typer.Context,
    name: _NAME,
    as_json: Annotated[bool, typer.Option("--json", help="The rule as a JSON object.")] = False,
) -> None:
    """Show one rule in full."""
    cli = get_context(ctx)
    try:
        rule = _service(cli).get_rule(name)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    if as_json:
        typer.echo(json.dumps(rule.as_dict()))
        return
    table = Table("key", "value", show_header=False)
    for key, value in rule.as_dict().items():
        shown = ", ".join(value) if isinstance(value, list) else "" if value is None else str(value)
        table.add_row(key, shown)
    cli.out.print(table)


@rules_app.command("delete")
def rules_delete(ctx: typer.Context, name: _NAME) -> None:
    """Delete one rule."""
    cli = get_context(ctx)
    try:
        _service(cli).delete_rule(name, actor="cli")
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    cli.out.print(f"deleted rule {name}", highlight=False)
