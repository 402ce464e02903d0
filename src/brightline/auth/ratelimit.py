"""Per-key request budgets: an in-process token bucket for each API key.

The buckets live in this process only, so a service running N worker processes lets a key
make up to N times its limit; put a shared limiter (a proxy, a gateway) in front when that matters.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from brightline.auth.keys import ApiKeyInfo
from brightline.errors import RateLimitedError, ValidationError


@dataclass
class _Bucket:
    limit: int
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets per key id: a key may burst its whole per-minute limit, then refills steadily."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[int, _Bucket] = {}

    @staticmethod
    def limit_for(key: ApiKeyInfo, default_per_minute: int) -> int:
        """Requests per minute allowed for ``key``: its own limit if set (non-zero), else the default; 0 = unlimited."""
        if isinstance(default_per_minute, bool) or not isinstance(default_per_minute, int) or default_per_minute < 0:
            raise ValidationError(f"default rate limit must be a whole number >= 0, got {default_per_minute!r}")
        return key.rate_limit_per_minute or default_per_minute

    def check(self, key: ApiKeyInfo, default_per_minute: int) -> None:
        """Spend one request from the key's bucket, or raise RateLimitedError saying when to retry."""
        limit = self.limit_for(key, default_per_minute)
        if limit == 0:
            return
        refill_per_second = limit / 60.0
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key.id)
            if bucket is None or bucket.limit != limit:
                # New key, or its limit changed: start from a full bucket at the new size.
                bucket = _Bucket(limit=limit, tokens=float(limit), updated=now)
                self._buckets[key.id] = bucket
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(limit), bucket.tokens + elapsed * refill_per_second)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            retry_after = (1.0 - bucket.tokens) / refill_per_second
        raise RateLimitedError(f"rate limit of {limit} requests per minute exceeded", retry_after)

    def reset(self, key_id: int | None = None) -> None:
        """Forget one key's bucket (or every bucket), refilling it."""
        with self._lock:
            if key_id is None:
                self._buckets.clear()
            else:
                self._buckets.pop(key_id, None)
