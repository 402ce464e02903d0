"""`brightline retention run|policy`: delete the matched data the retention policy makes due, or show the policy."""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer
from rich.table import Table

from brightline.cli.context import CliContext, fail, get_context
from brightline.errors import BrightlineError
from brightline.privacy.retention import RetentionOutcome, RetentionService, retention_service_from_settings
from brightline.privacy.retention_plan import RetentionPlan
from brightline.privacy.retention_policy import CATEGORIES, DEFAULT, policy_from_settings

retention_app = typer.Typer(
    help="Retention: delete what the policy makes due (or show what would go).", no_args_is_help=True
)


def _service(cli: CliContext) -> RetentionService:
    return retention_service_from_settings(cli.db, cli.settings)


def plan_table(plan: RetentionPlan) -> Table:
    """The plan's items as a table: what goes, what a hold or preservation keeps, and by which rule."""
    table = Table("unit", "category", "jurisdiction", "age (days)", "rule", "outcome", "cases", "scans", "evidence")
    for item in plan.items:
        table.add_row(
            f"{item.kind} {item.id}",
            item.category,
            item.jurisdiction,
            str(item.age_days),
            item.policy,
            "delete" if item.action == "delete" else item.reason,
            ", ".join(map(str, item.case_ids)),
            ", ".join(map(str, item.scan_ids)),
            str(len(item.contents.get("evidence", ()))),
        )
    return table


def _print_outcome(cli: CliContext, outcome: RetentionOutcome) -> None:
    cli.out.print(plan_table(outcome.plan))
    verb = "would delete" if outcome.dry_run else "deleted"
    counts = ", ".join(f"{n} {kind}" for kind, n in outcome.deleted.items() if n) or "nothing"
    cli.out.print(f"{verb}: {counts}", highlight=False)
    left = f"; {outcome.changed} changed meanwhile (next run)" if outcome.changed else ""
    cli.out.print(
        f"kept (held or preserved): {outcome.kept}; not due yet: {outcome.plan.not_due}{left}", highlight=False
    )


@retention_app.command("run")
def retention_run(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be deleted; delete nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The plan and the counts as one JSON object.")] = False,
    actor: Annotated[str | None, typer.Option("--actor", help="Who runs it, for the audit log.")] = None,
) -> None:
    """Delete what the policy makes due (evidence files, then rows), with an audit record per deletion."""
    cli = get_context(ctx)
    try:
        outcome = _service(cli).run(actor=actor or f"cli:{getpass.getuser()}", dry_run=dry_run)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    if as_json:
        typer.echo(json.dumps(outcome.as_dict()))
    else:
        _print_outcome(cli, outcome)


@retention_app.command("policy")
def retention_policy(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="The policy as JSON.")] = False,
) -> None:
    """Print the retention policy in force (the file, or the settings' defaults)."""
    cli = get_context(ctx)
    try:
        policy = policy_from_settings(cli.settings)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    if as_json:
        typer.echo(json.dumps(policy.as_dict()))
        return
    table = Table("jurisdiction", *(f"{c}_days" for c in CATEGORIES), "max_days", title=f"source: {policy.source}")
    sections = [(DEFAULT, policy.default), *sorted(policy.jurisdictions.items())]
    for name, section in sections:
        days = [section.days_for(c) for c in CATEGORIES] + [section.max_days]
        table.add_row(name, *("no limit" if d == 0 else str(d) for d in days))
    cli.out.print(table)
