"""HTTP for sources: retries with backoff and Retry-After, and one re-authentication on 401.

Every source talks to its list owner through `SourceHttp`. Failures worth waiting for (no
connection, 5xx, 429) are retried here a few times; when they persist the source raises
`SourceError` and the sync engine tries again later from the last committed checkpoint. A
401 calls the authenticator's ``refresh`` once (a new token, or simply the credentials sent
afresh) and repeats the request; a second 401 is `SourceAuthError`, so an expired token costs
one request while a wrong password stops the sync at once instead of hammering the owner.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpx

from brightline.errors import SourceAuthError, SourceError


class Authenticator(Protocol):
    """Supplies the headers that authenticate a request, and renews them after a 401."""

    def headers(self) -> Mapping[str, str]:
        """Headers to add to every request."""

    def refresh(self) -> None:
        """Obtain fresh credentials (a new token); called once after a 401."""


class StaticHeaders:
    """Fixed credentials (an API key, HTTP Basic): nothing to renew, so a retry sends the same again."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    def headers(self) -> Mapping[str, str]:
        """The configured headers."""
        return self._headers

    def refresh(self) -> None:
        """Nothing to renew: the next attempt sends the same credentials."""


def basic_auth(username: str, password: str) -> StaticHeaders:
    """HTTP Basic credentials as a static authenticator."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return StaticHeaders({"Authorization": f"Basic {token}"})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one request is tried before the source gives up until the next sync."""

    attempts: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    # A longer Retry-After is not slept through: the source fails and the engine comes back later.
    max_retry_after_s: float = 300.0


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date); None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(text).timestamp() - now, 0.0)
    except (TypeError, ValueError):
        return None


class SourceHttp:
    """One connection to a list owner's API, with retries and re-authentication."""

    def __init__(
        self,
        name: str,
        base_url: str,
        auth: Authenticator,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        policy: RetryPolicy = RetryPolicy(),
        timeout_s: float = 60.0,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/") + "/"
        self.auth = auth
        self.policy = policy
        self._sleep = sleep
        self._clock = clock
        self._client = httpx.Client(transport=transport, timeout=timeout_s, follow_redirects=False)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def url(self, path_or_url: str) -> str:
        """``path_or_url`` resolved against the base URL; a link to another host is refused (credentials stay home)."""
        url = urljoin(self.base_url, path_or_url)
        base, target = urlsplit(self.base_url), urlsplit(url)
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            raise SourceError(f"{self.name}: the server sent a link to another host; not followed")
        return url

    def request(self, method: str, path_or_url: str, **kwargs: Any) -> httpx.Response:
        """Send with retries; the first 2xx answer, else SourceError or SourceAuthError."""
        url = self.url(path_or_url)
        label = urlsplit(url).path
        extra_headers = dict(kwargs.pop("headers", {}) or {})
        refreshed = False
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = self._client.request(method, url, headers={**self.auth.headers(), **extra_headers}, **kwargs)
            except httpx.TransportError as exc:
                problem = f"no answer ({type(exc).__name__})"
            else:
                status = response.status_code
                if status < 300:
                    return response
                if status == 401:
                    if refreshed:
                        raise SourceAuthError(f"{self.name}: {label} refused the credentials (HTTP 401)")
                    refreshed = True
                    self.auth.refresh()
                    continue  # a renewed token is not a failed attempt
                if status == 403:
                    raise SourceAuthError(f"{self.name}: {label} forbidden (HTTP 403): check the account's rights")
                if status != 429 and status < 500:  # 3xx (redirects are not followed) and other 4xx
                    raise SourceError(f"{self.name}: {label} refused: HTTP {status}")
                problem = f"HTTP {status}"
            attempt += 1
            if attempt >= self.policy.attempts:
                raise SourceError(f"{self.name}: {label} failed after {attempt} attempts: {problem}")
            self._sleep(self._delay(attempt, response))

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        backoff = min(self.policy.backoff_s * 2.0 ** (attempt - 1), self.policy.max_backoff_s)
        if response is None:
            return backoff
        wait = retry_after_seconds(response.headers.get("Retry-After"), self._clock())
        if wait is None:
            return backoff
        if wait > self.policy.max_retry_after_s:
            raise SourceError(f"{self.name}: rate limited for {wait:.0f} s; will try again at the next sync")
        return wait
