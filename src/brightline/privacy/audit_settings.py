"""The settings.loaded / settings.changed audit records: which settings differ from the last start.

Every setting is reduced to a short digest and the digests are kept in the record, so the next
start can name what changed without the log ever holding a value. Secrets (and the database URL,
which may carry a password) are digested with a key derived from the application secret, so a
weak password cannot be guessed back from its digest.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from brightline.actions.keys import derive_key
from brightline.settings import Settings
from brightline.store.audit import AuditRecord, append_audit, lock_head
from brightline.store.db import Database
from brightline.store.models_audit import audit_table

__all__ = ["SECRET_SETTINGS", "record_settings", "settings_digests"]

SECRET_SETTINGS = frozenset({"secret_key", "evidence_key", "webhook_secret", "ncmec_password", "database_url"})
_CONTEXT = b"brightline settings audit v1"
_DIGEST_CHARS = 16
_ACTIONS = ("settings.loaded", "settings.changed")


def settings_digests(settings: Settings) -> dict[str, str]:
    """A short digest of every setting's value, by name (keyed digests for secrets)."""
    key = derive_key(settings.secret_key, _CONTEXT)
    digests: dict[str, str] = {}
    for name in sorted(type(settings).model_fields):
        value: Any = getattr(settings, name)
        text = json.dumps(value, sort_keys=True, default=str)
        if name == "secret_key":
            # The digest key is derived from secret_key itself; a long random secret needs no key anyway.
            digest = hashlib.sha256(b"brightline settings secret_key\x00" + text.encode()).hexdigest()
        elif name in SECRET_SETTINGS:
            digest = hmac.new(key, f"{name}\x00{text}".encode(), hashlib.sha256).hexdigest()
        else:
            digest = hashlib.sha256(f"{name}\x00{text}".encode()).hexdigest()
        digests[name] = digest[:_DIGEST_CHARS]
    return digests


def _last_digests(conn: Connection) -> dict[str, str] | None:
    details = conn.execute(
        sa.select(audit_table.c.details)
        .where(audit_table.c.action.in_(_ACTIONS))
        .order_by(audit_table.c.id.desc())
        .limit(1)
    ).scalar()
    if details is None:
        return None
    try:
        return {str(name): str(digest) for name, digest in json.loads(details)["digests"]}
    except (ValueError, KeyError, TypeError):
        # Unreadable: count every setting as changed rather than fail the start.
        return {}


def record_settings(db: Database, settings: Settings, *, actor: str) -> AuditRecord | None:
    """Append settings.loaded (first start) or settings.changed naming what differs; None when nothing does."""
    digests = settings_digests(settings)
    with db.write_connection() as conn:
        # Hold the head so workers starting together see each other's record and write one between them.
        lock_head(conn)
        before = _last_digests(conn)
        if before is None:
            action, names = "settings.loaded", sorted(digests)
        else:
            action = "settings.changed"
            names = sorted(name for name in before.keys() | digests.keys() if before.get(name) != digests.get(name))
            if not names:
                return None
        # Pairs, not an object: setting names such as evidence_key must not become detail keys.
        pairs = [[name, digest] for name, digest in sorted(digests.items())]
        return append_audit(
            conn, actor=actor, action=action, subject="settings", details={"names": names, "digests": pairs}
        )
