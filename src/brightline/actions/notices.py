"""User notices: text a rule asks the platform to show the person whose upload matched."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from brightline.actions.ruletypes import MAX_NOTICE_CHARS
from brightline.errors import ValidationError
from brightline.store.db import Database
from brightline.store.models import MAX_IDENTIFIER, utcnow
from brightline.store.models_actions import user_notices_table

MAX_PAGE = 1000
MAX_RULES_CHARS = 1000  # the names of the rules that fired, comma-separated
_N = user_notices_table.c


@dataclass(frozen=True)
class Notice:
    """One notice for the platform to show its user."""

    id: int
    scan_id: int | None
    account_id: str | None
    content_id: str | None
    rule: str
    text: str
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "scan_id": self.scan_id,
            "account_id": self.account_id,
            "content_id": self.content_id,
            "rule": self.rule,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
        }


def _notice(row: RowMapping) -> Notice:
    return Notice(
        id=row["id"],
        scan_id=row["scan_id"],
        account_id=row["account_id"],
        content_id=row["content_id"],
        rule=row["rule"],
        text=row["text"],
        created_at=row["created_at"],
    )


def check_identifier(name: str, value: str | None) -> str | None:
    """A caller's account or content id unchanged, or ValidationError when empty or too long."""
    if value is not None and (not isinstance(value, str) or not value or len(value) > MAX_IDENTIFIER):
        raise ValidationError(f"{name} must be 1 to {MAX_IDENTIFIER} characters")
    return value


def check_limit(limit: int) -> int:
    """A page size within 1..MAX_PAGE."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be 1 to {MAX_PAGE}")
    return limit


class NoticeService:
    """Creates and lists user notices."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self, *, scan_id: int | None, account_id: str | None, content_id: str | None, text: str, rule: str
    ) -> Notice:
        """Record a notice for the platform to show."""
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_NOTICE_CHARS:
            raise ValidationError(f"notice text must be 1 to {MAX_NOTICE_CHARS} characters")
        if not isinstance(rule, str) or not rule or len(rule) > MAX_RULES_CHARS:
            raise ValidationError(f"rule must be 1 to {MAX_RULES_CHARS} characters (rule names, comma-separated)")
        notice = Notice(
            id=0,
            scan_id=scan_id,
            account_id=check_identifier("account_id", account_id),
            content_id=check_identifier("content_id", content_id),
            rule=rule,
            text=text,
            created_at=utcnow(),
        )
        values = notice.as_dict()
        del values["id"]
        values["created_at"] = notice.created_at
        with self.db.write_connection() as conn:
            notice_id = conn.execute(sa.insert(user_notices_table).values(**values).returning(_N.id)).scalar_one()
        return dataclasses.replace(notice, id=int(notice_id))

    def list(
        self,
        *,
        account_id: str | None = None,
        content_id: str | None = None,
        scan_id: int | None = None,
        limit: int = 100,
    ) -> list[Notice]:
        """Notices, newest first, for one account, piece of content and/or scan."""
        query = sa.select(user_notices_table).order_by(_N.id.desc()).limit(check_limit(limit))
        if scan_id is not None:
            query = query.where(_N.scan_id == scan_id)
        if account_id is not None:
            query = query.where(_N.account_id == account_id)
        if content_id is not None:
            query = query.where(_N.content_id == content_id)
        with self.db.engine.connect() as conn:
            return [_notice(row) for row in conn.execute(query).mappings()]
