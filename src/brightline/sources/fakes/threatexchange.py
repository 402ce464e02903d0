"""A local ThreatExchange Graph API for tests: privacy groups, descriptors, the delta feed, reactions.

Use ``httpx.MockTransport(FakeThreatExchange().handle)``. It follows the documented behaviour
brightline relies on: ``/{version}/{group}/threat_updates`` pages ordered by update time with
opaque ``after`` cursors and a ``paging.next`` URL (which, as on the real service, carries the
access token) until the last page; Graph-style error bodies (``{"error": {"message", "type",
"code"}}``); code 190 ``OAuthException`` for a bad or expired token; ``POST /{id}/reactions``.
Failures are injected with ``fail_next`` and ``expire_token``; records no client could parse
with ``add_raw``. Time is a counter that moves one second per change, so tests need no clock.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx

VALID_REACTIONS = frozenset(
    {"HELPFUL", "NOT_HELPFUL", "OUTDATED", "SAW_THIS_TOO", "WANT_MORE_INFO", "DISAGREE_WITH_TAGS", "IN_REVIEW"}
)
_PATH = re.compile(r"/(v\d+\.\d+)/(\d+)(?:/(threat_updates|reactions))?/?")


@dataclass
class FakeDescriptor:
    """One descriptor as the fake stores it."""

    id: str
    privacy_group: str
    owner: str
    type: str
    value: str
    tags: list[str]
    added: int
    updated: int
    expired_at: int | None = None
    is_expired: bool = False
    deleted: bool = False

    def update_record(self) -> dict[str, Any]:
        """The descriptor as one threat_updates record."""
        return {
            "id": self.id,
            "indicator": self.value,
            "type": self.type,
            "creation_time": self.added,
            "last_updated": self.updated,
            "should_delete": self.deleted or self.is_expired,
            "tags": list(self.tags),
        }


@dataclass
class FakePrivacyGroup:
    """A privacy group (collaboration) and the descriptors shared in it."""

    id: str
    name: str
    raw: list[tuple[int, str, Any]] = field(default_factory=list)  # (updated, key, record) from add_raw


@dataclass
class _Failure:
    path: str
    status: int
    retry_after: float | None
    error_code: int | None
    body: str | None


class FakeThreatExchange:
    """Mutable in-memory ThreatExchange; ``handle`` is an httpx MockTransport handler."""

    # The default token is a made-up value for tests, not a secret.
    def __init__(self, token: str = "1234|app-secret", *, start: int = 1_700_000_000) -> None:  # noqa: S107
        self.token = token
        self.now = start  # the fake's clock: every change happens at ``now`` and moves it on
        self.groups: dict[str, FakePrivacyGroup] = {}
        self.descriptors: dict[str, FakeDescriptor] = {}
        self.reactions: list[tuple[str, str]] = []  # (descriptor id, reaction), as received
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, params less the token)
        self.token_expired = False
        self._failures: list[_Failure] = []
        self._ids = itertools.count(9_000_000_001)

    # --- state -------------------------------------------------------------------------------

    def _tick(self) -> int:
        self.now += 1
        return self.now - 1

    def add_group(self, group_id: str, name: str = "") -> FakePrivacyGroup:
        """Create a privacy group."""
        group = FakePrivacyGroup(group_id, name or f"group {group_id}")
        self.groups[group_id] = group
        return group

    def add_descriptor(
        self,
        group_id: str,
        value: str,
        *,
        indicator_type: str = "HASH_PDQ",
        tags: Iterable[str] = (),
        owner: str = "1001",
        descriptor_id: str | None = None,
    ) -> FakeDescriptor:
        """Share a new descriptor in a group."""
        when = self._tick()
        descriptor = FakeDescriptor(
            id=descriptor_id or str(next(self._ids)),
            privacy_group=group_id,
            owner=owner,
            type=indicator_type,
            value=value,
            tags=list(tags),
            added=when,
            updated=when,
        )
        self.descriptors[descriptor.id] = descriptor
        return descriptor

    def set_tags(self, descriptor_id: str, tags: Iterable[str]) -> None:
        """Retag a descriptor (an update the feed reports again)."""
        self.descriptors[descriptor_id].tags = list(tags)
        self.descriptors[descriptor_id].updated = self._tick()

    def expire(self, descriptor_id: str) -> None:
        """Let a descriptor expire: the feed then says ``should_delete``."""
        descriptor = self.descriptors[descriptor_id]
        descriptor.is_expired, descriptor.updated = True, self._tick()
        descriptor.expired_at = descriptor.updated

    def delete(self, descriptor_id: str) -> None:
        """Delete a descriptor: the feed then says ``should_delete``."""
        descriptor = self.descriptors[descriptor_id]
        descriptor.deleted, descriptor.updated = True, self._tick()

    def add_raw(self, group_id: str, record: Any) -> None:
        """Put any record (malformed on purpose, or a deletion of an id never shared) in a group's feed."""
        when = self._tick()
        self.groups[group_id].raw.append((when, f"raw-{when}", record))

    # --- failure injection ---------------------------------------------------------------------

    def fail_next(
        self,
        path: str,
        status: int,
        *,
        retry_after: float | None = None,
        error_code: int | None = None,
        body: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests whose path ends with ``path`` with this failure."""
        for _ in range(times):
            self._failures.append(_Failure(path, status, retry_after, error_code, body))

    def expire_token(self) -> None:
        """From now on the access token is refused as expired (app tokens cannot be refreshed)."""
        self.token_expired = True

    # --- HTTP ------------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one Graph API request."""
        params = {k: v[-1] for k, v in parse_qs(request.url.query.decode()).items()}
        form = {k: v[-1] for k, v in parse_qs(request.content.decode()).items()} if request.content else {}
        token = params.pop("access_token", None) or form.pop("access_token", None)
        self.requests.append((request.method, request.url.path, params))
        for failure in self._failures:
            if request.url.path.endswith(failure.path):
                self._failures.remove(failure)
                return self._failure(failure)
        if token != self.token:
            return _error(400, 190, "Invalid OAuth access token - Cannot parse access token", "OAuthException")
        if self.token_expired:
            return _error(400, 190, "Error validating access token: Session has expired", "OAuthException", 463)
        match = _PATH.fullmatch(request.url.path)
        if match is None:
            return _error(400, 2500, "Unknown path components", "OAuthException")
        version, object_id, edge = match.groups()
        if edge == "threat_updates" and request.method == "GET":
            return self._threat_updates(version, object_id, params)
        if edge == "reactions" and request.method == "POST":
            return self._react(object_id, form)
        return _error(400, 100, "Unsupported request", "GraphMethodException")

    def _failure(self, failure: _Failure) -> httpx.Response:
        headers = {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after is not None else {}
        if failure.body is not None:
            return httpx.Response(failure.status, headers=headers, content=failure.body.encode())
        default_code = 4 if failure.status == 429 else 2 if failure.status >= 500 else 100
        code = failure.error_code if failure.error_code is not None else default_code
        kind = "OAuthException" if code in (4, 17, 190) else "GraphMethodException"
        return _error(failure.status, code, "Injected failure", kind, headers=headers)

    def _threat_updates(self, version: str, group_id: str, params: dict[str, str]) -> httpx.Response:
        group = self.groups.get(group_id)
        if group is None:
            return _error(400, 100, f"Unsupported get request. Object with ID '{group_id}' does not exist")
        try:
            start = int(params.get("start_time", 0))
            stop = int(params.get("stop_time", 2**62))
            limit = min(max(int(params.get("limit", 25)), 1), 1000)
            after = _decode_cursor(params["after"]) if "after" in params else None
        except (ValueError, KeyError, TypeError):
            return _error(400, 100, "Invalid parameter")
        items = [(d.updated, d.id, d.update_record()) for d in self.descriptors.values() if d.privacy_group == group_id]
        items += group.raw
        window = sorted((item for item in items if start <= item[0] < stop), key=lambda item: item[:2])
        if after is not None:
            window = [item for item in window if item[:2] > after]
        page = window[:limit]
        body: dict[str, Any] = {"data": [record for _, _, record in page]}
        if page:
            body["paging"] = {"cursors": {"before": _cursor(page[0]), "after": _cursor(page[-1])}}
            if len(window) > limit:
                query = {**params, "access_token": self.token, "after": _cursor(page[-1])}
                body["paging"]["next"] = f"https://graph.facebook.com/{version}/{group_id}/threat_updates?" + urlencode(
                    query
                )
        return httpx.Response(200, json=body)

    def _react(self, descriptor_id: str, form: dict[str, str]) -> httpx.Response:
        if descriptor_id not in self.descriptors:
            return _error(400, 100, f"Object with ID '{descriptor_id}' does not exist")
        reaction = form.get("reaction", "")
        if reaction not in VALID_REACTIONS:
            return _error(400, 100, "(#100) Param reaction must be one of the reaction types")
        self.reactions.append((descriptor_id, reaction))
        return httpx.Response(200, json={"success": True})


def _cursor(item: tuple[int, str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps([item[0], item[1]]).encode()).decode()


def _decode_cursor(text: str) -> tuple[int, str]:
    when, key = json.loads(base64.urlsafe_b64decode(text.encode()))
    return int(when), str(key)


def _error(
    status: int,
    code: int,
    message: str,
    kind: str = "GraphMethodException",
    subcode: int | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEfFake"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return httpx.Response(status, headers=headers, json={"error": error})
