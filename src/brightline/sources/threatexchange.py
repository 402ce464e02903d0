"""Meta ThreatExchange: hashes shared in privacy groups (collaborations), read through the Graph API.

Written from Meta's public ThreatExchange Graph API documentation. Each configured privacy
group is read through its delta feed, ``GET /{api_version}/{group}/threat_updates`` with
``start_time``/``stop_time`` (Unix seconds) and ``after`` cursors, authenticated by an app
access token in the ``access_token`` query parameter. A sync reads the window from the last
completed sync up to the time it started; the checkpoint after every page holds, per group, that
window and the cursor of the next page, so a sync killed after page k resumes at page k+1 of the
same window: nothing lost, nothing read twice. Records with ``should_delete`` become removals;
PDQ, MD5, video MD5 and SHA-256 descriptors become entries (other types are counted as skipped).

Feedback posts a reaction on the descriptor (``POST /{api_version}/{id}/reactions``) named by
``REACTIONS`` in ``threatexchange_parse``. Field names brightline was unsure of are listed there.
Assumptions not checked against a live server: ``start_time`` is inclusive and ``stop_time``
exclusive, and an update record's ``id`` is the descriptor id reactions are posted to.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Final, Self

import httpx

from brightline.errors import BrightlineError, ConfigurationError, SourceAuthError, SourceError
from brightline.sources.threatexchange_parse import (
    REACTIONS,
    SIGNAL_TYPES,
    GroupState,
    classify_failure,
    decode_checkpoint,
    encode_checkpoint,
    parse_page,
)
from brightline.sources.types import Feedback, SourceBatch, SourceConfig, SourceDescription

DEFAULT_BASE_URL: Final = "https://graph.facebook.com"
DEFAULT_API_VERSION: Final = "v21.0"
_VERSION = re.compile(r"v\d+\.\d+")

OPTIONS: Final[Mapping[str, str]] = {
    "privacy_groups": "comma-separated ids of the privacy groups (collaborations) to read (required)",
    "api_version": f"Graph API version in the path (default {DEFAULT_API_VERSION})",
    "base_url": f"Graph API root (default {DEFAULT_BASE_URL})",
    "page_size": "records per page (the Graph API 'limit'; default 500)",
    "max_retries": "retries of one request after a 5xx, a network error or a rate limit (default 5)",
    "max_wait": "longest wait in seconds for one retry; a longer Retry-After ends the sync (default 300)",
}


class ThreatExchangeSource:
    """Hashes from Meta ThreatExchange privacy groups, kept in sync through their delta feeds."""

    kind: ClassVar[str] = "threatexchange"

    def __init__(
        self,
        *,
        access_token: str,
        privacy_groups: tuple[str, ...],
        bank_map: Mapping[str, str] | None = None,
        api_version: str = DEFAULT_API_VERSION,
        base_url: str = DEFAULT_BASE_URL,
        page_size: int = 500,
        max_retries: int = 5,
        max_wait: float = 300.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._token = access_token
        self.privacy_groups = privacy_groups
        self._bank_map = dict(bank_map or {})
        self.api_version = api_version
        self._base_url = base_url.rstrip("/")
        self._page_size = page_size
        self._max_retries = max_retries
        self._max_wait = max_wait
        self._transport = transport
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def from_config(
        cls,
        config: SourceConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> Self:
        """Build the source from its stored configuration; ConfigurationError names what is wrong."""
        options = config.options
        token = config.credentials.get("access_token", "")
        if not token:
            raise ConfigurationError(f"source {config.name}: the access_token credential is missing")
        version = str(options.get("api_version", DEFAULT_API_VERSION))
        if not _VERSION.fullmatch(version):
            raise ConfigurationError(f"source {config.name}: api_version must look like v21.0")
        base_url = str(options.get("base_url", DEFAULT_BASE_URL))
        if not base_url.startswith("https://"):
            raise ConfigurationError(f"source {config.name}: base_url must be https (the token travels in it)")
        return cls(
            access_token=token,
            privacy_groups=_group_ids(config.name, options.get("privacy_groups")),
            bank_map=config.bank_map,
            api_version=version,
            base_url=base_url,
            page_size=_positive_int(config.name, options, "page_size", 500),
            max_retries=_positive_int(config.name, options, "max_retries", 5, minimum=0),
            max_wait=float(_positive_int(config.name, options, "max_wait", 300)),
            transport=transport,
            sleep=sleep,
            clock=clock,
        )

    def describe(self) -> SourceDescription:
        """What this source supplies and which credentials it needs."""
        return SourceDescription(
            kind=self.kind,
            summary="Meta ThreatExchange privacy groups (Graph API threat_updates delta feed)",
            signal_types=tuple(sorted(set(SIGNAL_TYPES.values()))),
            credentials=("access_token",),
            supports_feedback=True,
            options=dict(OPTIONS),
        )

    def fetch(self, checkpoint: str | None) -> Iterator[SourceBatch]:
        """One batch per threat_updates page, group after group, each with the checkpoint after it."""
        states = decode_checkpoint(checkpoint, self.privacy_groups)
        with self._client() as client:
            for group in self.privacy_groups:
                state = states[group]
                # An open window (a sync cut off mid-group) is finished first, with the same bounds.
                until = state.until if state.until is not None else max(int(self._clock()), state.since)
                after = state.after
                while True:
                    params: dict[str, str | int] = {"stop_time": until, "limit": self._page_size}
                    if state.since:
                        params["start_time"] = state.since
                    if after:
                        params["after"] = after
                    body = self._request(client, "GET", f"{group}/threat_updates", params=params)
                    try:
                        page = parse_page(body, group=group, bank=self._bank_map.get(group))
                    except BrightlineError as exc:
                        raise SourceError(f"threatexchange: {exc}") from exc
                    after = page.after
                    if after is None:
                        states[group] = GroupState(since=until)
                    else:
                        states[group] = GroupState(since=state.since, until=until, after=after)
                    yield SourceBatch(
                        upserts=page.upserts,
                        removals=page.removals,
                        checkpoint=encode_checkpoint(states),
                        malformed=len(page.problems),
                        problems=page.problems,
                    )
                    if after is None:
                        break

    def send_feedback(self, feedback: Feedback) -> None:
        """Post the reaction matching the reviewer's opinion on the descriptor."""
        if not feedback.remote_id.isdigit():
            raise SourceError(f"threatexchange: {feedback.remote_id!r} is not a descriptor id")
        reaction = REACTIONS[feedback.opinion]
        with self._client() as client:
            body = self._request(client, "POST", f"{feedback.remote_id}/reactions", data={"reaction": reaction})
        if isinstance(body, dict) and body.get("success") is False:
            raise SourceError(f"threatexchange: reaction {reaction} on {feedback.remote_id} was not accepted")

    # --- HTTP -----------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self._base_url}/{self.api_version}/", transport=self._transport, timeout=60)

    def _request(
        self,
        client: httpx.Client,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> Any:
        """The JSON body of a successful call, retrying 5xx, network errors and rate limits."""
        query = {**(params or {}), "access_token": self._token}
        failures = 0
        while True:
            retry_after: float | None = None
            try:
                response = client.request(method, path, params=query, data=data)
            except httpx.TransportError as exc:
                # The message of an httpx error may hold the URL, and the URL holds the token.
                problem = f"network error ({type(exc).__name__})"
            else:
                body = _json_or_none(response)
                failure = classify_failure(response.status_code, body)
                if failure is None and body is None:
                    problem = f"HTTP {response.status_code} without a JSON body"
                elif failure is None:
                    return body
                elif failure.kind == "auth":
                    raise SourceAuthError(f"threatexchange: {failure.message}")
                elif failure.kind == "fatal":
                    raise SourceError(f"threatexchange: {path.split('/')[-1]} failed: {failure.message}")
                else:
                    problem = failure.message
                    if failure.kind == "rate_limit":
                        retry_after = _retry_after(response.headers.get("Retry-After"))
            failures += 1
            if failures > self._max_retries:
                raise SourceError(f"threatexchange: giving up after {failures} tries: {problem}")
            wait = retry_after if retry_after is not None else min(2.0 ** (failures - 1), 60.0)
            if wait > self._max_wait:
                raise SourceError(f"threatexchange: {problem}; asked to wait {wait:.0f} s")
            self._sleep(wait)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _retry_after(header: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None if absent or odd."""
    if not header:
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _group_ids(source: str, raw: Any) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw if isinstance(raw, list | tuple) else []
    groups = tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
    if not groups:
        raise ConfigurationError(f"source {source}: option privacy_groups is required (comma-separated ids)")
    # Group ids go into URL paths: only Graph object ids (digits) are let through.
    bad = [group for group in groups if not group.isdigit()]
    if bad:
        raise ConfigurationError(f"source {source}: privacy group ids are numeric, not {bad[0]!r}")
    return groups


def _positive_int(source: str, options: Mapping[str, Any], name: str, default: int, *, minimum: int = 1) -> int:
    raw = options.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ConfigurationError(f"source {source}: option {name} must be a whole number") from None
    if value < minimum:
        raise ConfigurationError(f"source {source}: option {name} must be at least {minimum}")
    return value
