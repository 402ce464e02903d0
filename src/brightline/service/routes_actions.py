"""/v1/rules, /v1/notices, /v1/enforcement and /v1/webhooks: rules and what they did, over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from brightline.actions.rules import ACTIONS, Rule
from brightline.auth import ApiKeyInfo
from brightline.service.deps import JsonBody, require_scope
from brightline.service.state import ServiceState, get_state
from brightline.store.models import MAX_IDENTIFIER

router = APIRouter(prefix="/v1")
State = Annotated[ServiceState, Depends(get_state)]
Admin = Annotated[ApiKeyInfo, Depends(require_scope("admin"))]
Scanner = Annotated[ApiKeyInfo, Depends(require_scope("scan"))]


class RuleIn(BaseModel):
    """A rule as the API takes it (the same fields as a [[rules]] table of the rule file)."""

    banks: list[str] = Field(default_factory=list, description="Banks it applies to; empty = every bank.")
    domains: list[str] = Field(default_factory=list, description="List domains it applies to; empty = every domain.")
    actions: list[str] = Field(min_length=1, description=f"Any of: {', '.join(ACTIONS)}.")
    min_account_matches: int = Field(default=1, ge=1)
    exact_min_account_matches: int | None = Field(default=None, ge=1)
    max_distance: int | None = Field(default=None, ge=0)
    webhook_url: str | None = None
    notice: str | None = Field(default=None, max_length=2000)
    enabled: bool = True
    description: str = Field(default="", max_length=2000)


def _rule_dict(rule: Rule) -> dict[str, Any]:
    return rule.as_dict()


@router.get("/rules", tags=["rules"], summary="Match rules and list-domain policies (scope: admin)")
def list_rules(_key: Admin, state: State) -> dict[str, Any]:
    """Every rule, and which list domains are unverified."""
    return {
        "rules": [_rule_dict(r) for r in state.rules.list_rules()],
        "domains": {name: {"verified": p.verified} for name, p in state.rules.domains().items()},
    }


@router.put("/rules/{name}", tags=["rules"], summary="Create or replace a rule (scope: admin)")
def put_rule(key: Admin, _body: Annotated[None, JsonBody], state: State, name: str, body: RuleIn) -> dict[str, Any]:
    """Validated like the rule file; takes effect on the next scan."""
    rule = Rule(
        name=name,
        banks=tuple(body.banks),
        domains=tuple(body.domains),
        actions=tuple(body.actions),
        min_account_matches=body.min_account_matches,
        exact_min_account_matches=body.exact_min_account_matches,
        max_distance=body.max_distance,
        webhook_url=body.webhook_url,
        notice=body.notice,
        enabled=body.enabled,
        description=body.description,
    )
    return _rule_dict(state.rules.put_rule(rule, actor=f"api_key:{key.id}"))


@router.delete("/rules/{name}", tags=["rules"], status_code=204, summary="Delete a rule (scope: admin)")
def delete_rule(key: Admin, state: State, name: str) -> Response:
    """Remove the rule; 404 when there is none by that name."""
    state.rules.delete_rule(name, actor=f"api_key:{key.id}")
    return Response(status_code=204)


@router.get("/rules.toml", tags=["rules"], summary="The rules as a rule file (scope: admin)")
def export_rules(_key: Admin, state: State) -> Response:
    """What `brightline rules load` takes back."""
    return Response(state.rules.export_toml(), media_type="application/toml")


@router.get("/notices", tags=["actions"], summary="Notices to show users (scope: scan)")
def list_notices(
    _key: Scanner,
    state: State,
    account_id: Annotated[str | None, Query(max_length=MAX_IDENTIFIER)] = None,
    content_id: Annotated[str | None, Query(max_length=MAX_IDENTIFIER)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Notices `notify_user` rules produced, newest first."""
    notices = state.notices.list(account_id=account_id, content_id=content_id, limit=limit)
    return {"notices": [n.as_dict() for n in notices]}


@router.get("/enforcement", tags=["actions"], summary="Blocks and quarantines in force (scope: scan)")
def list_enforcement(
    _key: Scanner,
    state: State,
    account_id: Annotated[str | None, Query(max_length=MAX_IDENTIFIER)] = None,
    content_id: Annotated[str | None, Query(max_length=MAX_IDENTIFIER)] = None,
) -> dict[str, Any]:
    """Active enforcement for the content or account (lifted ones are gone once an appeal is upheld)."""
    found = state.enforcement.active(content_id=content_id, account_id=account_id)
    return {"enforcement": [e.as_dict() for e in found]}


@router.get("/webhooks/deliveries", tags=["actions"], summary="Webhook delivery log (scope: admin)")
def list_deliveries(
    _key: Admin,
    state: State,
    status: Annotated[str | None, Query(description="pending, delivered or failed")] = None,
    scan_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Deliveries with their attempts, last status code and error."""
    found = state.webhooks.deliveries(scan_id=scan_id, status=status, limit=limit)
    return {"deliveries": [d.as_dict() for d in found]}
