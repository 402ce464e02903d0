"""API keys (scoped, hashed at rest, cached for speed) and per-key rate limiting."""

from brightline.auth.keys import SCOPES, ApiKeyInfo, ApiKeyService
from brightline.auth.ratelimit import RateLimiter

__all__ = ["SCOPES", "ApiKeyInfo", "ApiKeyService", "RateLimiter"]
