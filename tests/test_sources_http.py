"""The sources' shared HTTP helper: retries, Retry-After forms, re-authentication and same-host links."""

from __future__ import annotations

import httpx
import pytest

from brightline.errors import SourceAuthError, SourceError
from brightline.sources.http import (
    Authenticator,
    RetryPolicy,
    SourceHttp,
    StaticHeaders,
    basic_auth,
    retry_after_seconds,
)


class Renewing:
    """An authenticator whose token changes on every refresh."""

    def __init__(self) -> None:
        self.token = 1

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer t{self.token}"}

    def refresh(self) -> None:
        self.token += 1


def client(handler: httpx.MockTransport, sleeps: list[float], auth: Authenticator | None = None) -> SourceHttp:
    return SourceHttp(
        "test",
        "https://owner.example/api/v2/",
        auth or StaticHeaders({}),
        transport=handler,
        sleep=sleeps.append,
        clock=lambda: 1_000_000.0,
        policy=RetryPolicy(attempts=3),
    )


def test_retry_after_takes_seconds_and_http_dates() -> None:
    assert retry_after_seconds("30", 0.0) == 30.0
    assert retry_after_seconds("Thu, 01 Jan 1970 00:01:40 GMT", 40.0) == 60.0
    assert retry_after_seconds("Thu, 01 Jan 1970 00:01:40 GMT", 500.0) == 0.0
    assert retry_after_seconds("soon", 0.0) is None and retry_after_seconds(None, 0.0) is None


def test_network_errors_are_retried_then_reported() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("refused", request=request)

    sleeps: list[float] = []
    with pytest.raises(SourceError, match="after 3 attempts: no answer"):
        client(httpx.MockTransport(handler), sleeps).request("GET", "entries")
    assert len(calls) == 3 and sleeps == [1.0, 2.0]


def test_a_401_renews_the_token_once() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200 if request.headers["Authorization"] == "Bearer t2" else 401)

    assert client(httpx.MockTransport(handler), [], Renewing()).request("GET", "x").status_code == 200
    assert seen == ["Bearer t1", "Bearer t2"]


@pytest.mark.parametrize(("status", "error"), [(403, SourceAuthError), (404, SourceError), (302, SourceError)])
def test_403_redirects_and_other_4xx_are_not_retried(status: int, error: type[SourceError]) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(status)
        return httpx.Response(status, headers={"Location": "https://elsewhere.example/"})

    with pytest.raises(error, match=str(status)):
        client(httpx.MockTransport(handler), []).request("GET", "x")
    assert calls == [status]


def test_links_resolve_under_the_base_and_never_to_another_host() -> None:
    http = client(httpx.MockTransport(lambda r: httpx.Response(200)), [])
    assert http.url("entries?from=1") == "https://owner.example/api/v2/entries?from=1"
    assert http.url("/api/v2/entries?start=2") == "https://owner.example/api/v2/entries?start=2"
    for link in ("https://evil.example/api/v2/entries", "//evil.example/x", "http://owner.example/api/v2/x"):
        with pytest.raises(SourceError, match="another host"):
            http.url(link)


def test_basic_auth_header() -> None:
    assert basic_auth("user", "pa:ss").headers() == {"Authorization": "Basic dXNlcjpwYTpzcw=="}
