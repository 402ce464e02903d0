"""API keys: create, list, revoke and authenticate bearer tokens of the form ``bl_<prefix>_<secret>``.

Only a random salt and ``sha256(salt + secret)`` are stored. The secret is 256 random bits, so a
fast hash is safe here (there is nothing to brute-force); a slow password hash would only cost
time on every request. The prefix is a public lookup id, unique per key.

``authenticate`` keeps successful lookups in a small in-process cache for ``cache_ttl_s``
(30 s by default). Revoking through the same ``ApiKeyService`` takes effect at once; a
revocation made elsewhere (another process, the CLI) takes effect within the cache TTL.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from brightline.errors import ApiKeyNotFoundError, AuthenticationError, StoreError, ValidationError
from brightline.store.audit import append_audit
from brightline.store.db import Database
from brightline.store.models import api_keys_table, utcnow

SCOPES: tuple[str, ...] = (
    "hash",
    "match",
    "scan",
    "banks:read",
    "banks:write",
    "matches:read",
    "appeals",
    "provenance:read",  # match answers name the sources vouching for each entry
    "admin",
)
ADMIN_SCOPE = "admin"
KEY_MARKER = "bl"  # first part of every key: bl_<prefix>_<secret>
DEFAULT_CACHE_TTL_S = 30.0
# last_used_at is written at most this often per key, so authenticating is not a write per request.
LAST_USED_EVERY_S = 60.0
MAX_NAME = 128
_PREFIX_BYTES = 6  # 12 hex characters: the public lookup id
_SECRET_BYTES = 32  # 256 random bits
_TOKEN_RE = re.compile(r"bl_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
# Only valid tokens are cached, so this bounds memory if a deployment has very many keys.
_CACHE_MAX = 10_000
_GENERIC = "invalid or revoked API key"
_K = api_keys_table.c

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiKeyInfo:
    """What is known about an API key, minus its secret, salt and hash."""

    id: int
    name: str
    prefix: str
    scopes: frozenset[str]
    rate_limit_per_minute: int | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def revoked(self) -> bool:
        """Whether the key has been revoked."""
        return self.revoked_at is not None

    def allows(self, scope: str) -> bool:
        """Whether the key grants ``scope`` ("admin" grants every scope); unknown scopes are a bug."""
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}")
        return ADMIN_SCOPE in self.scopes or scope in self.scopes

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (never includes the secret, salt or hash)."""
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": sorted(self.scopes),
            "rate_limit_per_minute": self.rate_limit_per_minute,
            "created_at": self.created_at.isoformat(),
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
            "last_used_at": None if self.last_used_at is None else self.last_used_at.isoformat(),
        }


def normalise_scopes(scopes: Iterable[str] | str) -> frozenset[str]:
    """Validate scopes (a collection or a comma-separated string); ValidationError lists the valid ones."""
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    cleaned: set[str] = set()
    for scope in items:
        if not isinstance(scope, str):
            raise ValidationError(f"scopes must be strings, got {scope!r}")
        scope = scope.strip()
        if not scope:
            continue
        if scope not in SCOPES:
            raise ValidationError(f"unknown scope {scope!r}; valid scopes: {', '.join(SCOPES)}")
        cleaned.add(scope)
    if not cleaned:
        raise ValidationError(f"an API key needs at least one scope; valid scopes: {', '.join(SCOPES)}")
    return frozenset(cleaned)


def _validate_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("an API key needs a non-empty name")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise ValidationError(f"API key names are at most {MAX_NAME} characters")
    return name


def _validate_rate_limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValidationError(f"rate limit must be a whole number >= 0 (0 = the default), got {limit!r}")
    return limit


def _hash_secret(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def _info(row: Row[Any]) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=frozenset(s for s in row.scopes.split(",") if s),
        rate_limit_per_minute=row.rate_limit_per_minute,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def parse_token(token: str) -> tuple[str, str]:
    """Split a token into (prefix, secret); AuthenticationError if it is not a brightline key."""
    match = _TOKEN_RE.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise AuthenticationError(_GENERIC)
    return match.group(1), match.group(2)


class ApiKeyService:
    """API key administration and fast, cached authentication."""

    def __init__(
        self,
        db: Database,
        *,
        cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._ttl = float(cache_ttl_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[ApiKeyInfo, float]] = {}  # sha256(token) -> (info, expires)
        self._touched: dict[int, float] = {}  # key id -> clock time last_used_at was written

    @property
    def cache_ttl_s(self) -> float:
        """How long a successful authentication is trusted without asking the database."""
        return self._ttl

    def create(
        self, name: str, scopes: Iterable[str], *, rate_limit_per_minute: int | None = None, actor: str = "system"
    ) -> tuple[str, ApiKeyInfo]:
        """Create a key; returns its token (shown this once, never stored) and its info."""
        values = {
            "name": _validate_name(name),
            "scopes": ",".join(sorted(normalise_scopes(scopes))),
            "rate_limit_per_minute": _validate_rate_limit(rate_limit_per_minute),
        }
        # A prefix clash is a 1-in-2^48 event per pair; retry rather than fail.
        for _ in range(5):
            prefix = secrets.token_hex(_PREFIX_BYTES)
            secret = secrets.token_urlsafe(_SECRET_BYTES)
            salt = secrets.token_hex(16)
            try:
                with self._db.session(write=True) as session:
                    key_id = session.execute(
                        sa.insert(api_keys_table)
                        .values(
                            **values, prefix=prefix, salt=salt, key_hash=_hash_secret(salt, secret), created_at=utcnow()
                        )
                        .returning(_K.id)
                    ).scalar_one()
                    append_audit(
                        session,
                        actor=actor,
                        action="key.created",
                        subject=f"api_key:{key_id}",
                        details={"key_id": key_id, "name": values["name"], "scopes": str(values["scopes"]).split(",")},
                    )
            except IntegrityError:
                continue
            return f"{KEY_MARKER}_{prefix}_{secret}", self.get(key_id)
        raise StoreError("could not allocate a unique API key prefix")

    def list(self) -> builtins.list[ApiKeyInfo]:
        """Every key, revoked ones included, by id."""
        with self._db.session() as session:
            rows = session.execute(sa.select(api_keys_table).order_by(_K.id)).all()
        return [_info(row) for row in rows]

    def get(self, key_id: int) -> ApiKeyInfo:
        """One key by id, or ApiKeyNotFoundError."""
        if isinstance(key_id, bool) or not isinstance(key_id, int):
            raise ApiKeyNotFoundError(f"no API key with id {key_id!r}")
        with self._db.session() as session:
            row = session.execute(sa.select(api_keys_table).where(_K.id == key_id)).first()
        if row is None:
            raise ApiKeyNotFoundError(f"no API key with id {key_id!r}")
        return _info(row)

    def revoke(self, key_id: int, *, actor: str = "system") -> ApiKeyInfo:
        """Revoke a key (revoking it again keeps the first revocation time)."""
        self.get(key_id)
        with self._db.session(write=True) as session:
            result = session.execute(
                sa.update(api_keys_table).where(_K.id == key_id, _K.revoked_at.is_(None)).values(revoked_at=utcnow())
            )
            if result.rowcount:  # type: ignore[attr-defined]
                append_audit(
                    session, actor=actor, action="key.revoked", subject=f"api_key:{key_id}", details={"key_id": key_id}
                )
        with self._lock:
            for token_hash in [h for h, (info, _) in self._cache.items() if info.id == key_id]:
                del self._cache[token_hash]
        return self.get(key_id)

    def authenticate(self, token: str) -> ApiKeyInfo:
        """The live key a bearer token names; AuthenticationError (one generic message) otherwise."""
        if not isinstance(token, str):
            raise AuthenticationError(_GENERIC)
        token_hash = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock()
        info = self._cached(token_hash, now)
        if info is None:
            info = self._lookup(token)
            with self._lock:
                if len(self._cache) >= _CACHE_MAX:
                    self._evict_expired(now)
                if len(self._cache) < _CACHE_MAX:
                    self._cache[token_hash] = (info, now + self._ttl)
        self._touch(info.id, now)
        return info

    def authenticate_nowait(self, token: str) -> ApiKeyInfo | None:
        """The key if the cache answers and no last-use write is due; None means call ``authenticate``.

        For the event loop: a cache hit costs a hash and a dict lookup, cheaper than a threadpool hop.
        """
        if not isinstance(token, str):
            return None
        now = self._clock()
        info = self._cached(hashlib.sha256(token.encode()).hexdigest(), now)
        if info is None:
            return None
        with self._lock:
            if self._touch_due(info.id, now):
                return None
        return info

    def clear_cache(self) -> None:
        """Forget every cached authentication (the next request of each key reads the database)."""
        with self._lock:
            self._cache.clear()

    def _cached(self, token_hash: str, now: float) -> ApiKeyInfo | None:
        with self._lock:
            hit = self._cache.get(token_hash)
            if hit is None:
                return None
            if hit[1] <= now:
                del self._cache[token_hash]
                return None
            return hit[0]

    def _evict_expired(self, now: float) -> None:
        for token_hash in [h for h, (_, expires) in self._cache.items() if expires <= now]:
            del self._cache[token_hash]

    def _lookup(self, token: str) -> ApiKeyInfo:
        prefix, secret = parse_token(token)
        with self._db.session() as session:
            row = session.execute(sa.select(api_keys_table).where(_K.prefix == prefix)).first()
        if row is None:
            raise AuthenticationError(_GENERIC)
        if not hmac.compare_digest(_hash_secret(row.salt, secret), row.key_hash) or row.revoked_at is not None:
            raise AuthenticationError(_GENERIC)
        return _info(row)

    def _touch_due(self, key_id: int, now: float) -> bool:
        """Whether last use should be written now (call with the lock held)."""
        last = self._touched.get(key_id)
        return last is None or now - last >= LAST_USED_EVERY_S

    def _touch(self, key_id: int, now: float) -> None:
        """Record last use at most once a minute per key per process."""
        with self._lock:
            if not self._touch_due(key_id, now):
                return
            self._touched[key_id] = now
        try:
            with self._db.session(write=True) as session:
                session.execute(sa.update(api_keys_table).where(_K.id == key_id).values(last_used_at=utcnow()))
        except StoreError as exc:
            # Bookkeeping only: a busy database must not turn a valid request away.
            log.warning("could not record API key %s as used: %s", key_id, exc)
