"""API keys (create, list, revoke, authenticate, cache) and the per-key rate limiter, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from brightline.auth import SCOPES, ApiKeyInfo, ApiKeyService, RateLimiter
from brightline.errors import ApiKeyNotFoundError, AuthenticationError, RateLimitedError, ValidationError
from brightline.store import Database
from brightline.store.models import api_keys_table


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def keys(db: Database, clock: FakeClock) -> ApiKeyService:
    return ApiKeyService(db, clock=clock)


# --- administration ----------------------------------------------------------------------


def test_create_returns_a_token_once_and_the_key_info(keys: ApiKeyService) -> None:
    token, info = keys.create("uploader", ["scan", "hash"], rate_limit_per_minute=120)
    parts = token.split("_", 2)
    assert parts[0] == "bl" and parts[1] == info.prefix and len(parts[2]) >= 43
    assert info.name == "uploader" and info.scopes == frozenset({"scan", "hash"})
    assert info.rate_limit_per_minute == 120 and info.revoked_at is None and info.last_used_at is None
    assert info.created_at.tzinfo is not None


def test_tokens_and_prefixes_are_unique(keys: ApiKeyService) -> None:
    made = [keys.create(f"k{i}", ["hash"]) for i in range(5)]
    assert len({t for t, _ in made}) == 5 and len({i.prefix for _, i in made}) == 5


def test_list_and_get_show_every_key_without_secrets(keys: ApiKeyService) -> None:
    token_a, a = keys.create("a", ["hash"])
    _, b = keys.create("b", ["admin"])
    assert [k.id for k in keys.list()] == [a.id, b.id]
    assert keys.get(b.id) == b
    shown = a.as_dict()
    assert set(shown) == {
        "id",
        "name",
        "prefix",
        "scopes",
        "rate_limit_per_minute",
        "created_at",
        "revoked_at",
        "last_used_at",
    }
    assert token_a.split("_", 2)[2] not in str(shown)


def test_get_and_revoke_unknown_ids_raise_not_found(keys: ApiKeyService) -> None:
    with pytest.raises(ApiKeyNotFoundError):
        keys.get(999)
    with pytest.raises(ApiKeyNotFoundError):
        keys.revoke(999)


def test_revoke_is_idempotent_and_keeps_the_first_time(keys: ApiKeyService) -> None:
    _, info = keys.create("a", ["hash"])
    first = keys.revoke(info.id)
    second = keys.revoke(info.id)
    assert first.revoked_at is not None and second.revoked_at == first.revoked_at and second.revoked


@pytest.mark.parametrize("scopes", [[], [""], ["hash", "nope"], ["HASH"]])
def test_unknown_or_missing_scopes_are_refused_listing_the_valid_ones(keys: ApiKeyService, scopes: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        keys.create("a", scopes)
    assert "banks:write" in str(caught.value)
    assert keys.list() == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 129])
def test_bad_names_are_refused(keys: ApiKeyService, name: str) -> None:
    with pytest.raises(ValidationError):
        keys.create(name, ["hash"])


@pytest.mark.parametrize("limit", [-1, True, 1.5])
def test_bad_rate_limits_are_refused(keys: ApiKeyService, limit: object) -> None:
    with pytest.raises(ValidationError):
        keys.create("a", ["hash"], rate_limit_per_minute=limit)  # type: ignore[arg-type]


def test_admin_implies_every_scope(keys: ApiKeyService) -> None:
    _, admin = keys.create("root", ["admin"])
    _, narrow = keys.create("narrow", ["hash", "banks:read"])
    assert all(admin.allows(scope) for scope in SCOPES)
    assert narrow.allows("hash") and narrow.allows("banks:read")
    assert not narrow.allows("banks:write") and not narrow.allows("admin")
    with pytest.raises(ValueError, match="unknown scope"):
        narrow.allows("bank:read")


def test_the_secret_is_never_stored_in_clear(db: Database, keys: ApiKeyService) -> None:
    token, _ = keys.create("a", ["hash"])
    secret = token.split("_", 2)[2]
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(api_keys_table)).all()
    stored = " ".join(str(value) for row in rows for value in row)
    assert secret not in stored and token not in stored


# --- authentication ------------------------------------------------------------------------


def test_authenticate_accepts_a_good_token(keys: ApiKeyService) -> None:
    token, info = keys.create("a", ["scan"])
    got = keys.authenticate(token)
    assert got.id == info.id and got.scopes == info.scopes


def test_authenticate_refuses_a_wrong_secret(keys: ApiKeyService) -> None:
    token, _ = keys.create("a", ["scan"])
    last = "A" if token[-1] != "A" else "B"
    with pytest.raises(AuthenticationError) as caught:
        keys.authenticate(token[:-1] + last)
    assert caught.value.http_status == 401


def test_authenticate_refuses_an_unknown_prefix(keys: ApiKeyService) -> None:
    token, info = keys.create("a", ["scan"])
    with pytest.raises(AuthenticationError):
        keys.authenticate(token.replace(info.prefix, "0" * 12 if info.prefix != "0" * 12 else "1" * 12))


@pytest.mark.parametrize("token", ["", "bl_", "Bearer x", "bl_abc_def", "bl_" + "g" * 12 + "_" + "a" * 43, "x" * 5000])
def test_authenticate_refuses_malformed_tokens(keys: ApiKeyService, token: str) -> None:
    with pytest.raises(AuthenticationError, match="invalid or revoked API key"):
        keys.authenticate(token)


def test_authenticate_refuses_a_revoked_key(keys: ApiKeyService) -> None:
    token, info = keys.create("a", ["scan"])
    keys.authenticate(token)
    keys.revoke(info.id)
    # Revoking through the same service drops its cache entry at once.
    with pytest.raises(AuthenticationError):
        keys.authenticate(token)


def test_a_revocation_made_elsewhere_takes_effect_within_the_cache_ttl(
    db: Database, keys: ApiKeyService, clock: FakeClock
) -> None:
    token, info = keys.create("a", ["scan"])
    keys.authenticate(token)
    ApiKeyService(db).revoke(info.id)  # another process, e.g. the CLI
    clock.advance(keys.cache_ttl_s - 1)
    assert keys.authenticate(token).id == info.id  # still cached
    clock.advance(2)
    with pytest.raises(AuthenticationError):
        keys.authenticate(token)


def test_cached_authentication_does_not_query_the_database(db: Database, keys: ApiKeyService) -> None:
    token, _ = keys.create("a", ["scan"])
    keys.authenticate(token)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        for _ in range(50):
            keys.authenticate(token)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert statements == []


def test_last_used_is_written_at_most_once_a_minute(keys: ApiKeyService, clock: FakeClock) -> None:
    token, info = keys.create("a", ["scan"])
    keys.authenticate(token)
    first = keys.get(info.id).last_used_at
    assert first is not None
    clock.advance(30)
    keys.authenticate(token)
    assert keys.get(info.id).last_used_at == first
    clock.advance(31)
    keys.authenticate(token)
    later = keys.get(info.id).last_used_at
    assert later is not None and later > first


def test_authenticate_nowait_answers_only_from_the_cache(keys: ApiKeyService, clock: FakeClock) -> None:
    token, info = keys.create("a", ["scan"])
    assert keys.authenticate_nowait(token) is None  # not cached yet: the caller must use authenticate
    keys.authenticate(token)
    hit = keys.authenticate_nowait(token)
    assert hit is not None and hit.id == info.id
    clock.advance(keys.cache_ttl_s + 1)
    assert keys.authenticate_nowait(token) is None  # expired: the database decides again


def test_authenticate_nowait_defers_when_last_use_is_due(db: Database, clock: FakeClock) -> None:
    keys = ApiKeyService(db, clock=clock, cache_ttl_s=300)  # a TTL longer than the last-use interval
    token, info = keys.create("a", ["scan"])
    keys.authenticate(token)
    first = keys.get(info.id).last_used_at
    clock.advance(59)
    assert keys.authenticate_nowait(token) is not None
    clock.advance(2)
    # Cached, but recording last use is a database write: that must happen off the event loop.
    assert keys.authenticate_nowait(token) is None
    keys.authenticate(token)
    later = keys.get(info.id).last_used_at
    assert first is not None and later is not None and later > first
    assert keys.authenticate_nowait(token) is not None


def test_authenticate_nowait_never_answers_for_a_bad_or_revoked_token(keys: ApiKeyService) -> None:
    token, info = keys.create("a", ["scan"])
    keys.authenticate(token)
    assert keys.authenticate_nowait(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    keys.revoke(info.id)
    assert keys.authenticate_nowait(token) is None
    assert keys.authenticate_nowait(42) is None  # type: ignore[arg-type]


def test_authentication_is_thread_safe(keys: ApiKeyService) -> None:
    token, info = keys.create("a", ["scan"])
    seen: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(20):
                seen.append(keys.authenticate(token).id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and seen == [info.id] * 80


# --- rate limiting -----------------------------------------------------------------------------


def _key(key_id: int = 1, limit: int | None = None) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=key_id,
        name="k",
        prefix="0" * 12,
        scopes=frozenset({"scan"}),
        rate_limit_per_minute=limit,
        created_at=datetime.now(UTC),
        revoked_at=None,
        last_used_at=None,
    )


def test_rate_limiter_allows_a_burst_then_refuses_with_retry_after(clock: FakeClock) -> None:
    limiter = RateLimiter(clock=clock)
    key = _key(limit=60)
    for _ in range(60):
        limiter.check(key, default_per_minute=0)
    with pytest.raises(RateLimitedError) as caught:
        limiter.check(key, default_per_minute=0)
    assert caught.value.http_status == 429 and caught.value.retry_after == pytest.approx(1.0)
    clock.advance(1.0)
    limiter.check(key, default_per_minute=0)  # one token refilled
    with pytest.raises(RateLimitedError):
        limiter.check(key, default_per_minute=0)


def test_rate_limiter_uses_the_default_when_the_key_has_no_limit(clock: FakeClock) -> None:
    limiter = RateLimiter(clock=clock)
    for key in (_key(1, None), _key(2, 0)):
        for _ in range(3):
            limiter.check(key, default_per_minute=3)
        with pytest.raises(RateLimitedError):
            limiter.check(key, default_per_minute=3)


def test_rate_limiter_default_zero_means_unlimited(clock: FakeClock) -> None:
    limiter = RateLimiter(clock=clock)
    for _ in range(10_000):
        limiter.check(_key(), default_per_minute=0)


def test_rate_limiter_keeps_one_bucket_per_key(clock: FakeClock) -> None:
    limiter = RateLimiter(clock=clock)
    limiter.check(_key(1, 1), 0)
    limiter.check(_key(2, 1), 0)
    with pytest.raises(RateLimitedError):
        limiter.check(_key(1, 1), 0)
    limiter.reset(1)
    limiter.check(_key(1, 1), 0)


def test_rate_limiter_refills_no_more_than_its_capacity(clock: FakeClock) -> None:
    limiter = RateLimiter(clock=clock)
    key = _key(limit=2)
    limiter.check(key, 0)
    clock.advance(3600)
    limiter.check(key, 0)
    limiter.check(key, 0)
    with pytest.raises(RateLimitedError):
        limiter.check(key, 0)


def test_rate_limiter_is_thread_safe(clock: FakeClock) -> None:
    limiter = RateLimiter(clock=clock)
    key = _key(limit=100)
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            try:
                limiter.check(key, 0)
                ok = True
            except RateLimitedError:
                ok = False
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 100


def test_rate_limiter_refuses_a_negative_default(clock: FakeClock) -> None:
    with pytest.raises(ValidationError):
        RateLimiter(clock=clock).check(_key(), default_per_minute=-1)
