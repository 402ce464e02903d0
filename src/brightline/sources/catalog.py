"""Configured sources: add, list, remove, build; credentials sealed at rest and never handed out.

``SourceInfo`` is what leaves this module for people (CLI tables, API answers): configuration and
sync state, never a credential and never the checkpoint (a feed's cursor may embed a token).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from brightline.actions.keys import KeyProvider
from brightline.banks.validation import validate_bank_name
from brightline.errors import SourceExistsError, SourceNotFoundError, ValidationError
from brightline.sources.credentials import open_sealed, seal
from brightline.sources.registry import SourceRegistry, default_registry
from brightline.sources.types import Source, SourceConfig, SourceDescription
from brightline.store.audit import append_audit
from brightline.store.db import Database
from brightline.store.models import utcnow
from brightline.store.models_sources import source_feedback_table, sources_table

_S = sources_table.c
_F = source_feedback_table.c
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
MAX_OPTIONS = 64


def source_subject(name: str) -> str:
    """The audit subject naming a source."""
    return f"source:{name}"


def check_name(name: str) -> str:
    """A source name as stored: lower-case letters, digits, '.', '_' or '-', 1 to 128 characters."""
    clean = name.strip().lower() if isinstance(name, str) else ""
    if not _NAME.fullmatch(clean):
        raise ValidationError(f"a source name is 1 to 128 of a-z, 0-9, '.', '_', '-' (got {name!r})")
    return clean


def _plain_mapping(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or len(value) > MAX_OPTIONS:
        raise ValidationError(f"{what} must be an object of at most {MAX_OPTIONS} entries")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip():
            raise ValidationError(f"{what}: names must be non-empty text")
        if not isinstance(item, str | int | float | bool):
            raise ValidationError(f"{what}: {key!r} must be text, a number or true/false")
        out[key.strip()] = item
    return out


@dataclass(frozen=True)
class SourceInfo:
    """A configured source and its sync state (no credentials, no checkpoint)."""

    id: int
    name: str
    kind: str
    bank: str
    options: dict[str, Any]
    bank_map: dict[str, str]
    has_credentials: bool
    enabled: bool
    state: str
    paused_reason: str
    confirmed: bool
    has_checkpoint: bool
    created_at: datetime
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_batch_at: datetime | None
    newest_entry_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    totals: dict[str, int]
    problems: list[str]
    feedback: dict[str, int] = field(default_factory=dict)

    def lag_seconds(self, now: datetime | None = None) -> float | None:
        """Seconds since the newest entry the source supplied, else since the last successful sync."""
        anchor = self.newest_entry_at or self.last_success_at
        return None if anchor is None else max(0.0, ((now or utcnow()) - anchor).total_seconds())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the lag."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        out["lag_seconds"] = self.lag_seconds()
        return out


_TOTALS = ("added", "changed", "removed", "unknown_removals", "malformed", "batches")


def _info(row: RowMapping, feedback: dict[str, int]) -> SourceInfo:
    return SourceInfo(
        id=int(row["id"]),
        name=row["name"],
        kind=row["kind"],
        bank=row["bank"],
        options=json.loads(row["options"] or "{}"),
        bank_map=json.loads(row["bank_map"] or "{}"),
        has_credentials=bool(row["credentials"]),
        enabled=bool(row["enabled"]),
        state=row["state"],
        paused_reason=row["paused_reason"],
        confirmed=bool(row["confirmed"]),
        has_checkpoint=row["checkpoint"] is not None,
        created_at=row["created_at"],
        last_attempt_at=row["last_attempt_at"],
        last_success_at=row["last_success_at"],
        last_batch_at=row["last_batch_at"],
        newest_entry_at=row["newest_entry_at"],
        last_error=row["last_error"],
        last_error_at=row["last_error_at"],
        totals={k: int(row[k]) for k in _TOTALS},
        problems=json.loads(row["problems"] or "[]"),
        feedback={s: feedback.get(s, 0) for s in ("pending", "sent", "failed")},
    )


class SourceCatalog:
    """Configured sources in the database; builds live Source objects with their decrypted credentials."""

    def __init__(
        self,
        db: Database,
        keys: KeyProvider,
        *,
        transport: httpx.BaseTransport | None = None,
        registry: SourceRegistry | None = None,
    ) -> None:
        self._db = db
        self._keys = keys
        self._transport = transport
        self._registry = registry or default_registry()

    @property
    def db(self) -> Database:
        """The database the sources live in."""
        return self._db

    def add(
        self,
        name: str,
        *,
        kind: str,
        bank: str,
        options: Mapping[str, Any] | None = None,
        credentials: Mapping[str, str] | None = None,
        bank_map: Mapping[str, str] | None = None,
        actor: str = "system",
    ) -> SourceInfo:
        """Configure a source; its options and credentials are checked by building it (no network)."""
        clean = check_name(name)
        validate_bank_name(bank)
        opts = _plain_mapping(options or {}, "options")
        mapping = {str(k).strip().lower(): str(v) for k, v in _plain_mapping(bank_map or {}, "bank_map").items()}
        for target in mapping.values():
            validate_bank_name(target)
        cls = self._registry.get(kind)
        config = SourceConfig(clean, cls.kind, bank, opts, dict(credentials or {}), mapping)
        described: SourceDescription = cls.from_config(config, transport=self._transport).describe()
        missing = [c for c in described.credentials if not (credentials or {}).get(c)]
        if missing:
            raise ValidationError(f"source kind {cls.kind!r} needs the credential(s): {', '.join(missing)}")
        sealed, key_id = seal(self._keys, clean, credentials or {})
        now = utcnow()
        try:
            with self._db.write_connection() as conn:
                if conn.execute(sa.select(_S.id).where(_S.name == clean)).first() is not None:
                    raise SourceExistsError(f"a source named {clean!r} already exists")
                conn.execute(
                    sa.insert(sources_table).values(
                        name=clean,
                        kind=cls.kind,
                        bank=bank,
                        options=json.dumps(opts, sort_keys=True),
                        bank_map=json.dumps(mapping, sort_keys=True),
                        credentials=sealed,
                        credentials_key_id=key_id,
                        created_at=now,
                        updated_at=now,
                    )
                )
                details = {
                    "source": clean,
                    "kind": cls.kind,
                    "bank": bank,
                    "bank_map": mapping,
                    "options": sorted(opts),
                    "credentials": sorted(credentials or {}),
                }
                append_audit(conn, actor=actor, action="source.added", subject=source_subject(clean), details=details)
        except IntegrityError:
            raise SourceExistsError(f"a source named {clean!r} already exists") from None
        return self.get(clean)

    def set_credentials(self, name: str, credentials: Mapping[str, str], *, actor: str = "system") -> None:
        """Replace a source's credentials (sealed with the current key) and lift a 'credentials refused' pause."""
        clean = check_name(name)
        sealed, key_id = seal(self._keys, clean, credentials)
        with self._db.write_connection() as conn:
            updated = conn.execute(
                sa.update(sources_table)
                .where(_S.name == clean)
                .values(credentials=sealed, credentials_key_id=key_id, updated_at=utcnow())
            ).rowcount
            if not updated:
                raise SourceNotFoundError(f"no source named {clean!r}")
            append_audit(
                conn,
                actor=actor,
                action="source.credentials_changed",
                subject=source_subject(clean),
                details={"source": clean, "credentials": sorted(credentials)},
            )

    def _row(self, name: str) -> RowMapping:
        clean = name.strip().lower() if isinstance(name, str) else ""
        with self._db.engine.connect() as conn:
            row = conn.execute(sa.select(sources_table).where(_S.name == clean)).mappings().first()
        if row is None:
            raise SourceNotFoundError(f"no source named {name!r}")
        return row

    def _feedback_counts(self, source_ids: list[int]) -> dict[int, dict[str, int]]:
        if not source_ids:
            return {}
        counts: dict[int, dict[str, int]] = {}
        with self._db.engine.connect() as conn:
            stmt = (
                sa.select(_F.source_id, _F.status, sa.func.count())
                .where(_F.source_id.in_(source_ids))
                .group_by(_F.source_id, _F.status)
            )
            for source_id, status, count in conn.execute(stmt):
                counts.setdefault(int(source_id), {})[status] = int(count)
        return counts

    def get(self, name: str) -> SourceInfo:
        """One source with its sync state; SourceNotFoundError if none has that name."""
        row = self._row(name)
        return _info(row, self._feedback_counts([int(row["id"])]).get(int(row["id"]), {}))

    def list(self) -> list[SourceInfo]:
        """Every configured source, by name."""
        with self._db.engine.connect() as conn:
            rows = conn.execute(sa.select(sources_table).order_by(_S.name)).mappings().all()
        counts = self._feedback_counts([int(r["id"]) for r in rows])
        return [_info(r, counts.get(int(r["id"]), {})) for r in rows]

    def remove(self, name: str, *, actor: str = "system") -> None:
        """Forget a source and its queued feedback; the entries it supplied stay, with their provenance."""
        clean = name.strip().lower() if isinstance(name, str) else ""
        with self._db.write_connection() as conn:
            if not conn.execute(sa.delete(sources_table).where(_S.name == clean)).rowcount:
                raise SourceNotFoundError(f"no source named {name!r}")
            append_audit(
                conn, actor=actor, action="source.removed", subject=source_subject(clean), details={"source": clean}
            )

    def config(self, name: str) -> SourceConfig:
        """The stored configuration with decrypted credentials (for building the source only; never shown)."""
        row = self._row(name)
        credentials = open_sealed(self._keys, row["name"], row["credentials"], row["credentials_key_id"])
        return SourceConfig(
            name=row["name"],
            kind=row["kind"],
            bank=row["bank"],
            options=json.loads(row["options"] or "{}"),
            credentials=credentials,
            bank_map=json.loads(row["bank_map"] or "{}"),
        )

    def build(self, name: str) -> Source:
        """A live Source for the configured ``name``."""
        config = self.config(name)
        source: Source = self._registry.get(config.kind).from_config(config, transport=self._transport)
        return source
